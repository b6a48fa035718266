"""Header rewriting between the client and the backend, and head serialisation.

Sans-IO: header lists in, header lists (or bytes) out. Names are lower-cased
bytes (the codec contract in ``l7lb.http.events``) and stay lower-case on the
wire: field names are case-insensitive (RFC 9110 5.1).

What the proxy owns and these functions therefore never pass through:

- hop-by-hop fields (RFC 9110 7.6.1): ``HOP_BY_HOP`` plus every field the
  Connection header names; a client must not be able to strip or smuggle a
  header past the proxy by listing it in Connection;
- framing (``Content-Length``, ``Transfer-Encoding``): the proxy re-frames the
  decoded body it forwards and adds its own framing and ``Connection`` header.
  The one exception is an upgrade (WebSocket), where ``Upgrade`` is kept and
  ``Connection: upgrade`` emitted here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from l7lb.config.model import Address
from l7lb.http.fields import FRAMING, HOP_BY_HOP, NOT_EXTRA

Headers = list[tuple[bytes, bytes]]

# Request fields that leave the ordinary copy loop: dropped, or rebuilt below.
# X-Forwarded-Proto/-Host are overwritten: whatever the client sent is a claim
# an attacker controls (a spoofed "https" would defeat a backend's https check).
_REQUEST_SPECIAL: Final = (
    HOP_BY_HOP
    | FRAMING
    | {b"host", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"via", b"forwarded"}
)
_RESPONSE_SPECIAL: Final = (
    HOP_BY_HOP | FRAMING | {b"via", b"location", b"content-location", b"refresh"}
)

# RFC 9110 5.6.2 tchar, for deciding whether a Forwarded value needs quoting.
_TCHAR: Final = frozenset(
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)


# Clients and servers send a handful of distinct Connection values ("keep-alive",
# "close", "Upgrade"): remember their parse. Bounded so hostile values cannot grow it.
_EXTRA_CACHE: Final[dict[bytes, frozenset[bytes]]] = {}
_EXTRA_CACHE_MAX: Final = 64


def _connection_extra(values: list[bytes]) -> frozenset[bytes]:
    """Field names listed in Connection beyond the ones always dropped."""
    if len(values) == 1:
        cached = _EXTRA_CACHE.get(values[0])
        if cached is not None:
            return cached
    extra: set[bytes] = set()
    for value in values:
        for token in value.split(b","):
            token = token.strip().lower()
            if token and token not in NOT_EXTRA:
                extra.add(token)
    result = frozenset(extra)
    if len(values) == 1 and len(_EXTRA_CACHE) < _EXTRA_CACHE_MAX:
        _EXTRA_CACHE[values[0]] = result
    return result


# A connection's address is encoded for every request it makes: remember the last few
# thousand (the str is the connection's own object, whose hash is cached).
_ASCII: Final[dict[str, bytes]] = {}
_ASCII_MAX: Final = 4096


def _ascii(text: str) -> bytes:
    raw = _ASCII.get(text)
    if raw is None:
        raw = text.encode("ascii")
        if len(_ASCII) >= _ASCII_MAX:
            _ASCII.clear()
        _ASCII[text] = raw
    return raw


def _forwarded_value(value: bytes) -> bytes:
    """A token, or a quoted-string when it has other characters (RFC 7239 4)."""
    if value and all(c in _TCHAR for c in value):
        return value
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _forwarded_node(client_ip: str) -> bytes:
    if not client_ip:
        return b"unknown"  # RFC 7239 6.2: not an IP (a Unix socket peer)
    if ":" in client_ip:
        return b'"[' + client_ip.encode("ascii") + b']"'  # RFC 7239 6: IPv6 in brackets, quoted
    return client_ip.encode("ascii")


def backend_request_headers(
    headers: Headers,
    *,
    client_ip: str,
    scheme: bytes,
    host: bytes,
    via: bytes,
    forwarded: bool,
    upgrade: bool,
    version: bytes = b"1.1",
    server_host: bytes = b"",
) -> Headers:
    """The fields to send to the backend for a client request.

    ``host``: the host the client asked for (``request_host``): sent as the
    one Host field (RFC 9112 3.2.2: an absolute-form target's authority
    replaces the received Host) and as X-Forwarded-Host. ``via``: the proxy's
    pseudonym (b"" = no Via). ``version``: the client's HTTP version, for Via.
    ``server_host``: the realserver's own ``host:port``, sent as Host when the
    client sent none (an HTTP/1.0 request): the backend gets HTTP/1.1, where a
    request without Host is a 400 (RFC 9112 3.2), as nginx's ``$proxy_host``.
    The framing fields and ``Connection`` are the caller's to add.
    """
    sent_host = host or server_host
    out: Headers = [(b"host", sent_host)] if sent_host else []
    xff: list[bytes] = []
    via_chain: list[bytes] = []
    fwd_chain: list[bytes] = []
    connection: list[bytes] = []
    for item in headers:
        name = item[0]
        if name not in _REQUEST_SPECIAL:
            out.append(item)
        elif name == b"x-forwarded-for":
            if item[1]:
                xff.append(item[1])
        elif name == b"via":
            via_chain.append(item[1])
        elif name == b"forwarded":
            fwd_chain.append(item[1])
        elif name == b"connection":
            connection.append(item[1])
        elif name == b"upgrade" and upgrade:
            out.append(item)
        # anything else special is dropped: hop-by-hop, framing, host, x-forwarded-proto/-host

    if connection:
        extra = _connection_extra(connection)
        if extra:
            out = [h for h in out if h[0] not in extra]
            if b"x-forwarded-for" in extra:
                xff = []
            if b"via" in extra:
                via_chain = []
            if b"forwarded" in extra:
                fwd_chain = []

    out += forward_additions(
        xff,
        via_chain,
        fwd_chain,
        client_ip=client_ip,
        scheme=scheme,
        host=host,
        via=via,
        forwarded=forwarded,
        upgrade=upgrade,
        version=version,
    )
    return out


def forward_additions(
    xff: list[bytes],
    via_chain: list[bytes],
    fwd_chain: list[bytes],
    *,
    client_ip: str,
    scheme: bytes,
    host: bytes,
    via: bytes,
    forwarded: bool,
    upgrade: bool,
    version: bytes,
) -> Headers:
    """The forwarding fields the proxy adds to a request: the client's own X-Forwarded-For,
    Via and Forwarded values (``xff``, ``via_chain``, ``fwd_chain``) extended with this hop,
    the scheme and host it was asked for, and ``Connection: upgrade`` for an upgrade."""
    out: Headers = []
    if client_ip:
        xff.append(_ascii(client_ip))
    if xff:
        out.append((b"x-forwarded-for", xff[0] if len(xff) == 1 else b", ".join(xff)))
    out.append((b"x-forwarded-proto", scheme))
    if host:
        out.append((b"x-forwarded-host", host))
    if forwarded:
        element = b"for=" + _forwarded_node(client_ip) + b";proto=" + scheme
        if host:
            element += b";host=" + _forwarded_value(host)
        fwd_chain.append(element)
    if fwd_chain:
        out.append((b"forwarded", b", ".join(fwd_chain)))
    if via:
        via_chain.append(version + b" " + via)
    if via_chain:
        out.append((b"via", via_chain[0] if len(via_chain) == 1 else b", ".join(via_chain)))
    if upgrade:
        out.append((b"connection", b"upgrade"))
    return out


def server_authorities(addresses: Iterable[Address]) -> frozenset[bytes]:
    """The ``host:port`` forms (lower-case, IPv6 bracketed) a pool's servers
    may put in their redirects; build once per pool for ``LocationRewriter``."""
    return frozenset(str(a).lower().encode() for a in addresses)


_DEFAULT_PORT: Final = {b"http": b"80", b"https": b"443"}


def _authority_key(authority: bytes, default_port: bytes) -> bytes:
    """``host:port`` with the scheme's default port made explicit."""
    at = authority.rfind(b"@")
    if at != -1:
        authority = authority[at + 1 :]
    authority = authority.lower()
    if authority[:1] == b"[":
        close = authority.find(b"]")
        if close == -1:
            return authority
        host, port = authority[: close + 1], authority[close + 2 :]
    else:
        host, _, port = authority.partition(b":")
    return host + b":" + (port or default_port)


