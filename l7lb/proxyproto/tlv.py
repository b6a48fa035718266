"""Version 2's type-length-value extensions on the wire (proxy-protocol.txt 2.2 - 2.2.7).

A TLV is a type byte, a 16-bit big-endian length and that many bytes of value. The TLVs fill
the header after the address block exactly: one that runs past the end is a malformed header,
not something to skip. The known types are checked where the specification gives them a
shape (``PP2_TYPE_SSL``'s layout, a 4-byte CRC32C, a unique id of at most 128 bytes, an
authority in UTF-8); the others are kept as they came.
"""

from __future__ import annotations

import struct

from l7lb.proxyproto.header import (
    MAX_UNIQUE_ID,
    PP2_CLIENT_SSL,
    PP2_SUBTYPE_SSL_CIPHER,
    PP2_SUBTYPE_SSL_VERSION,
    PP2_TYPE_AUTHORITY,
    PP2_TYPE_CRC32C,
    PP2_TYPE_SSL,
    PP2_TYPE_UNIQUE_ID,
    ProxyError,
    ProxyHeader,
    SslTlv,
    Tlv,
)

_SSL_FIXED = struct.Struct("!BI")  # client bits, verify result
_TLV_HEAD = struct.Struct("!BH")
MAX_VALUE = 0xFFFF


def parse_tlvs(data: bytes, what: str = "TLV") -> tuple[Tlv, ...]:
    """Every TLV in ``data``, which they must fill exactly."""
    tlvs = []
    pos = 0
    end = len(data)
    while pos < end:
        if end - pos < 3:
            raise ProxyError("v2_tlv", f"{end - pos} stray bytes where a {what} starts")
        kind, length = _TLV_HEAD.unpack_from(data, pos)
        pos += 3
        if pos + length > end:
            raise ProxyError(
                "v2_tlv", f"{what} type 0x{kind:02x} says {length} bytes, {end - pos} are left"
            )
        tlvs.append(Tlv(kind, data[pos : pos + length]))
        pos += length
    return tuple(tlvs)


def encode_tlvs(tlvs: tuple[Tlv, ...] | list[Tlv]) -> bytes:
    out = []
    for t in tlvs:
        if not 0 <= t.type <= 0xFF or len(t.value) > MAX_VALUE:
            raise ValueError(f"TLV type {t.type} with {len(t.value)} bytes does not fit")
        out.append(_TLV_HEAD.pack(t.type, len(t.value)) + t.value)
    return b"".join(out)


def parse_ssl(value: bytes) -> SslTlv:
    """The value of a ``PP2_TYPE_SSL`` TLV (2.2.6): client bits, verify, sub-TLVs."""
    if len(value) < _SSL_FIXED.size:
        raise ProxyError("v2_tlv", f"PP2_TYPE_SSL of {len(value)} bytes, under 5")
    client, verify = _SSL_FIXED.unpack_from(value)
    return SslTlv(client, verify, parse_tlvs(value[_SSL_FIXED.size :], "SSL sub-TLV"))


def encode_ssl(ssl: SslTlv) -> bytes:
    return _SSL_FIXED.pack(ssl.client, ssl.verify) + encode_tlvs(ssl.subs)


def ssl_tlv(version: str, cipher: str = "", *, verify: int = 1) -> Tlv:
    """``PP2_TYPE_SSL`` for a client that reached us over TLS. ``verify`` is non-zero unless
    the client presented a certificate that verified (2.2.6): l7lb asks for none."""
    subs = [Tlv(PP2_SUBTYPE_SSL_VERSION, version.encode("ascii"))]
    if cipher:
        subs.append(Tlv(PP2_SUBTYPE_SSL_CIPHER, cipher.encode("ascii")))
    return Tlv(PP2_TYPE_SSL, encode_ssl(SslTlv(PP2_CLIENT_SSL, verify, tuple(subs))))


def check_known(tlvs: tuple[Tlv, ...]) -> None:
    """Refuse a known TLV that does not have its specified shape."""
    for t in tlvs:
        kind = t.type
        if kind == PP2_TYPE_SSL:
            parse_ssl(t.value)
        elif kind == PP2_TYPE_CRC32C and len(t.value) != 4:
            raise ProxyError("v2_tlv", f"PP2_TYPE_CRC32C of {len(t.value)} bytes, not 4")
        elif kind == PP2_TYPE_UNIQUE_ID and len(t.value) > MAX_UNIQUE_ID:
            raise ProxyError("v2_tlv", f"PP2_TYPE_UNIQUE_ID of {len(t.value)} bytes, over 128")
        elif kind == PP2_TYPE_AUTHORITY:
            try:
                t.value.decode("utf-8")
            except UnicodeDecodeError:
                raise ProxyError("v2_tlv", "PP2_TYPE_AUTHORITY is not UTF-8") from None


def ssl_of(header: ProxyHeader) -> SslTlv | None:
    """The header's ``PP2_TYPE_SSL``, parsed; None without one."""
    value = header.tlv(PP2_TYPE_SSL)
    return None if value is None else parse_ssl(value)
