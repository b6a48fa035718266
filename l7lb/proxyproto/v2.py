"""Version 2: a binary header (proxy-protocol.txt 2.2).

    12 bytes   signature  0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A
    1 byte     version (high nibble, must be 2) and command (LOCAL 0, PROXY 1)
    1 byte     family (UNSPEC 0, INET 1, INET6 2, UNIX 3) and transport (UNSPEC 0,
               STREAM 1, DGRAM 2)
    2 bytes    length of what follows, big-endian
    ...        addresses (INET 12 bytes, INET6 36, UNIX 216), then TLVs to the end

A LOCAL header is accepted whatever its family and its block discarded: the connection's
own endpoints stand (the proxy's health checks). A PROXY header with the UNSPEC family
(0x00) carries no address, only TLVs; one with the UNSPEC family or transport beside a
known one (0x10, say) is a combination l7lb does not support: its block is skipped unread.
A length too short for the family's addresses, TLVs that do not fill the block exactly, a
known TLV of the wrong shape, or a CRC32C that does not match are refused.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Final

from l7lb.proxyproto.crc32c import crc32c
from l7lb.proxyproto.header import (
    PP2_TYPE_CRC32C,
    UNIX_PATH_SIZE,
    V2_FIXED,
    V2_SIGNATURE,
    Command,
    Family,
    ProxyError,
    ProxyHeader,
    Tlv,
    Transport,
)
from l7lb.proxyproto.tlv import check_known, encode_tlvs, parse_tlvs

_FIXED: Final = struct.Struct("!12sBBH")
_PORTS: Final = struct.Struct("!HH")
ADDRESS_SIZE: Final = {Family.INET: 12, Family.INET6: 36, Family.UNIX: 2 * UNIX_PATH_SIZE}
_IP_SIZE: Final = {Family.INET: 4, Family.INET6: 16}
MAX_LENGTH: Final = 0xFFFF


def decode_v2(buf: bytes) -> tuple[ProxyHeader, int] | None:
    """The header at the start of ``buf`` and its length in bytes, or None while it is
    incomplete. Raises ``ProxyError`` as soon as the bytes cannot become a valid header."""
    n = min(len(buf), len(V2_SIGNATURE))
    if buf[:n] != V2_SIGNATURE[:n]:
        raise ProxyError("not_proxy", f"not the version 2 signature: {buf[:n]!r}")
    if len(buf) > 12:
        version, command = buf[12] >> 4, buf[12] & 0x0F
        if version != 2:
            raise ProxyError("v2_version", f"version {version}, not 2")
        if command > Command.PROXY:
            raise ProxyError("v2_command", f"command {command}, neither LOCAL (0) nor PROXY (1)")
    if len(buf) < V2_FIXED:
        return None
    _, ver_cmd, fam, length = _FIXED.unpack_from(buf)
    total = V2_FIXED + length
    if (ver_cmd & 0x0F) == Command.LOCAL:
        # 2.2: accept, use the real endpoints, discard the block (family included)
        if len(buf) < total:
            return None
        return ProxyHeader(2, Command.LOCAL), total
    family_bits, transport_bits = fam >> 4, fam & 0x0F
    if family_bits > Family.UNIX or transport_bits > Transport.DGRAM:
        raise ProxyError("v2_family", f"family/transport byte 0x{fam:02x}")
    family, transport = Family(family_bits), Transport(transport_bits)
    unspec = family is Family.UNSPEC or transport is Transport.UNSPEC
    need = 0 if unspec else ADDRESS_SIZE[family]
    if length < need:
        raise ProxyError(
            "v2_length", f"{family.name} addresses take {need} bytes, the length says {length}"
        )
    if len(buf) < total:
        return None
    block = buf[V2_FIXED:total]
    if unspec and fam != 0:
        # 2.2: a combination we do not support (INET with UNSPEC transport, say) falls
        # back to UNSPEC: its addresses are unknown in size, so the block is skipped
        return ProxyHeader(2, Command.PROXY, family, transport), total
    tlvs = parse_tlvs(block[need:])
    check_known(tlvs)
    _check_crc(buf[:total], tlvs)
    if unspec:  # 0x00: no address, only TLVs (an authority, say)
        return ProxyHeader(2, Command.PROXY, tlvs=tlvs), total
    if family is Family.UNIX:
        src, dst = block[:UNIX_PATH_SIZE], block[UNIX_PATH_SIZE:need]
        paths = (src.rstrip(b"\x00"), dst.rstrip(b"\x00"))
        return ProxyHeader(2, Command.PROXY, family, transport, unix_paths=paths, tlvs=tlvs), total
    size = _IP_SIZE[family]
    kind = ipaddress.IPv4Address if family is Family.INET else ipaddress.IPv6Address
    source = str(kind(block[:size]))
    destination = str(kind(block[size : 2 * size]))
    sport, dport = _PORTS.unpack_from(block, 2 * size)
    header = ProxyHeader(
        2, Command.PROXY, family, transport, (source, sport), (destination, dport), None, tlvs
    )
    return header, total


def _check_crc(raw: bytes, tlvs: tuple[Tlv, ...]) -> None:
    """2.2.3: with a CRC32C TLV, the checksum of the whole header with that field zeroed."""
    if not any(t.type == PP2_TYPE_CRC32C for t in tlvs):
        return
    # find the field's offset by walking the TLVs as laid out on the wire
    addresses = len(raw) - V2_FIXED - sum(3 + len(t.value) for t in tlvs)
    pos = V2_FIXED + addresses
    for t in tlvs:
        if t.type == PP2_TYPE_CRC32C:
            at = pos + 3
            zeroed = raw[:at] + b"\x00\x00\x00\x00" + raw[at + 4 :]
            if crc32c(zeroed) != int.from_bytes(t.value, "big"):
                raise ProxyError("v2_checksum", "the CRC32C does not match the header")
            return
        pos += 3 + len(t.value)


def encode_v2(header: ProxyHeader, *, checksum: bool = False) -> bytes:
    """The binary header for ``header``. ``checksum`` appends a ``PP2_TYPE_CRC32C`` TLV
    (any CRC32C TLV in ``header.tlvs`` is sent as it is)."""
    if header.command is Command.LOCAL:
        block = b""
        fam = 0
    else:
        fam = (header.family << 4) | header.transport
        block = _addresses(header) + encode_tlvs(header.tlvs)
    if checksum:
        block += encode_tlvs([Tlv(PP2_TYPE_CRC32C, b"\x00\x00\x00\x00")])
    if len(block) > MAX_LENGTH:
        raise ValueError(f"a version 2 header holds at most {MAX_LENGTH} bytes after 16")
    raw = _FIXED.pack(V2_SIGNATURE, 0x20 | header.command, fam, len(block)) + block
    if checksum:
        raw = raw[:-4] + crc32c(raw).to_bytes(4, "big")
    return raw


def _addresses(header: ProxyHeader) -> bytes:
    family, transport = header.family, header.transport
    if family is Family.UNSPEC or transport is Transport.UNSPEC:
        return b""
    if family is Family.UNIX:
        if header.unix_paths is None:
            raise ValueError("a UNIX header needs unix_paths")
        return b"".join(_unix_path(p) for p in header.unix_paths)
    if header.source is None or header.destination is None:
        raise ValueError(f"a {family.name} header needs a source and a destination")
    kind = ipaddress.IPv4Address if family is Family.INET else ipaddress.IPv6Address
    (src, sport), (dst, dport) = header.source, header.destination
    return kind(src).packed + kind(dst).packed + _PORTS.pack(sport, dport)


def _unix_path(path: bytes) -> bytes:
    if len(path) > UNIX_PATH_SIZE:
        raise ValueError(f"a Unix socket path holds at most {UNIX_PATH_SIZE} bytes")
    return path.ljust(UNIX_PATH_SIZE, b"\x00")