class LocationRewriter:
    """Points a realserver's redirects back at the VIP.

    A realserver that does not know the public name answers "GET /dir" with
    "Location: http://10.0.0.5:8080/dir/" and the client then tries to reach
    the realserver directly (LVS-HOWTO 20.7.1, "/" terminated urls). When the
    URL's authority is one of ``server_authorities`` (``host:port``; a URL
    without a port means its scheme's default), the scheme and authority are
    replaced with ``scheme://host``: the scheme the client used and the Host
    it sent. Relative URLs and other hosts are left alone. Cheap to build (it
    only keeps references), so one per request is fine.
    """

    __slots__ = ("_prefix", "host", "scheme", "server_authorities")

    def __init__(self, server_authorities: frozenset[bytes], scheme: bytes, host: bytes) -> None:
        self.server_authorities = server_authorities
        self.scheme = scheme
        self.host = host
        self._prefix = scheme + b"://" + host

    def rewrite_url(self, url: bytes) -> bytes:
        """``url`` rewritten, or the very same object when it is not ours."""
        if url[:2] == b"//":
            # network-path reference: inherits the scheme the client used
            start, default_port, prefix = (
                2,
                _DEFAULT_PORT.get(self.scheme, b"80"),
                b"//" + self.host,
            )
        else:
            sep = url.find(b"://", 0, 8)
            if sep <= 0:
                return url
            default = _DEFAULT_PORT.get(url[:sep].lower())
            if default is None:
                return url
            start, default_port, prefix = sep + 3, default, self._prefix
        end = len(url)
        for stop in (b"/", b"?", b"#"):
            i = url.find(stop, start, end)
            if i != -1:
                end = i
        if _authority_key(url[start:end], default_port) not in self.server_authorities:
            return url
        return prefix + url[end:]

    def rewrite_refresh(self, value: bytes) -> bytes:
        """The URL inside a Refresh value ("5; url=http://rs:8080/x")."""
        n = len(value)
        i = 0
        while i < n and value[i] in b"0123456789. \t":
            i += 1
        if i == n or value[i] not in b";,":
            return value
        i += 1
        while i < n and value[i] in b" \t":
            i += 1
        if value[i : i + 3].lower() == b"url":
            j = i + 3
            while j < n and value[j] in b" \t":
                j += 1
            if j < n and value[j] == 0x3D:  # "="
                i = j + 1
                while i < n and value[i] in b" \t":
                    i += 1
        end = n
        if i < n and value[i] in b"\"'":
            close = value.find(value[i : i + 1], i + 1)
            i += 1
            end = close if close != -1 else n
        url = value[i:end]
        new = self.rewrite_url(url)
        if new is url:
            return value
        return value[:i] + new + value[end:]


