"""HPACK: RFC 7541's own examples byte for byte, the hpack library as the reference, and
every malformed block a hostile client could send."""

from __future__ import annotations

import hpack as reference
import pytest
from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.table import HeaderTable
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.http2 import huffman
from l7lb.http2.hpack import STATIC_TABLE, Decoder, HpackError, encode, encode_field

# RFC 7541 Appendix C.3 (without Huffman) and C.4 (with), three requests on one connection
C3 = [
    "828684410f7777772e6578616d706c652e636f6d",
    "828684be58086e6f2d6361636865",
    "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
]
C4 = [
    "828684418cf1e3c2e5f23a6ba0ab90f4ff",
    "828684be5886a8eb10649cbf",
    "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
]
REQUESTS = [
    [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":path", b"/"),
        (b":authority", b"www.example.com"),
    ],
    [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":path", b"/"),
        (b":authority", b"www.example.com"),
        (b"cache-control", b"no-cache"),
    ],
    [
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":path", b"/index.html"),
        (b":authority", b"www.example.com"),
        (b"custom-key", b"custom-value"),
    ],
]


@pytest.mark.parametrize("blocks", [C3, C4], ids=["C.3", "C.4-huffman"])
def test_rfc7541_request_examples(blocks: list[str]) -> None:
    d = Decoder()
    for block, expected, size in zip(blocks, REQUESTS, (57, 110, 164), strict=True):
        assert d.decode(bytes.fromhex(block), 65536) == expected
        assert d.size == size  # the table after each request, as the RFC lists it
    assert d.entries[0] == (b":authority", b"www.example.com")
    # and the reference library reads the same bytes the same way
    r = reference.Decoder()
    for block, expected in zip(blocks, REQUESTS, strict=True):
        assert r.decode(bytes.fromhex(block), raw=True) == expected


def test_the_static_table_is_rfc7541_appendix_a() -> None:
    assert tuple(HeaderTable.STATIC_TABLE) == STATIC_TABLE


def test_huffman_codes_are_appendix_b() -> None:
    assert huffman.codes() == list(zip(REQUEST_CODES, REQUEST_CODES_LENGTH, strict=True))


@given(st.binary(max_size=200))
def test_huffman_decodes_what_the_reference_encodes(data: bytes) -> None:
    enc = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH)
    assert huffman.decode(enc.encode(data)) == data


@pytest.mark.parametrize(
    "bad",
    [
        b"\xff\xff\xff\xff",  # EOS (30 ones) inside the string
        b"\x00",  # '0' (00000) then 000: padding that is not ones
        b"\x1f\xff",  # 'a' (00011) then 11 ones: padding longer than 7 bits
    ],
)
def test_huffman_refuses_eos_and_bad_padding(bad: bytes) -> None:
    with pytest.raises(huffman.HuffmanError):
        huffman.decode(bad)


header = st.tuples(
    st.binary(min_size=1, max_size=20).map(lambda b: b.lower()),
    st.binary(max_size=60),
)


@settings(max_examples=200)
@given(st.lists(st.lists(header, max_size=12), min_size=1, max_size=6), st.booleans())
def test_decodes_what_the_reference_encodes_across_blocks(
    blocks: list[list[tuple[bytes, bytes]]], huff: bool
) -> None:
    """Indexing, eviction and table size follow the reference encoder block after block."""
    enc = reference.Encoder()
    enc.header_table_size = 256  # small: entries are evicted often
    dec = Decoder()
    for fields in blocks:
        assert dec.decode(bytes(enc.encode(fields, huffman=huff)), 1 << 20) == fields


@given(st.lists(header, max_size=20), st.integers(100, 599))
def test_the_reference_decodes_what_l7lb_encodes(
    fields: list[tuple[bytes, bytes]], status: int
) -> None:
    r = reference.Decoder()
    got = r.decode(encode(status, fields), raw=True)
    assert got == [(b":status", b"%d" % status), *fields]
    assert len(r.header_table.dynamic_entries) == 0  # l7lb never adds to the table


