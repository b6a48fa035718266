"""Operator-managed session-ticket keys: the ``[store] ticket_key_file`` format.

An operator who does not want ticket keys in the shared store (they are kept there in
clear) gives every director the same small file and rotates it by hand, as with HAProxy's
``tls-ticket-keys`` or nginx's ``ssl_session_ticket_key``. This module reads that file into a
``TicketKeyRing``; ``l7lb check`` (through ``l7lb.store.settings``) and the supervisor both
use it, so a file that does not follow the format is reported before any director starts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from l7lb.tls.ticketkeys import SECRET_LEN, TicketKey, TicketKeyRing

_FILE_KEY_SIZES = (SECRET_LEN, 48, 80)  # ours, nginx's 48 bytes, HAProxy's / nginx's 80 bytes
_MAX_FILE = 64 * 1024


class TicketKeyFileError(ValueError):
    """A ticket key file that does not follow the documented format."""


def load_ticket_key_file(path: str) -> TicketKeyRing:
    """Operator-managed ticket keys (``[store] ticket_key_file``).

    Format: text, one key per line, base64 (standard or URL-safe) of 32 random
    bytes (``openssl rand -base64 32``); blank lines and lines starting with
    ``#`` are ignored. Lines are oldest first, as in HAProxy's
    ``tls-ticket-keys``: the last line is ``next`` (decrypts only), the one
    before it is ``current`` (encrypts), the one before that ``previous``
    (decrypts only); older lines are ignored. One line: that key encrypts and
    decrypts. Lines of 48 or 80 bytes (files made for nginx / HAProxy) are
    accepted and reduced to 32 bytes with SHA-256; tickets are still l7lb's
    own format, not interchangeable with theirs.

    To rotate, append a fresh line and drop the first on every director, then
    reload: a director that reloads later still decrypts (its ``next`` is the
    others' ``current``). ``created`` is the file's modification time.
    """
    with open(path, "rb") as handle:
        data = handle.read(_MAX_FILE + 1)
        mtime = os.fstat(handle.fileno()).st_mtime
    if len(data) > _MAX_FILE:
        raise TicketKeyFileError(f"larger than {_MAX_FILE} bytes")
    secrets: list[bytes] = []
    for number, raw_line in enumerate(data.splitlines(), 1):
        line = raw_line.strip()
        if not line or line.startswith(b"#"):
            continue
        try:
            key = base64.b64decode(line.replace(b"-", b"+").replace(b"_", b"/"), validate=True)
        except (binascii.Error, ValueError):
            raise TicketKeyFileError(f"line {number} is not base64") from None
        if len(key) not in _FILE_KEY_SIZES:
            raise TicketKeyFileError(
                f"line {number} decodes to {len(key)} bytes, expected 32 (or 48 / 80)"
            )
        if len(key) != SECRET_LEN:
            key = hashlib.sha256(b"l7lb ticket key file\x00" + key).digest()
        secrets.append(key)
    if not secrets:
        raise TicketKeyFileError("holds no key")
    if len(set(secrets)) != len(secrets):
        raise TicketKeyFileError("holds the same key twice")
    keys = [TicketKey(s, mtime) for s in secrets[-3:]]
    if len(keys) == 1:
        return TicketKeyRing(current=keys[0], next=keys[0], rotated_at=mtime)
    if len(keys) == 2:
        return TicketKeyRing(current=keys[0], next=keys[1], rotated_at=mtime)
    return TicketKeyRing(current=keys[1], next=keys[2], previous=keys[0], rotated_at=mtime)
