"""framing.ChunkedDecoder on its own: what it returns, its limits, and regressions.

The shapes it refuses, and that both back ends refuse them alike, are in
test_codec_conformance.py; these tests hold the decoder's own contract.
"""

from __future__ import annotations

import pytest

from l7lb.http.events import ProtocolError
from l7lb.http.framing import ChunkedDecoder


def decoder(status: int = 400, max_trailer: int = 1024) -> ChunkedDecoder:
    return ChunkedDecoder(status, max_trailer)


def test_payload_and_rest() -> None:
    d = decoder()
    assert d.feed(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\nNEXT") == (b"abcde", b"NEXT")


def test_payload_handed_back_per_feed_rest_none_until_the_end() -> None:
    d = decoder()
    assert d.feed(b"a\r\n01234") == (b"01234", None)
    assert d.feed(b"56789\r") == (b"56789", None)
    assert d.feed(b"\n0\r\n") == (b"", None)
    assert d.feed(b"\r") == (b"", None)
    assert d.feed(b"\n") == (b"", b"")


def test_after_the_end_every_byte_is_rest() -> None:
    d = decoder()
    assert d.feed(b"0\r\n\r\n") == (b"", b"")
    assert d.feed(b"GET / HTTP/1.1\r\n") == (b"", b"GET / HTTP/1.1\r\n")


@pytest.mark.parametrize("status", [400, 502])
def test_errors_carry_the_status_given(status: int) -> None:
    with pytest.raises(ProtocolError) as info:
        decoder(status).feed(b"5\n")
    assert (info.value.status, info.value.reason) == (status, "bare LF in chunk size line")


def test_largest_size_is_accepted_one_more_is_not() -> None:
    assert decoder().feed(b"7FFFFFFFFFFFFFFF\r\nxy") == (b"xy", None)
    with pytest.raises(ProtocolError, match="overflows 63 bits"):
        decoder().feed(b"8000000000000000\r\n")


def test_size_line_limit() -> None:
    ext = b";a=" + b"b" * 5000
    assert decoder().feed(b"1" + ext[:4095]) == (b"", None)  # 4096 bytes, still open
    with pytest.raises(ProtocolError, match="chunk size line too long"):
        decoder().feed(b"1" + ext[:4096])
    with pytest.raises(ProtocolError, match="chunk size line too long"):
        decoder().feed(b"1" + ext[:4096] + b"\r\nx\r\n")


def test_trailer_section_limit() -> None:
    d = decoder(max_trailer=20)
    d.feed(b"0\r\n")
    assert d.feed(b"X-A: 12345678901234") == (b"", None)  # 19 bytes so far
    with pytest.raises(ProtocolError, match="trailer section too large"):
        d.feed(b"5\r\n")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        # the reason names the first bad byte, however the bytes were cut into feeds
        (b"0\r\n\x00\x00", "invalid trailer field"),
        (b"5;(\r\n", "invalid chunk extension"),
        (b"5;(\rx", "invalid chunk extension"),
        (b"5\r\r\n", "bare CR in chunk size line"),
        (b"8000000000000000 ;\r\n", "chunk size overflows 63 bits"),
        (b"0\r\nX\r: 1\r\n", "invalid trailer field"),
        (b"0\r\nX: 1\r2\r\n", "bare CR in trailer section"),
    ],
)
def test_reason_does_not_depend_on_how_the_bytes_arrive(data: bytes, reason: str) -> None:
    # Regression: b"0\r\n\x00\x00" made the compiled build raise SystemError (a bytes slice
    # that started after its end), where pure Python raised the ProtocolError.
    for step in (len(data), 1, 2, 3):
        d = decoder()
        with pytest.raises(ProtocolError) as info:
            for i in range(0, len(data), step):
                d.feed(data[i : i + step])
        assert info.value.reason == reason, step


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        # an invalid byte before the limit is named, one past the limit is not reached
        (b"0\r\nX-A: 1\r\nBad Name: " + b"v" * 40 + b"\r\n", "invalid trailer field"),
        (b"0\r\nX-A: 1\r\nX-B: " + b"v" * 40 + b"\x00\r\n", "trailer section too large"),
        (b"0\r\nX-A: 1\r\nX-B: " + b"v" * 40 + b"\r\n", "trailer section too large"),
        (b"1;a=" + b"b" * 4092 + b"\n", "bare LF in chunk size line"),  # 4096 bytes, then LF
        (b"1;a=" + b"b" * 4093 + b"\n", "chunk size line too long"),
        (b"1;a=" + b"b" * 4092 + b"\x00\r\n", "chunk size line too long"),
        (b"1;a=" + b"\x00" + b"b" * 4092 + b"\r\n", "invalid chunk extension"),
    ],
)
def test_limit_or_bad_byte_whichever_comes_first(data: bytes, reason: str) -> None:
    # found by fuzzing: a trailer line both invalid and over the limit was named by the
    # limit when it came whole and by the bad byte when it came byte by byte
    for step in (len(data), 1, 7):
        d = decoder(max_trailer=40)
        with pytest.raises(ProtocolError) as info:
            for i in range(0, len(data), step):
                d.feed(data[i : i + step])
        assert info.value.reason == reason, step
