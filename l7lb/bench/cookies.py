"""A minimal per-client cookie jar: enough of RFC 6265 to carry persistence cookies.

Domain and Path are ignored (every request goes to one origin); Max-Age and Expires are honoured
only to delete a cookie, which is how servers clear one. Sans-IO: the caller passes the clock.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime


def parse_set_cookie(value: str, now: float) -> tuple[str, str, bool] | None:
    """Return (name, value, expired) for a Set-Cookie header value, or None if malformed."""
    first, _, attributes = value.partition(";")
    name, sep, cookie_value = first.partition("=")
    name = name.strip()
    if not sep or not name:
        return None
    expired = False
    for attribute in attributes.split(";"):
        key, _, arg = attribute.partition("=")
        key = key.strip().lower()
        if key == "max-age":
            try:
                expired = int(arg.strip()) <= 0
            except ValueError:
                continue
            # RFC 6265 5.3 step 3: Max-Age wins over Expires, so stop looking.
            break
        if key == "expires":
            try:
                expired = parsedate_to_datetime(arg.strip()).timestamp() <= now
            except (TypeError, ValueError):
                continue
    return name, cookie_value.strip().strip('"'), expired


class CookieJar:
    """Cookies of one virtual client, in the order they were first set."""

    __slots__ = ("cookies", "header")

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}
        # The Cookie header value is cached: it only changes when a Set-Cookie arrives.
        self.header = ""

    def set_cookie(self, value: str, now: float) -> str | None:
        """Apply one Set-Cookie value; return the cookie name it set or cleared."""
        parsed = parse_set_cookie(value, now)
        if parsed is None:
            return None
        name, cookie_value, expired = parsed
        if expired:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = cookie_value
        self.header = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return name

    def get(self, name: str) -> str | None:
        return self.cookies.get(name)
