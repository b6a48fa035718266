"""BodyRelay: the request body framed for the backend and held, bounded, until it can go."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.proxy.body import HOLD_MAX, BodyRelay


def test_length_body_goes_as_it_is_and_ends_with_nothing() -> None:
    relay = BodyRelay(chunked=False)
    assert relay.frame(b"abc") == b"abc"
    assert relay.end() == b""


def test_chunked_body_is_rechunked_and_ends_with_the_last_chunk() -> None:
    relay = BodyRelay(chunked=True)
    assert relay.frame(b"hello world") == b"b\r\nhello world\r\n"
    assert relay.end() == b"0\r\n\r\n"


def test_holding_says_when_to_stop_reading() -> None:
    relay = BodyRelay(chunked=False)
    assert relay.hold(b"x" * HOLD_MAX) is False
    assert relay.hold(b"y") is True
    assert relay.release() == b"x" * HOLD_MAX + b"y"
    assert relay.held == [] and relay.held_size == 0
    assert relay.release() == b""


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=300), max_size=20))
def test_released_bytes_are_the_framed_pieces_in_order(pieces: list[bytes]) -> None:
    relay = BodyRelay(chunked=True)
    for p in pieces:
        relay.hold(relay.frame(p))
    relay.hold(relay.end())
    out = relay.release()
    # decoding the chunks gives the body back
    body, pos = b"", 0
    while True:
        eol = out.index(b"\r\n", pos)
        size = int(out[pos:eol], 16)
        if size == 0:
            assert out[eol:] == b"\r\n\r\n"
            break
        body += out[eol + 2 : eol + 2 + size]
        pos = eol + 2 + size + 2
    assert body == b"".join(pieces)
