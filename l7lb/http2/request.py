"""An HTTP/2 request's fields as the HTTP/1.1 request head the exchange forwards.

RFC 9113 section 8 makes a request "malformed" (a stream error of type PROTOCOL_ERROR,
``StreamError`` here) when its fields break the rules of HTTP/2 itself:

* a field name with an uppercase letter or a character a token may not hold; a value with
  NUL, CR, LF (or another control character HTTP/1.1 refuses) or leading/trailing blanks;
* pseudo-header fields after a regular field, unknown, repeated or missing (``:method``,
  ``:scheme``, ``:path`` on every request but CONNECT), an empty ``:path`` or one that is
  neither origin-form nor ``*``, an empty ``:authority`` or one with userinfo;
* connection-specific fields (``connection``, ``keep-alive``, ``proxy-connection``,
  ``transfer-encoding``, ``upgrade``) and ``te`` other than ``trailers``;
* ``:authority`` and ``host`` naming different hosts.

What passes is mapped (8.3.1: ``:authority`` is the Host; 8.2.3: split ``cookie`` fields
are joined with "; ") and handed to the same ``framing.request_head`` every HTTP/1.1 head
goes through, so a stream reaches the backend only as a request the HTTP/1.1 side would
forward too; what that refuses is a ``ProtocolError`` with the status to answer (400, 414,
431, 501), as on HTTP/1.1. The body framing toward the backend: Content-Length when the
client gave one (the connection checks the DATA against it), chunked when the stream has a
body without one, none when HEADERS ended the stream.
"""

from __future__ import annotations

from typing import Final

from l7lb.http.events import Framing, Limits, ProtocolError, RequestHead
from l7lb.http.framing import request_head as http1_request_head

Headers = list[tuple[bytes, bytes]]

VERSION: Final = b"2.0"

_METHOD: Final = b":method"
_SCHEME: Final = b":scheme"
_AUTHORITY: Final = b":authority"
_PATH: Final = b":path"
_HOST: Final = b"host"
_COOKIE: Final = b"cookie"
_TE: Final = b"te"
_CONNECTION_SPECIFIC: Final = frozenset(
    (b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade")
)
_SCHEMES: Final = frozenset((b"http", b"https"))
# RFC 9110 5.6.2 tchar without the uppercase letters (RFC 9113 8.2.1)
_NAME_CHARS: Final = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
# what l7lb.http.framing refuses in a value (controls but HTAB, and DEL); blanks at either
# end are refused too (RFC 9113 8.2.1)
_BAD_VALUE_CHARS: Final = bytes([*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F])


def _bad_value(value: bytes) -> bool:
    n = len(value)
    if not n:
        return False
    first = value[0]
    last = value[n - 1]
    if first == 32 or first == 9 or last == 32 or last == 9:  # ints: no tuple built
        return True
    return len(value.translate(None, _BAD_VALUE_CHARS)) != n


# Fields found well-formed already (a client sends the same ones on every request, mostly
# from its HPACK table): the checks of a known field are one set lookup. Bounded: hostile
# values fill it once, then are checked every time.
_CHECKED: Final[set[tuple[bytes, bytes]]] = set()
_CHECKED_MAX: Final = 4096


class StreamError(Exception):
    """A malformed request: reset the stream with ``code`` (RST_STREAM)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


_PROTOCOL_ERROR: Final = 0x1


def _malformed(reason: str) -> StreamError:
    return StreamError(_PROTOCOL_ERROR, reason)


def request_head(fields: Headers, end_stream: bool, limits: Limits) -> RequestHead:
    """The request head of a stream whose header block decoded to ``fields``
    (``end_stream``: HEADERS carried END_STREAM). Raises StreamError or ProtocolError."""
    method = scheme = authority = path = b""
    seen_method = seen_scheme = seen_authority = seen_path = False
    regular = False
    headers: Headers = []
    hosts: list[bytes] | None = None
    cookies: list[bytes] | None = None
    cookie_at = -1
    checked = _CHECKED
    for field in fields:
        name, value = field
        if name[:1] == b":":
            if regular:
                raise _malformed("pseudo-header field after a regular field")
            if name == _METHOD:
                if seen_method:
                    raise _malformed("repeated :method")
                seen_method = True
                method = value
            elif name == _PATH:
                if seen_path:
                    raise _malformed("repeated :path")
                seen_path = True
                path = value
            elif name == _SCHEME:
                if seen_scheme:
                    raise _malformed("repeated :scheme")
                seen_scheme = True
                scheme = value
            elif name == _AUTHORITY:
                if seen_authority:
                    raise _malformed("repeated :authority")
                seen_authority = True
                authority = value
            else:
                raise _malformed("unknown pseudo-header field")
            if _bad_value(value):
                raise _malformed("invalid character in a pseudo-header field")
            continue
        regular = True
        if field not in checked:
            if not name or name.translate(None, _NAME_CHARS):
                raise _malformed("uppercase or invalid character in a field name")
            if _bad_value(value):
                raise _malformed("invalid character in a field value")
            if len(checked) < _CHECKED_MAX:
                checked.add(field)
        if name in _CONNECTION_SPECIFIC:
            raise _malformed("connection-specific field")
        if name == _TE:
            if value.lower() != b"trailers":
                raise _malformed("te other than trailers")
        elif name == _HOST:
            if hosts is None:
                hosts = [value]
            else:
                hosts.append(value)
            if seen_authority:
                continue  # :authority is sent as Host
        elif name == _COOKIE:
            # RFC 9113 8.2.3: crumbs are joined into one field before HTTP/1.1
            if cookies is None:
                cookies = [value]
                cookie_at = len(headers)
                headers.append((_COOKIE, value))
            else:
                cookies.append(value)
            continue
        headers.append(field)

    if not seen_method or not method:
        raise _malformed("missing :method")
    if method == b"CONNECT":
        raise ProtocolError(501, "CONNECT not supported")
    if not seen_scheme or not seen_path:
        raise _malformed("missing :scheme or :path")
    if scheme not in _SCHEMES:
        raise _malformed("unsupported :scheme")
    if not path or (path[:1] != b"/" and path != b"*"):
        raise _malformed("invalid :path")
    if seen_authority:
        if not authority:
            raise _malformed("empty :authority")
        if b"@" in authority:
            raise _malformed("userinfo in :authority")
        if hosts is not None:
            lower = authority.lower()
            for host in hosts:
                if host.lower() != lower:
                    raise _malformed(":authority and host differ")
        headers.insert(0, (_HOST, authority))
        if cookie_at >= 0:
            cookie_at += 1
    if cookies is not None and len(cookies) > 1:
        headers[cookie_at] = (_COOKIE, b"; ".join(cookies))
    head = http1_request_head(method, path, b"1.1", headers, limits)
    if end_stream and head.content_length > 0:
        raise _malformed("content-length larger than the DATA received")
    if head.framing is Framing.NONE and not end_stream:
        # a body without Content-Length: chunked toward the backend
        head.framing = Framing.CHUNKED
    head.version = VERSION
    return head