def client_response_headers(
    headers: Headers,
    *,
    via: bytes,
    rewrite: LocationRewriter | None,
    version: bytes = b"1.1",
    upgrade: bool = False,
) -> Headers:
    """The fields to send to the client for a backend response.

    ``version``: the backend's HTTP version, for Via. ``upgrade``: a 101
    Switching Protocols being relayed (keeps Upgrade, emits Connection:
    upgrade). Framing and ``Connection`` are otherwise the caller's to add.
    """
    out: Headers = []
    via_chain: list[bytes] = []
    connection: list[bytes] = []
    for item in headers:
        name = item[0]
        if name not in _RESPONSE_SPECIAL:
            out.append(item)
        elif name == b"location" or name == b"content-location":
            if rewrite is not None:
                new = rewrite.rewrite_url(item[1])
                if new is not item[1]:
                    item = (name, new)
            out.append(item)
        elif name == b"refresh":
            if rewrite is not None:
                new = rewrite.rewrite_refresh(item[1])
                if new is not item[1]:
                    item = (name, new)
            out.append(item)
        elif name == b"via":
            via_chain.append(item[1])
        elif name == b"connection":
            connection.append(item[1])
        elif name == b"upgrade" and upgrade:
            out.append(item)

    if connection:
        extra = _connection_extra(connection)
        if extra:
            out = [h for h in out if h[0] not in extra]
            if b"via" in extra:
                via_chain = []
    if via:
        via_chain.append(version + b" " + via)
    if via_chain:
        out.append((b"via", b", ".join(via_chain)))
    if upgrade:
        out.append((b"connection", b"upgrade"))
    return out


def serialize_request_head(method: bytes, target: bytes, headers: Headers) -> bytes:
    """An HTTP/1.1 request head (request line, fields, blank line)."""
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


_STATUS: Final = {code: b"%d" % code for code in range(100, 600)}


def serialize_response_head(
    version_for_client: bytes, status: int, reason: bytes, headers: Headers
) -> bytes:
    """A response head; ``version_for_client`` is b"1.1" or b"1.0" (no
    "HTTP/"). An empty reason still gets its separating space (RFC 9112 4)."""
    code = _STATUS.get(status) or b"%d" % status
    parts = [b"HTTP/", version_for_client, b" ", code, b" ", reason, b"\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)