def test_encoder_uses_the_static_table() -> None:
    assert encode(200, []) == b"\x88"
    assert encode(404, []) == b"\x8d"
    assert encode(302, []) == b"\x08\x03302"
    assert encode_field(b"content-type", b"text/plain") == b"\x0f\x10\x0atext/plain"
    assert encode_field(b"accept-encoding", b"gzip, deflate") == b"\x0f\x01\x0dgzip, deflate"
    assert encode_field(b"www-authenticate", b"x") == b"\x0f\x2e\x01x"  # index 61 = 15 + 46
    assert encode_field(b"x-a", b"b") == b"\x00\x03x-a\x01b"
    long = b"v" * 200
    assert encode_field(b"x", long) == b"\x00\x01x\x7f\x49" + long


def test_an_oversized_list_is_not_kept_but_the_table_follows() -> None:
    enc = reference.Encoder()
    d = Decoder()
    big = [(b"x-%d" % i, b"v" * 1000) for i in range(40)]  # ~41 KB decoded
    out = d.decode(bytes(enc.encode(big)), 32768)
    assert d.oversized and d.used > 32768
    assert sum(len(n) + len(v) + 32 for n, v in out) <= 32768
    # the dynamic table still holds what the client's encoder holds
    small = [(b"x-39", b"v" * 1000)]
    assert d.decode(bytes(enc.encode(small)), 32768) == small and not d.oversized


def test_an_hpack_bomb_costs_the_block_not_the_list() -> None:
    d = Decoder()
    d.decode(b"\x40\x05x-big\x7f\xa0\x1e" + b"b" * 3999, 32768)  # one 4036-byte entry
    bomb = b"\xbe" * 60000  # 60000 references to it: 242 MB if materialised
    out = d.decode(bomb, 32768)
    # eight fit in 32 KiB; the ninth passed the limit; the rest were only read through
    assert d.oversized and len(out) == 8
    assert d.used == 9 * (5 + 3999 + 32)


@pytest.mark.parametrize(
    "block,why",
    [
        (b"\x80", "index 0"),
        (b"\xbf\x01", "an index past the dynamic table"),
        (b"\xff\xff\xff\xff\xff\x0f", "an integer past 2**28"),
        (b"\xff", "a truncated integer"),
        (b"\x40\x05x", "a string past the block"),
        (b"\x40\x81\xff", "a Huffman string with EOS"),
        (b"\x82\x3f\xe1\x1f", "a size update after a field"),
        (b"\x3f\xe2\x1f", "a size update above SETTINGS_HEADER_TABLE_SIZE"),
        (b"\x00", "a literal without its name"),
    ],
)
def test_malformed_blocks_are_compression_errors(block: bytes, why: str) -> None:
    with pytest.raises(HpackError):
        Decoder().decode(block, 65536)


def test_a_smaller_table_setting_needs_a_size_update_once_acknowledged() -> None:
    d = Decoder(4096)
    d.decode(b"\x40\x01a\x01b", 1000)
    d.limit(0)  # the client acknowledged SETTINGS_HEADER_TABLE_SIZE = 0
    with pytest.raises(HpackError):
        d.decode(b"\x82", 1000)
    d = Decoder(4096)
    d.limit(0)
    assert d.decode(b"\x20\x82", 1000) == [(b":method", b"GET")]
    assert d.max_size == 0 and not d.update_due
    with pytest.raises(HpackError):
        d.decode(b"\x21", 1000)  # 1 > 0


def test_entries_are_evicted_oldest_first() -> None:
    d = Decoder(100)
    d.decode(b"\x40\x01a" + b"\x1e" + b"x" * 30, 1000)  # 63 bytes
    d.decode(b"\x40\x01b" + b"\x1e" + b"y" * 30, 1000)  # 63 more: a goes
    assert d.entries == [(b"b", b"y" * 30)] and d.size == 63
    d.decode(b"\x40\x01c" + b"\x7f\x30" + b"z" * 175, 1000)  # larger than the table
    assert d.entries == [] and d.size == 0
