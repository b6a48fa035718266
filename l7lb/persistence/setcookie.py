"""Set-Cookie building and Cookie header parsing/editing (RFC 6265).

Headers are the codec's representation: a list of (lower-cased name bytes,
value bytes). Parsing is linear in the header size and tolerant the way
browsers and servers are (missing spaces, empty parts, quoted values), since a
persistence cookie that fails to parse only costs a rescheduling.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator

Headers = list[tuple[bytes, bytes]]

# RFC 6265 section 4.1.1: token for names, cookie-octet for values.
_TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_COOKIE_OCTET = frozenset(
    [0x21, *range(0x23, 0x2C), *range(0x2D, 0x3B), *range(0x3C, 0x5C), *range(0x5D, 0x7F)]
)
# Path and Domain attribute values: any CHAR except CTLs and ";".
_AV_OCTET = frozenset(c for c in range(0x20, 0x7F) if c != 0x3B)
_OWS = b" \t"


class SameSite(enum.Enum):
    STRICT = "Strict"
    LAX = "Lax"
    NONE = "None"


def _check(kind: str, text: bytes, allowed: frozenset[int], empty_ok: bool = False) -> None:
    if (not text and not empty_ok) or not allowed.issuperset(text):
        raise ValueError(f"invalid cookie {kind}: {text!r}")


class SetCookie:
    """A Set-Cookie header value with fixed attributes and a variable value.

    Everything but the value is validated and rendered once (per pool, at
    config load), so the per-response cost is two concatenations.
    """

    __slots__ = ("_head", "_tail", "name")

    def __init__(
        self,
        name: str,
        *,
        path: str | None = "/",
        domain: str | None = None,
        max_age: int | None = None,  # None: a session cookie
        secure: bool = False,
        httponly: bool = True,
        samesite: SameSite | None = None,
    ) -> None:
        raw_name = name.encode("ascii")
        _check("name", raw_name, _TCHAR)
        parts = [b""]
        if path is not None:
            raw = path.encode("ascii")
            _check("path", raw, _AV_OCTET)
            parts.append(b"Path=" + raw)
        if domain is not None:
            raw = domain.encode("ascii")
            _check("domain", raw, _AV_OCTET)
            parts.append(b"Domain=" + raw)
        if max_age is not None:
            if max_age < 0:
                raise ValueError("max_age must be >= 0")
            parts.append(b"Max-Age=%d" % max_age)
        if secure:
            parts.append(b"Secure")
        if httponly:
            parts.append(b"HttpOnly")
        if samesite is not None:
            # Browsers drop SameSite=None cookies that are not Secure.
            if samesite is SameSite.NONE and not secure:
                raise ValueError("SameSite=None requires Secure")
            parts.append(b"SameSite=" + samesite.value.encode("ascii"))
        self.name = raw_name
        self._head = raw_name + b"="
        self._tail = b"; ".join(parts) if len(parts) > 1 else b""

    def render(self, value: str | bytes) -> bytes:
        """The header value; ``value`` must be cookie-value-safe (not checked
        here: it comes from ``CookieCodec`` or a backend)."""
        if isinstance(value, str):
            value = value.encode("ascii")
        return self._head + value + self._tail


def build_set_cookie(
    name: str,
    value: str,
    *,
    path: str | None = "/",
    domain: str | None = None,
    max_age: int | None = None,
    secure: bool = False,
    httponly: bool = True,
    samesite: SameSite | None = None,
) -> bytes:
    """One-off Set-Cookie value; prefer a ``SetCookie`` kept per pool."""
    raw = value.encode("ascii")
    _check("value", raw, _COOKIE_OCTET, empty_ok=True)
    cookie = SetCookie(
        name,
        path=path,
        domain=domain,
        max_age=max_age,
        secure=secure,
        httponly=httponly,
        samesite=samesite,
    )
    return cookie.render(raw)


def _unquote(value: bytes) -> bytes:
    # RFC 6265 cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE )
    if len(value) >= 2 and value[0] == 0x22 and value[-1] == 0x22:
        return value[1:-1]
    return value


def iter_cookies(headers: Headers) -> Iterator[tuple[bytes, bytes]]:
    """Every (name, value) pair of every Cookie header, in order, values
    unquoted. Parts without "=" or with an empty name are skipped."""
    for hname, hvalue in headers:
        if hname != b"cookie":
            continue
        for part in hvalue.split(b";"):
            name, eq, value = part.partition(b"=")
            if not eq:
                continue
            name = name.strip(_OWS)
            if name:
                yield name, _unquote(value.strip(_OWS))


def _named(value: bytes, i: int, j: int, name: bytes) -> int:
    """Where the value of the cookie part ``value[i:j]`` (leading OWS already skipped)
    starts, just past its "=", when the part's name is ``name``; -1 otherwise.

    The part's name is what comes before its first "=", OWS around it ignored; ``name`` is
    a token (the configuration checks it), so holds no "=" or OWS itself."""
    m = len(name)
    if j - i <= m:
        return -1
    for k in range(m):
        if value[i + k] != name[k]:
            return -1
    e = i + m
    while e < j and (value[e] == 32 or value[e] == 9):
        e += 1
    if e < j and value[e] == 61:  # "="
        return e + 1
    return -1


def _trimmed(part: bytes) -> tuple[int, int]:
    """The bounds of ``part`` without OWS around it."""
    n = len(part)
    i = 0
    while i < n and (part[i] == 32 or part[i] == 9):
        i += 1
    while n > i and (part[n - 1] == 32 or part[n - 1] == 9):
        n -= 1
    return i, n


def _value(part: bytes, v: int, e: int) -> bytes:
    """The cookie value in ``part[v:e]`` (``e``: the end of the part without trailing OWS),
    without leading OWS or surrounding quotes."""
    while v < e and (part[v] == 32 or part[v] == 9):
        v += 1
    return _unquote(part[v:e])


def get_cookie(headers: Headers, name: bytes) -> bytes | None:
    """The value of the first cookie called ``name`` (exact, case-sensitive
    match, as browsers send names back byte for byte), or None."""
    for hname, hvalue in headers:
        # The substring search runs in C and skips the split for headers that
        # cannot hold the cookie (find, not "in": bytes' "in" takes a buffer
        # view of its operand and costs twice as much)
        if hname != b"cookie" or hvalue.find(name) < 0:
            continue
        # split runs in C; each part is then looked at only at its ends and its name
        # (no partition or strip call per part)
        for part in hvalue.split(b";"):
            i, e = _trimmed(part)
            v = _named(part, i, e, name)
            if v >= 0:
                return _value(part, v, e)
    return None


def strip_cookie(value: bytes, name: bytes) -> bytes:
    """A Cookie header value without the cookies called ``name``; the same
    object when there is none. Otherwise the other cookies, each without OWS
    around it and empty parts dropped, joined by "; "."""
    if value.find(name) < 0:
        return value
    return split_cookie(value, name)[1]


def split_cookie(value: bytes, name: bytes) -> tuple[bytes | None, bytes]:
    """One Cookie header value taken apart in one walk: the value of its first cookie
    called ``name`` (as ``get_cookie``; None when there is none) and the header without
    the cookies of that name (as ``strip_cookie``: ``value`` itself when there is none)."""
    found: bytes | None = None
    kept: list[bytes] = []
    for part in value.split(b";"):
        i, e = _trimmed(part)
        if e == i:
            continue
        v = _named(part, i, e, name)
        if v < 0:
            kept.append(part if i == 0 and e == len(part) else part[i:e])
        elif found is None:  # a later one of the same name is only stripped
            found = _value(part, v, e)
    if found is None:
        return None, value
    return found, b"; ".join(kept)


def remove_cookie(headers: Headers, name: bytes) -> Headers:
    """``headers`` with the cookie ``name`` removed from every Cookie header
    (the ``indirect`` mode: the backend never sees it). A Cookie header left
    empty is dropped. Returns ``headers`` itself when nothing changes, so the
    common case allocates nothing."""
    return rewrite_cookie_headers(headers, lambda value: strip_cookie(value, name))


def rewrite_cookie_headers(headers: Headers, rewrite: Callable[[bytes], bytes]) -> Headers:
    """``headers`` with each Cookie header's value replaced by ``rewrite(value)``; a Cookie
    header rewritten to b"" is dropped, every other field is kept as it is (an empty value
    is valid, RFC 9110 5.5). ``rewrite`` returns its argument itself for "no change": then
    ``headers`` itself comes back, so the common case allocates nothing."""
    out: Headers | None = None
    for i, (hname, hvalue) in enumerate(headers):
        new = rewrite(hvalue) if hname == b"cookie" else hvalue
        if out is None:
            if new is hvalue:
                continue
            out = headers[:i]
        if new or hname != b"cookie":
            out.append((hname, new))
    return headers if out is None else out


def make_private(headers: Headers) -> Headers:
    """Response headers that keep shared caches from storing the response
    (the ``nocache`` mode: a cached Set-Cookie would stick every client of a
    proxy cache to one server). Adds ``cache-control: private``; an existing
    Cache-Control loses ``public`` and ``s-maxage`` (which would let a shared
    cache store it anyway) and gains ``private``, unless it already says
    ``private`` or ``no-store``."""
    found = False
    out: Headers = []
    for hname, hvalue in headers:
        if hname == b"cache-control":
            found = True
            hvalue = privatized(hvalue)
        out.append((hname, hvalue))
    if not found:
        out.append((b"cache-control", b"private"))
    return out


def privatized(value: bytes) -> bytes:
    """A Cache-Control value that keeps shared caches out: without ``public`` and
    ``s-maxage``, with ``private`` (the value itself when it says private or no-store)."""
    directives = [d.strip(_OWS) for d in value.split(b",")]
    names = [d.partition(b"=")[0].rstrip(_OWS).lower() for d in directives]
    if b"private" in names or b"no-store" in names:
        return value
    kept = [
        d for d, n in zip(directives, names, strict=True) if d and n not in (b"public", b"s-maxage")
    ]
    kept.append(b"private")
    return b", ".join(kept)
