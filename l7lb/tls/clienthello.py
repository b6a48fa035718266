"""Sans-IO parser for the TLS ClientHello, read before the handshake starts.

The listener reads the first bytes of a new connection itself (then hands
them to OpenSSL unchanged) and parses them here to learn the SNI name, the
legacy session id and the TLS 1.3 PSK identities. It needs them *before*
OpenSSL does because OpenSSL's get-session callback is synchronous: the
session must already be in the process-local cache when the handshake asks
for it (see DESIGN.md).

Record layer: the handshake message may be split over several consecutive
handshake records (RFC 8446 §5.1 allows it; real clients send one record, but a
post-quantum key share can exceed 16 KiB one day). We reassemble up to
``MAX_HELLO`` bytes. Everything else about the input is hostile: every length
is bounds-checked and the only exception that leaves this module is
``ClientHelloError``.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Final

# A ClientHello bigger than this is refused; OpenSSL's own limit for the
# message is similar (SSL3_RT_MAX_PLAIN_LENGTH plus extensions).
MAX_HELLO: Final = 64 * 1024

CONTENT_HANDSHAKE: Final = 0x16
HANDSHAKE_CLIENT_HELLO: Final = 0x01

EXT_SERVER_NAME: Final = 0
EXT_ALPN: Final = 16
EXT_SESSION_TICKET: Final = 35
EXT_PRE_SHARED_KEY: Final = 41
EXT_SUPPORTED_VERSIONS: Final = 43

TLS1_3 = 0x0304


class ClientHelloError(ValueError):
    """The bytes are not a well-formed TLS ClientHello."""


class NeedMore(enum.Enum):
    """More bytes are needed before the ClientHello can be parsed."""

    NEED_MORE = "need more"


NEED_MORE: Final = NeedMore.NEED_MORE


@dataclass(slots=True, init=False)
class ClientHello:
    legacy_version: int
    session_id: bytes  # legacy_session_id; random in TLS 1.3 "middlebox compat" mode
    server_name: str | None  # lower-cased host name from SNI, or None
    alpn: tuple[bytes, ...]
    supported_versions: tuple[int, ...]  # empty when the extension is absent
    psk_identities: tuple[bytes, ...]  # TLS 1.3 pre_shared_key identities
    session_ticket: bytes | None  # TLS 1.2 SessionTicket extension (b"" = asks for one)

    # Written out rather than generated: mypyc compiles this one, while the
    # dataclass-made __init__ (of a frozen class at that) ran as Python on every
    # TLS connection. Treat instances as read-only.
    def __init__(
        self,
        legacy_version: int,
        session_id: bytes,
        server_name: str | None,
        alpn: tuple[bytes, ...],
        supported_versions: tuple[int, ...],
        psk_identities: tuple[bytes, ...],
        session_ticket: bytes | None,
    ) -> None:
        self.legacy_version = legacy_version
        self.session_id = session_id
        self.server_name = server_name
        self.alpn = alpn
        self.supported_versions = supported_versions
        self.psk_identities = psk_identities
        self.session_ticket = session_ticket

    @property
    def offers_tls13(self) -> bool:
        return TLS1_3 in self.supported_versions


# Speed: this runs once per accepted TLS connection, on the handshake's CPU. It
# works on one bytes object with plain index arithmetic: no cursor objects, no
# per-field calls, and error strings are only built when an error is raised.
# tests/tls/clienthello_reference.py keeps the earlier cursor-based parser, and
# a property test checks that both give the same result or the same error.

# Bytes allowed in a host_name: letters, digits, hyphen, dot, underscore.
_HOST_CHARS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._"


def _handshake_bytes(data: bytes) -> tuple[bytes, int, int] | NeedMore:
    """Locate the first handshake message: ``(buffer, start, end)`` of its body.

    The common case (the whole message in the first record) is returned in
    place, without a copy; a message split over records is reassembled.
    """
    n = len(data)
    if n < 5:
        return NEED_MORE
    if data[0] != CONTENT_HANDSHAKE:
        raise ClientHelloError("not a TLS handshake record")
    if data[1] != 3:
        raise ClientHelloError("bad record version")
    length = (data[3] << 8) | data[4]
    # RFC 8446 §5.1: handshake records are never empty; 2^14 plaintext max.
    if length == 0 or length > 16384:
        raise ClientHelloError("bad record length")
    if n - 5 >= length >= 4:  # the first record is all there
        needed = _check_handshake_header(data[5:9])
        if needed <= length:
            return data, 9, 5 + needed  # the whole message sits in the first record
    return _reassemble(data)


def _reassemble(data: bytes) -> tuple[bytes, int, int] | NeedMore:
    """The general case: the message spans records, or is not all there yet."""
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
            return bytes(body[:needed]), 4, needed


def _check_handshake_header(body: bytes | bytearray) -> int:
    if body[0] != HANDSHAKE_CLIENT_HELLO:
        raise ClientHelloError("first handshake message is not a ClientHello")
    length = (body[1] << 16) | (body[2] << 8) | body[3]
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
    if msg is NEED_MORE:
        return NEED_MORE
    assert not isinstance(msg, NeedMore)
    try:
        return _parse_body(*msg)
    except ClientHelloError:
        raise
    except Exception as exc:  # pragma: no cover - defence in depth
        raise ClientHelloError(f"malformed ClientHello: {exc!r}") from None


def _parse_body(d: bytes, p: int, end: int) -> ClientHello:
    # end - p >= 38 (``_check_handshake_header``): version, random and the
    # session id length byte are there.
    legacy_version = (d[p] << 8) | d[p + 1]
    sid_len = d[p + 34]
    p += 35
    if sid_len > 32:
        raise ClientHelloError("session id longer than 32 bytes")
    if p + sid_len > end:
        raise ClientHelloError("truncated session id")
    session_id = d[p : p + sid_len]
    p += sid_len
    if p + 2 > end:
        raise ClientHelloError("truncated cipher suites")
    n = (d[p] << 8) | d[p + 1]
    p += 2 + n
    if p > end:
        raise ClientHelloError("cipher suites overruns its container")
    if n == 0 or n & 1:
        raise ClientHelloError("bad cipher suites length")
    if p >= end:
        raise ClientHelloError("truncated compression methods")
    n = d[p]
    p += 1 + n
    if p > end:
        raise ClientHelloError("compression methods overruns its container")
    if n == 0:
        raise ClientHelloError("no compression methods")

    server_name: str | None = None
    alpn: tuple[bytes, ...] = ()
    versions: tuple[int, ...] = ()
    psk: tuple[bytes, ...] = ()
    ticket: bytes | None = None
    if p < end:
        if p + 2 > end:
            raise ClientHelloError("truncated extensions")
        n = (d[p] << 8) | d[p + 1]
        p += 2
        if p + n > end:
            raise ClientHelloError("extensions overruns its container")
        if p + n < end:
            raise ClientHelloError("trailing bytes after extensions")
        seen: set[int] = set()
        while p < end:
            if p + 4 > end:
                if p + 2 > end:
                    raise ClientHelloError("truncated extension type")
                raise ClientHelloError("truncated extension body")
            ext_type = (d[p] << 8) | d[p + 1]
            n = (d[p + 2] << 8) | d[p + 3]
            p += 4
            b_end = p + n
            if b_end > end:
                raise ClientHelloError("extension body overruns its container")
            if ext_type in seen:  # RFC 8446 §4.2: at most one of each
                raise ClientHelloError(f"duplicate extension {ext_type}")
            seen.add(ext_type)
            if ext_type == EXT_SERVER_NAME:
                server_name = _parse_sni(d, p, b_end)
            elif ext_type == EXT_ALPN:
                alpn = _parse_alpn(d, p, b_end)
            elif ext_type == EXT_SUPPORTED_VERSIONS:
                versions = _parse_versions(d, p, b_end)
            elif ext_type == EXT_PRE_SHARED_KEY:
                # RFC 8446 §4.2.11: pre_shared_key must be the last extension.
                if b_end < end:
                    raise ClientHelloError("pre_shared_key is not the last extension")
                psk = _parse_psk(d, p, b_end)
            elif ext_type == EXT_SESSION_TICKET:
                ticket = d[p:b_end]
            p = b_end
    return ClientHello(legacy_version, session_id, server_name, alpn, versions, psk, ticket)


def parse_sni_extension(body: bytes) -> str | None:
    """The host name in a raw server_name extension body (as OpenSSL hands it over)."""
    raw = bytes(body)
    return _parse_sni(raw, 0, len(raw))


def _parse_sni(d: bytes, p: int, end: int) -> str | None:
    if p + 2 > end:
        raise ClientHelloError("truncated server name list")
    n_end = p + 2 + ((d[p] << 8) | d[p + 1])
    p += 2
    if n_end > end:
        raise ClientHelloError("server name list overruns its container")
    if n_end < end:
        raise ClientHelloError("trailing bytes in server_name")
    host: str | None = None
    while p < n_end:
        name_type = d[p]
        if p + 3 > n_end:
            raise ClientHelloError("truncated server name")
        q = p + 3 + ((d[p + 1] << 8) | d[p + 2])
        if q > n_end:
            raise ClientHelloError("server name overruns its container")
        if name_type == 0:  # unknown name types are skipped (RFC 6066 §3)
            if host is not None:
                raise ClientHelloError("more than one host_name in server_name")
            host = _check_host_name(d[p + 3 : q])
        p = q
    return host


def _check_host_name(raw: bytes) -> str:
    if not raw or len(raw) > 255:
        raise ClientHelloError("bad host_name length")
    if raw[-1] == 0x2E:  # "."
        raise ClientHelloError("host_name has a trailing dot")  # RFC 6066 §3
    # letters, digits, hyphen, dot, underscore; no NUL, spaces or 8-bit bytes
    if raw.translate(None, _HOST_CHARS):
        raise ClientHelloError("host_name has a character outside [A-Za-z0-9._-]")
    return raw.decode("ascii").lower()


def _parse_alpn(d: bytes, p: int, end: int) -> tuple[bytes, ...]:
    if p + 2 > end:
        raise ClientHelloError("truncated ALPN list")
    l_end = p + 2 + ((d[p] << 8) | d[p + 1])
    p += 2
    if l_end > end:
        raise ClientHelloError("ALPN list overruns its container")
    if l_end < end:
        raise ClientHelloError("trailing bytes in ALPN")
    out = []
    while p < l_end:
        q = p + 1 + d[p]
        if q > l_end:
            raise ClientHelloError("ALPN protocol overruns its container")
        if q == p + 1:
            raise ClientHelloError("empty ALPN protocol name")
        out.append(d[p + 1 : q])
        p = q
    if not out:
        raise ClientHelloError("empty ALPN list")
    return tuple(out)


def _parse_versions(d: bytes, p: int, end: int) -> tuple[int, ...]:
    if p >= end:
        raise ClientHelloError("truncated supported_versions")
    n = d[p]
    p += 1
    if p + n > end:
        raise ClientHelloError("supported_versions overruns its container")
    if p + n < end or n == 0 or n & 1:
        raise ClientHelloError("bad supported_versions")
    return struct.unpack_from(f"!{n >> 1}H", d, p)


def _parse_psk(d: bytes, p: int, end: int) -> tuple[bytes, ...]:
    if p + 2 > end:
        raise ClientHelloError("truncated PSK identities")
    i_end = p + 2 + ((d[p] << 8) | d[p + 1])
    p += 2
    if i_end > end:
        raise ClientHelloError("PSK identities overruns its container")
    out = []
    while p < i_end:
        if p + 2 > i_end:
            raise ClientHelloError("truncated PSK identity")
        q = p + 2 + ((d[p] << 8) | d[p + 1])
        if q > i_end:
            raise ClientHelloError("PSK identity overruns its container")
        if q == p + 2:
            raise ClientHelloError("empty PSK identity")
        out.append(d[p + 2 : q])
        p = q + 4
        if p > i_end:
            raise ClientHelloError("truncated obfuscated ticket age")
    if not out:
        raise ClientHelloError("no PSK identities")
    p = i_end  # the binders, not checked here: OpenSSL verifies them
    if p + 2 > end:
        raise ClientHelloError("truncated PSK binders")
    p += 2 + ((d[p] << 8) | d[p + 1])
    if p > end:
        raise ClientHelloError("PSK binders overruns its container")
    if p < end:
        raise ClientHelloError("trailing bytes in pre_shared_key")
    return tuple(out)


# Methods nginx and HAProxy see in practice on a TLS port; the token rule below
# also admits extension methods (WebDAV and friends).
_METHOD_CHARS: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ-_")


def looks_like_http(data: bytes) -> bool:
    """True if ``data`` starts like a plain HTTP/1.x request line.

    Used on a TLS port to answer a readable 400 in clear text, as nginx does,
    rather than a TLS alert the client cannot read. Needs the method and the
    space after it (at most 21 bytes); a shorter prefix returns False.
    """
    head = bytes(data[:21])
    space = head.find(b" ")
    if space < 3:
        return False
    method = head[:space]
    return all(b in _METHOD_CHARS for b in method) and method[0] in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
