"""Version 2 (binary), byte for byte: addresses, TLVs, LOCAL, CRC32C, and every refusal."""

from __future__ import annotations

import struct

import pytest

from l7lb.proxyproto.crc32c import crc32c
from l7lb.proxyproto.header import (
    PP2_CLIENT_SSL,
    PP2_SUBTYPE_SSL_CIPHER,
    PP2_SUBTYPE_SSL_VERSION,
    PP2_TYPE_ALPN,
    PP2_TYPE_AUTHORITY,
    PP2_TYPE_CRC32C,
    PP2_TYPE_NOOP,
    PP2_TYPE_SSL,
    PP2_TYPE_UNIQUE_ID,
    V2_SIGNATURE,
    Command,
    Family,
    ProxyError,
    ProxyHeader,
    SslTlv,
    Tlv,
    Transport,
)
from l7lb.proxyproto.tlv import parse_ssl, ssl_of, ssl_tlv
from l7lb.proxyproto.v2 import decode_v2, encode_v2

SIG = b"\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a"
# TCP over IPv4, 192.0.2.7:56324 -> 198.51.100.10:443, written out by hand from 2.2
TCP4 = (
    SIG
    + b"\x21\x11\x00\x0c"
    + bytes([192, 0, 2, 7])
    + bytes([198, 51, 100, 10])
    + b"\xdc\x04\x01\xbb"
)
TCP4_HEADER = ProxyHeader(
    2, Command.PROXY, Family.INET, Transport.STREAM, ("192.0.2.7", 56324), ("198.51.100.10", 443)
)


def head(ver_cmd: int, fam: int, block: bytes, length: int | None = None) -> bytes:
    n = len(block) if length is None else length
    return SIG + bytes([ver_cmd, fam]) + struct.pack("!H", n) + block


def test_signature_is_the_specified_one() -> None:
    assert V2_SIGNATURE == SIG


def test_tcp4_decodes_and_encodes_byte_for_byte() -> None:
    header, used = decode_v2(TCP4 + b"\x16\x03\x01")  # type: ignore[misc]
    assert used == 28
    assert header == TCP4_HEADER
    assert header.relayed
    assert encode_v2(TCP4_HEADER) == TCP4


def test_tcp6() -> None:
    src = bytes.fromhex("20010db8000000000000000000000007")
    dst = bytes.fromhex("20010db8000000000000000000000010")
    raw = head(0x21, 0x21, src + dst + b"\x00\x01\xff\xff")
    header, used = decode_v2(raw)  # type: ignore[misc]
    assert used == 16 + 36
    assert header.source == ("2001:db8::7", 1)
    assert header.destination == ("2001:db8::10", 65535)
    assert header.family is Family.INET6 and header.transport is Transport.STREAM
    assert encode_v2(header) == raw


def test_udp_is_decoded_but_not_relayed() -> None:
    raw = head(0x21, 0x12, bytes(4) + bytes(4) + b"\x00\x35\x00\x35")
    header, _ = decode_v2(raw)  # type: ignore[misc]
    assert header.transport is Transport.DGRAM and header.source == ("0.0.0.0", 53)
    assert not header.relayed  # a TCP receiver falls back to its own endpoints


def test_unix_paths() -> None:
    block = b"/run/src.sock".ljust(108, b"\x00") + b"\x00abstract".ljust(108, b"\x00")
    raw = head(0x21, 0x31, block)
    header, used = decode_v2(raw)  # type: ignore[misc]
    assert used == 16 + 216
    assert header.unix_paths == (b"/run/src.sock", b"\x00abstract")
    assert header.source is None and not header.relayed
    assert encode_v2(header) == raw


def test_local_discards_the_block_whatever_the_family() -> None:
    # 2.2: LOCAL is accepted, its block (family included) ignored, the length honoured
    for fam, block in ((0x00, b""), (0x11, TCP4[16:]), (0xFF, b"junk"), (0x21, b"")):
        raw = head(0x20, fam, block)
        header, used = decode_v2(raw + b"GET")  # type: ignore[misc]
        assert used == len(raw)
        assert header == ProxyHeader(2, Command.LOCAL)
        assert not header.relayed
    assert encode_v2(ProxyHeader(2, Command.LOCAL)) == SIG + b"\x20\x00\x00\x00"


def test_local_waits_for_its_whole_block() -> None:
    raw = head(0x20, 0x11, TCP4[16:])
    assert decode_v2(raw[:-1]) is None


def test_proxy_unspec_carries_only_tlvs() -> None:
    raw = head(0x21, 0x00, b"\x02\x00\x03abc")
    header, _ = decode_v2(raw)  # type: ignore[misc]
    assert header.family is Family.UNSPEC and not header.relayed
    assert header.authority == "abc"
    assert encode_v2(header) == raw


