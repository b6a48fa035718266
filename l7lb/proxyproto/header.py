"""A PROXY header as values: what both formats decode to and encode from.

Version 1 (text) can say TCP over IPv4 or IPv6, or UNKNOWN; version 2 (binary) adds the LOCAL
command, UDP and Unix sockets, and type-length-value extensions (TLVs) such as the TLS facts
of the client's connection (``PP2_TYPE_SSL``) and the server name it asked for
(``PP2_TYPE_AUTHORITY``). Section numbers below are those of proxy-protocol.txt.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

# 2.2: the 12-byte signature of version 2, which no HTTP, TLS, SMTP... parser accepts
V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX: Final = b"PROXY "
# 2.1: the longest version 1 line, CRLF included ("PROXY UNKNOWN" + two IPv6 addresses)
V1_MAX_LINE: Final = 107
V2_FIXED: Final = 16  # signature, version/command, family/transport, length
UNIX_PATH_SIZE: Final = 108  # 2.2: each AF_UNIX address field

# 2.2.1 - 2.2.7: TLV types
PP2_TYPE_ALPN: Final = 0x01
PP2_TYPE_AUTHORITY: Final = 0x02
PP2_TYPE_CRC32C: Final = 0x03
PP2_TYPE_NOOP: Final = 0x04
PP2_TYPE_UNIQUE_ID: Final = 0x05
PP2_TYPE_SSL: Final = 0x20
PP2_SUBTYPE_SSL_VERSION: Final = 0x21
PP2_SUBTYPE_SSL_CN: Final = 0x22
PP2_SUBTYPE_SSL_CIPHER: Final = 0x23
PP2_SUBTYPE_SSL_SIG_ALG: Final = 0x24
PP2_SUBTYPE_SSL_KEY_ALG: Final = 0x25
PP2_TYPE_NETNS: Final = 0x30
# 2.2.6: the <client> bits of PP2_TYPE_SSL
PP2_CLIENT_SSL: Final = 0x01
PP2_CLIENT_CERT_CONN: Final = 0x02
PP2_CLIENT_CERT_SESS: Final = 0x04
MAX_UNIQUE_ID: Final = 128  # 2.2.5


class Command(enum.IntEnum):
    """2.2, the low nibble of the 13th byte (version 1 always means PROXY)."""

    LOCAL = 0  # the proxy's own connection (a health check): use the real endpoints
    PROXY = 1  # relayed for a client: the header's addresses are the connection's


class Family(enum.IntEnum):
    """2.2, the high nibble of the 14th byte."""

    UNSPEC = 0
    INET = 1
    INET6 = 2
    UNIX = 3


class Transport(enum.IntEnum):
    """2.2, the low nibble of the 14th byte."""

    UNSPEC = 0
    STREAM = 1
    DGRAM = 2


class ProxyError(ValueError):
    """A header that is not one: ``reason`` is a short stable word for counters and logs
    (``not_proxy``, ``v1_too_long``, ``v1_syntax``, ``v1_address``, ``v1_port``,
    ``v2_version``, ``v2_command``, ``v2_family``, ``v2_length``, ``v2_tlv``,
    ``v2_checksum``), ``detail`` says what was seen."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Tlv:
    """One type-length-value extension of a version 2 header (2.2)."""

    type: int  # 0..255
    value: bytes  # at most 65535 bytes


@dataclass(frozen=True, slots=True)
class SslTlv:
    """The value of ``PP2_TYPE_SSL`` (2.2.6): how the client reached the proxy over TLS."""

    client: int  # PP2_CLIENT_* bits
    verify: int  # 0: the client presented a certificate and it verified; else non-zero
    subs: tuple[Tlv, ...] = ()  # PP2_SUBTYPE_SSL_* (version, cipher, CN...)

    def sub(self, kind: int) -> bytes | None:
        for t in self.subs:
            if t.type == kind:
                return t.value
        return None

    @property
    def version(self) -> str | None:
        """``PP2_SUBTYPE_SSL_VERSION``, e.g. ``"TLSv1.3"``."""
        value = self.sub(PP2_SUBTYPE_SSL_VERSION)
        return None if value is None else value.decode("ascii", "replace")

    @property
    def cipher(self) -> str | None:
        value = self.sub(PP2_SUBTYPE_SSL_CIPHER)
        return None if value is None else value.decode("ascii", "replace")


IpPort = tuple[str, int]  # an IP address in canonical text (ipaddress' str) and a port


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """One decoded (or to be encoded) header.

    ``source`` and ``destination`` are set for the INET and INET6 families (TCP or UDP),
    ``unix_paths`` for UNIX; the UNSPEC family, the LOCAL command and version 1's UNKNOWN
    carry no address (the connection's own endpoints stand). ``tlvs`` are version 2's
    extensions in wire order, CRC32C included when one was received."""

    version: int  # 1 or 2
    command: Command = Command.PROXY
    family: Family = Family.UNSPEC
    transport: Transport = Transport.UNSPEC
    source: IpPort | None = None
    destination: IpPort | None = None
    unix_paths: tuple[bytes, bytes] | None = None  # source, destination (NULs stripped)
    tlvs: tuple[Tlv, ...] = ()

    def tlv(self, kind: int) -> bytes | None:
        """The value of the first TLV of type ``kind``, or None."""
        for t in self.tlvs:
            if t.type == kind:
                return t.value
        return None

    @property
    def relayed(self) -> bool:
        """The header names the client's TCP endpoints: use them instead of the socket's.
        False for LOCAL, UNKNOWN, UNSPEC, UDP and Unix sockets (2.2: a receiver falls back
        to the real endpoints for what it does not support)."""
        return (
            self.command is Command.PROXY
            and self.transport is Transport.STREAM
            and self.source is not None
            and self.destination is not None
        )

    @property
    def authority(self) -> str | None:
        """``PP2_TYPE_AUTHORITY``: the host name the client asked for (its TLS SNI)."""
        value = self.tlv(PP2_TYPE_AUTHORITY)
        return None if value is None else value.decode("utf-8")
