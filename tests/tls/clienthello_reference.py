"""REFERENCE COPY for tests only: l7lb's ClientHello parser as it was before the
lean rewrite (a bounds-checked cursor object, one method call per field).

``test_clienthello_reference.py`` checks that ``l7lb.tls.clienthello`` gives the
same result, or the same error message, on the same bytes. Do not import this
from l7lb. What the parser is for: the docstring of ``l7lb.tls.clienthello``.
"""

from __future__ import annotations

# The types and constants are shared with l7lb's parser: only the parsing is the reference.
from l7lb.tls.clienthello import (
    CONTENT_HANDSHAKE,
    EXT_ALPN,
    EXT_PRE_SHARED_KEY,
    EXT_SERVER_NAME,
    EXT_SESSION_TICKET,
    EXT_SUPPORTED_VERSIONS,
    HANDSHAKE_CLIENT_HELLO,
    MAX_HELLO,
    NEED_MORE,
    ClientHello,
    ClientHelloError,
    NeedMore,
)

__all__ = [
    "NEED_MORE",
    "ClientHello",
    "ClientHelloError",
    "parse_client_hello",
    "parse_sni_extension",
]


class _Reader:
    """Bounds-checked cursor over a bytes object."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise ClientHelloError(f"truncated {what}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "big")

    def u24(self, what: str) -> int:
        return int.from_bytes(self.take(3, what), "big")

    def sub(self, n: int, what: str) -> _Reader:
        """A reader over the next ``n`` bytes; the parent skips past them."""
        if n < 0 or self.pos + n > self.end:
            raise ClientHelloError(f"{what} overruns its container")
        child = _Reader(self.data, self.pos, self.pos + n)
        self.pos += n
        return child

    def vector(self, len_bytes: int, what: str) -> _Reader:
        n = self.u8(what) if len_bytes == 1 else self.u16(what)
        return self.sub(n, what)


def _handshake_bytes(data: bytes) -> bytes | NeedMore:
    """Reassemble the first handshake message from the record layer."""
    pos = 0
    body = bytearray()
    needed: int | None = None  # total handshake message length, header included
    while True:
        if len(data) - pos < 5:
            return NEED_MORE
        content_type = data[pos]
        if content_type != CONTENT_HANDSHAKE:
            if pos == 0:
                raise ClientHelloError("not a TLS handshake record")
            raise ClientHelloError("ClientHello interrupted by a non-handshake record")
        if data[pos + 1] != 3:
            raise ClientHelloError("bad record version")
        length = int.from_bytes(data[pos + 3 : pos + 5], "big")
        # RFC 8446 §5.1: handshake records are never empty; 2^14 plaintext max.
        if length == 0 or length > 16384:
            raise ClientHelloError("bad record length")
        if len(data) - pos - 5 < length:
            # Take what is there so the header checks below fail early on garbage.
            body += data[pos + 5 :]
            if needed is None and len(body) >= 4:
                _check_handshake_header(body)
            return NEED_MORE
        body += data[pos + 5 : pos + 5 + length]
        pos += 5 + length
        if needed is None and len(body) >= 4:
            needed = _check_handshake_header(body)
        if needed is not None and len(body) >= needed:
            return bytes(body[:needed])


def _check_handshake_header(body: bytes | bytearray) -> int:
    if body[0] != HANDSHAKE_CLIENT_HELLO:
        raise ClientHelloError("first handshake message is not a ClientHello")
    length = int.from_bytes(body[1:4], "big")
    if length > MAX_HELLO:
        raise ClientHelloError("ClientHello too large")
    if length < 38:  # version + random + session id length byte + ...
        raise ClientHelloError("ClientHello too short")
    return 4 + length


def parse_client_hello(data: bytes) -> ClientHello | NeedMore:
    """Parse the ClientHello at the start of ``data`` (record layer included).

    Returns ``NEED_MORE`` if ``data`` is a valid but incomplete prefix, raises
    ``ClientHelloError`` if it can never become a valid ClientHello.
    """
    try:
        msg = _handshake_bytes(bytes(data))
    except ClientHelloError:
        raise
    except Exception as exc:  # pragma: no cover - defence in depth
        raise ClientHelloError(f"malformed record: {exc!r}") from None
    if isinstance(msg, NeedMore):
        return msg
    try:
        return _parse_body(_Reader(msg, 4))
    except ClientHelloError:
        raise
    except Exception as exc:  # pragma: no cover - defence in depth
        raise ClientHelloError(f"malformed ClientHello: {exc!r}") from None


def _parse_body(r: _Reader) -> ClientHello:
    legacy_version = r.u16("client_version")
    r.take(32, "random")
    sid_len = r.u8("session id length")
    if sid_len > 32:
        raise ClientHelloError("session id longer than 32 bytes")
    session_id = r.take(sid_len, "session id")
    suites = r.vector(2, "cipher suites")
    if suites.remaining() == 0 or suites.remaining() % 2:
        raise ClientHelloError("bad cipher suites length")
    compression = r.vector(1, "compression methods")
    if compression.remaining() == 0:
        raise ClientHelloError("no compression methods")

    server_name: str | None = None
    alpn: tuple[bytes, ...] = ()
    versions: tuple[int, ...] = ()
    psk: tuple[bytes, ...] = ()
    ticket: bytes | None = None
    if r.remaining():
        exts = r.vector(2, "extensions")
        if r.remaining():
            raise ClientHelloError("trailing bytes after extensions")
        seen: set[int] = set()
        while exts.remaining():
            ext_type = exts.u16("extension type")
            body = exts.vector(2, "extension body")
            if ext_type in seen:  # RFC 8446 §4.2: at most one of each
                raise ClientHelloError(f"duplicate extension {ext_type}")
            seen.add(ext_type)
            if ext_type == EXT_SERVER_NAME:
                server_name = _parse_sni(body)
            elif ext_type == EXT_ALPN:
                alpn = _parse_alpn(body)
            elif ext_type == EXT_SUPPORTED_VERSIONS:
                versions = _parse_versions(body)
            elif ext_type == EXT_PRE_SHARED_KEY:
                # RFC 8446 §4.2.11: pre_shared_key must be the last extension.
                if exts.remaining():
                    raise ClientHelloError("pre_shared_key is not the last extension")
                psk = _parse_psk(body)
            elif ext_type == EXT_SESSION_TICKET:
                ticket = body.take(body.remaining(), "session ticket")
    return ClientHello(legacy_version, session_id, server_name, alpn, versions, psk, ticket)


def parse_sni_extension(body: bytes) -> str | None:
    """The host name in a raw server_name extension body (as OpenSSL hands it over)."""
    return _parse_sni(_Reader(bytes(body)))


def _parse_sni(body: _Reader) -> str | None:
    names = body.vector(2, "server name list")
    if body.remaining():
        raise ClientHelloError("trailing bytes in server_name")
    host: str | None = None
    while names.remaining():
        name_type = names.u8("server name type")
        name = names.vector(2, "server name")
        raw = name.take(name.remaining(), "server name")
        if name_type != 0:
            continue  # unknown name types are skipped (RFC 6066 §3)
        if host is not None:
            raise ClientHelloError("more than one host_name in server_name")
        host = _check_host_name(raw)
    return host


def _check_host_name(raw: bytes) -> str:
    if not raw or len(raw) > 255:
        raise ClientHelloError("bad host_name length")
    if raw.endswith(b"."):
        raise ClientHelloError("host_name has a trailing dot")  # RFC 6066 §3
    for b in raw:
        # letters, digits, hyphen, dot, underscore; no NUL, spaces or 8-bit bytes
        if not (0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A or b in b"-._"):
            raise ClientHelloError("host_name has a character outside [A-Za-z0-9._-]")
    return raw.decode("ascii").lower()


def _parse_alpn(body: _Reader) -> tuple[bytes, ...]:
    lst = body.vector(2, "ALPN list")
    if body.remaining():
        raise ClientHelloError("trailing bytes in ALPN")
    out = []
    while lst.remaining():
        proto = lst.vector(1, "ALPN protocol")
        if proto.remaining() == 0:
            raise ClientHelloError("empty ALPN protocol name")
        out.append(proto.take(proto.remaining(), "ALPN protocol"))
    if not out:
        raise ClientHelloError("empty ALPN list")
    return tuple(out)


def _parse_versions(body: _Reader) -> tuple[int, ...]:
    lst = body.vector(1, "supported_versions")
    if body.remaining() or lst.remaining() == 0 or lst.remaining() % 2:
        raise ClientHelloError("bad supported_versions")
    out = []
    while lst.remaining():
        out.append(lst.u16("version"))
    return tuple(out)


def _parse_psk(body: _Reader) -> tuple[bytes, ...]:
    identities = body.vector(2, "PSK identities")
    out = []
    while identities.remaining():
        ident = identities.vector(2, "PSK identity")
        if ident.remaining() == 0:
            raise ClientHelloError("empty PSK identity")
        out.append(ident.take(ident.remaining(), "PSK identity"))
        identities.take(4, "obfuscated ticket age")
    if not out:
        raise ClientHelloError("no PSK identities")
    body.vector(2, "PSK binders")  # not checked here: OpenSSL verifies them
    if body.remaining():
        raise ClientHelloError("trailing bytes in pre_shared_key")
    return tuple(out)