def test_unsupported_combination_skips_its_block() -> None:
    # INET with an UNSPEC transport: valid nibbles, no defined layout: fall back to UNSPEC
    raw = head(0x21, 0x10, b"\xff" * 7)
    header, used = decode_v2(raw)  # type: ignore[misc]
    assert used == len(raw) and not header.relayed and header.tlvs == ()


def test_tlvs_after_the_addresses() -> None:
    tlvs = (
        Tlv(PP2_TYPE_ALPN, b"h2"),
        Tlv(PP2_TYPE_AUTHORITY, "www.exämple.com".encode()),
        Tlv(PP2_TYPE_NOOP, b""),
        Tlv(PP2_TYPE_UNIQUE_ID, b"x" * 128),
        Tlv(0xE0, b"custom"),
    )
    header = ProxyHeader(
        2,
        Command.PROXY,
        Family.INET,
        Transport.STREAM,
        ("10.1.2.3", 1),
        ("10.0.0.1", 80),
        tlvs=tlvs,
    )
    raw = encode_v2(header)
    assert raw[16 + 12 :] == (
        b"\x01\x00\x02h2"
        + b"\x02\x00\x10"
        + "www.exämple.com".encode()
        + b"\x04\x00\x00"
        + b"\x05\x00\x80"
        + b"x" * 128
        + b"\xe0\x00\x06custom"
    )
    decoded, used = decode_v2(raw)  # type: ignore[misc]
    assert used == len(raw) and decoded == header
    assert decoded.authority == "www.exämple.com"
    assert decoded.tlv(PP2_TYPE_ALPN) == b"h2"
    assert decoded.tlv(0x30) is None


def test_ssl_tlv_layout() -> None:
    tlv = ssl_tlv("TLSv1.3", "TLS_AES_256_GCM_SHA384")
    assert tlv.type == PP2_TYPE_SSL
    assert tlv.value == (
        b"\x01"  # PP2_CLIENT_SSL
        + b"\x00\x00\x00\x01"  # verify: no client certificate verified
        + b"\x21\x00\x07TLSv1.3"
        + b"\x23\x00\x16TLS_AES_256_GCM_SHA384"
    )
    ssl = parse_ssl(tlv.value)
    assert ssl == SslTlv(
        PP2_CLIENT_SSL,
        1,
        (
            Tlv(PP2_SUBTYPE_SSL_VERSION, b"TLSv1.3"),
            Tlv(PP2_SUBTYPE_SSL_CIPHER, b"TLS_AES_256_GCM_SHA384"),
        ),
    )
    assert ssl.version == "TLSv1.3" and ssl.cipher == "TLS_AES_256_GCM_SHA384"
    header = ProxyHeader(2, Command.PROXY, tlvs=(tlv,))
    decoded, _ = decode_v2(encode_v2(header))  # type: ignore[misc]
    assert ssl_of(decoded) == ssl
    assert ssl_of(TCP4_HEADER) is None
    assert parse_ssl(b"\x00\x00\x00\x00\x00").version is None


def test_crc32c_reference_value() -> None:
    # RFC 3720 B.4 / the usual check value of CRC-32C
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA


def test_checksum_round_trip_and_position() -> None:
    raw = encode_v2(TCP4_HEADER, checksum=True)
    assert raw[15] == 12 + 7  # addresses, then one 7-byte TLV
    assert raw[28:31] == b"\x03\x00\x04"
    zeroed = raw[:31] + bytes(4)
    assert int.from_bytes(raw[31:35], "big") == crc32c(zeroed)
    header, used = decode_v2(raw)  # type: ignore[misc]
    assert used == len(raw)
    assert header.tlv(PP2_TYPE_CRC32C) == raw[31:35]


def test_checksum_in_the_middle_of_the_tlvs() -> None:
    header = ProxyHeader(
        2,
        Command.PROXY,
        Family.INET,
        Transport.STREAM,
        ("10.1.2.3", 1),
        ("10.0.0.1", 80),
        tlvs=(Tlv(PP2_TYPE_ALPN, b"h2"), Tlv(PP2_TYPE_CRC32C, bytes(4)), Tlv(PP2_TYPE_NOOP, b"..")),
    )
    raw = bytearray(encode_v2(header))
    at = 16 + 12 + 5 + 3
    raw[at : at + 4] = crc32c(bytes(raw)).to_bytes(4, "big")
    assert decode_v2(bytes(raw)) is not None
    raw[-1] ^= 1  # one bit of a later TLV: the checksum covers the whole header
    with pytest.raises(ProxyError) as err:
        decode_v2(bytes(raw))
    assert err.value.reason == "v2_checksum"


