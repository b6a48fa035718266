"""The ``prefix`` mode: ride on the application's own session cookie.

Toward the client, the backend's ``Set-Cookie: JSESSIONID=abc`` becomes
``JSESSIONID=<server-id>~abc``; on the way back, ``JSESSIONID=<server-id>~abc``
yields the server id and the backend again sees ``JSESSIONID=abc``. No cookie
of l7lb's own is added, so the stickiness lives exactly as long as the
application session. Server ids come from ``CookieCodec.server_id``; resolve
them with ``CookieCodec.server_for_id``.

The prefix identifies but does not authenticate: a client may swap it for the
id of another server *of the same pool* that it has already been given (ids
are keyed hashes it cannot compute). Use ``insert`` when that matters.
"""

from __future__ import annotations

import re

from l7lb.persistence.cookie import SERVER_ID_LEN
from l7lb.persistence.setcookie import Headers

SEPARATOR = b"~"  # a cookie-octet that base64url ids never contain
_PREFIXED = re.compile(rb"([A-Za-z0-9_-]{%d})~" % SERVER_ID_LEN)
_OWS = b" \t"


def prefix_set_cookie(value: bytes, name: bytes, server_id: str) -> bytes:
    """A backend Set-Cookie value with ``server_id~`` put before the value of
    cookie ``name``; other cookies, and deletions (empty values), unchanged."""
    pair, semi, attrs = value.partition(b";")
    cname, eq, cvalue = pair.partition(b"=")
    if not eq or cname.strip(_OWS) != name:
        return value
    cvalue = cvalue.strip(_OWS)
    quoted = len(cvalue) >= 2 and cvalue[0] == 0x22 and cvalue[-1] == 0x22
    inner = cvalue[1:-1] if quoted else cvalue
    if not inner:
        return value
    inner = server_id.encode("ascii") + SEPARATOR + inner
    if quoted:
        inner = b'"' + inner + b'"'
    return name + b"=" + inner + semi + attrs


def prefix_response(headers: Headers, name: bytes, server_id: str) -> Headers:
    """Response headers with every Set-Cookie for ``name`` prefixed."""
    return [
        (h, prefix_set_cookie(v, name, server_id) if h == b"set-cookie" else v) for h, v in headers
    ]


def strip_prefix(value: bytes, name: bytes) -> tuple[str | None, bytes]:
    """Split a Cookie header value: the server id of the first prefixed
    ``name`` cookie (None if there is none), and the value with the prefix
    removed from every ``name`` cookie. Unchanged bytes when nothing to do."""
    if name not in value or SEPARATOR not in value:
        return None, value
    server_id: str | None = None
    changed = False
    parts = []
    for part in value.split(b";"):
        stripped = part.strip(_OWS)
        if not stripped:
            continue
        pname, eq, pvalue = stripped.partition(b"=")
        if eq and pname.rstrip(_OWS) == name:
            pvalue = pvalue.lstrip(_OWS)
            quote = b'"' if pvalue[:1] == b'"' else b""
            m = _PREFIXED.match(pvalue, len(quote))
            if m is not None:
                if server_id is None:
                    server_id = m.group(1).decode("ascii")
                stripped = name + b"=" + quote + pvalue[m.end() :]
                changed = True
        parts.append(stripped)
    return server_id, (b"; ".join(parts) if changed else value)


def unprefix_request(headers: Headers, name: bytes) -> tuple[str | None, Headers]:
    """The server id carried by cookie ``name`` across all Cookie headers
    (the first wins) and the headers the backend should see."""
    server_id: str | None = None
    out: Headers | None = None
    for i, (hname, hvalue) in enumerate(headers):
        if hname == b"cookie":
            sid, new = strip_prefix(hvalue, name)
            if server_id is None:
                server_id = sid
        else:
            new = hvalue
        if out is None:
            if new is hvalue:
                continue
            out = headers[:i]
        out.append((hname, new))
    return server_id, (headers if out is None else out)
