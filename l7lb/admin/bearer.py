"""The bearer token rule of the admin HTTP listener's actions (RFC 6750).

Reading is open; an action needs ``Authorization: Bearer TOKEN`` with the
token from ``[admin] token_file``. The comparison takes the same time
wherever the first wrong byte is (``hmac.compare_digest``), so the token
cannot be guessed byte by byte from response times.
"""

from __future__ import annotations

import enum
import hmac


class Verdict(enum.Enum):
    ALLOWED = "allowed"
    MISSING = "missing"  # no usable Authorization header: 401
    WRONG = "wrong"  # a token, not ours: 403
    DISABLED = "disabled"  # no token_file configured: every action is refused, 403


def check_bearer(authorization: bytes | None, token: bytes) -> Verdict:
    """Judge one request's ``Authorization`` value against ``token`` (b"" = none set)."""
    if not token:
        return Verdict.DISABLED
    if authorization is None:
        return Verdict.MISSING
    scheme, _, given = authorization.strip().partition(b" ")
    if scheme.lower() != b"bearer":  # the scheme is case-insensitive (RFC 9110 11.1)
        return Verdict.MISSING
    if hmac.compare_digest(given.strip(), token):
        return Verdict.ALLOWED
    return Verdict.WRONG