@pytest.mark.parametrize("flip", [16, 19, 20, 24, 26, 27, 31, 34])
def test_a_flipped_bit_in_the_addresses_or_the_sum_fails(flip: int) -> None:
    raw = bytearray(encode_v2(TCP4_HEADER, checksum=True))
    raw[flip] ^= 0x01
    with pytest.raises(ProxyError) as err:
        decode_v2(bytes(raw))
    assert err.value.reason == "v2_checksum"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\r\n\r\n\x00\r\nQUIX\n" + bytes(4), "not_proxy"),
        (b"\r\n\r\n\x01", "not_proxy"),
        (b"\r\nGET / HTTP/1.1", "not_proxy"),
        (head(0x11, 0x11, TCP4[16:]), "v2_version"),
        (head(0x31, 0x11, TCP4[16:]), "v2_version"),
        (head(0x01, 0x11, TCP4[16:]), "v2_version"),
        (head(0x22, 0x11, TCP4[16:]), "v2_command"),
        (head(0x2F, 0x11, TCP4[16:]), "v2_command"),
        (head(0x21, 0x41, TCP4[16:]), "v2_family"),
        (head(0x21, 0x13, TCP4[16:]), "v2_family"),
        (head(0x21, 0x11, TCP4[16:27]), "v2_length"),  # 11 bytes for INET's 12
        (head(0x21, 0x11, b""), "v2_length"),
        (head(0x21, 0x21, TCP4[16:]), "v2_length"),  # INET6 needs 36
        (head(0x21, 0x31, bytes(215)), "v2_length"),  # UNIX needs 216
        (head(0x21, 0x11, TCP4[16:] + b"\x01"), "v2_tlv"),  # a stray byte
        (head(0x21, 0x11, TCP4[16:] + b"\x01\x00"), "v2_tlv"),
        (head(0x21, 0x11, TCP4[16:] + b"\x01\x00\x05abc"), "v2_tlv"),  # overruns the block
        (head(0x21, 0x11, TCP4[16:] + b"\x20\x00\x04\x01\x00\x00\x00"), "v2_tlv"),  # SSL < 5
        (head(0x21, 0x11, TCP4[16:] + b"\x20\x00\x07\x01\x00\x00\x00\x00\x21\x00"), "v2_tlv"),
        (head(0x21, 0x11, TCP4[16:] + b"\x20\x00\x08\x01\x00\x00\x00\x00\x21\x00\x09"), "v2_tlv"),
        (head(0x21, 0x11, TCP4[16:] + b"\x03\x00\x03abc"), "v2_tlv"),  # CRC32C not 4 bytes
        (head(0x21, 0x11, TCP4[16:] + b"\x05\x00\x81" + b"u" * 129), "v2_tlv"),  # unique id
        (head(0x21, 0x11, TCP4[16:] + b"\x02\x00\x02\xff\xfe"), "v2_tlv"),  # not UTF-8
        (head(0x21, 0x11, TCP4[16:] + b"\x03\x00\x04\x00\x00\x00\x00"), "v2_checksum"),
    ],
)
def test_malformed_headers_are_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(ProxyError) as err:
        decode_v2(raw)
    assert err.value.reason == reason


def test_length_beyond_what_arrived_waits() -> None:
    # the length says more than is here: not an error, only incomplete (truncation is the
    # glue's to see: EOF or the deadline)
    assert decode_v2(head(0x21, 0x11, TCP4[16:], length=40)) is None


def test_bad_version_or_command_is_refused_before_the_length() -> None:
    with pytest.raises(ProxyError):
        decode_v2(SIG + b"\x11")
    with pytest.raises(ProxyError):
        decode_v2(SIG + b"\x23")
    assert decode_v2(SIG + b"\x21") is None


def test_encoding_refuses_what_does_not_fit() -> None:
    with pytest.raises(ValueError):
        encode_v2(ProxyHeader(2, Command.PROXY, tlvs=(Tlv(0xE0, bytes(65533)),)))
    with pytest.raises(ValueError):
        encode_v2(ProxyHeader(2, Command.PROXY, Family.INET, Transport.STREAM))
    with pytest.raises(ValueError):
        encode_v2(ProxyHeader(2, Command.PROXY, Family.UNIX, Transport.STREAM))
    with pytest.raises(ValueError):
        encode_v2(
            ProxyHeader(
                2, Command.PROXY, Family.UNIX, Transport.STREAM, unix_paths=(bytes(109), b"")
            )
        )
    # the largest block that fits
    big = ProxyHeader(2, Command.PROXY, tlvs=(Tlv(0xE0, bytes(65532)),))
    assert len(encode_v2(big)) == 16 + 65535
