"""The control channel's messages: every one round-trips, and a bad line never stops it."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.control import (
    TYPES,
    Admin,
    Claim,
    Claimed,
    Health,
    LimitDeltas,
    LineDecoder,
    Message,
    MessageError,
    Metrics,
    MetricsQuery,
    Ready,
    Stats,
    StatsQuery,
    Stick,
    decode,
    encode,
)
from l7lb.limits.deltas import SourceDelta
from l7lb.persistence.shared import StickUpdate

U = StickUpdate("web", b"\x00key\xff", "s1")

MESSAGES: list[Message] = [
    Ready(4242),
    Stick((U, StickUpdate("t2", b"k", "s2"))),
    Stick(()),
    Claim(7, U),
    Claim(8, StickUpdate("web", b"k", "")),
    Claimed(7, "s1"),
    Claimed(8, None),
    Health("web", "s1", True),
    Health("web", "s 2", False),
    Admin("web", "s1", weight=0),
    Admin("web", "s1", state="drain"),
    Admin("web", "s1", state="drain", deadline=1790000000.5),
    MetricsQuery(7001),
    Metrics(7001, {"v": 1, "counters": {"vips": {}}, "gauges": {"lag": 0.0}}),
    Metrics(0, {}),
    StatsQuery(3001),
    Stats(3001, [{"pool": "web", "server": "s1", "active": 2}], {"vip": {"full": 1}}),
    LimitDeltas(
        "www",
        10.0,
        (
            SourceDelta("192.0.2.7", 177_000_000, 3, 1, 0, 0),
            SourceDelta("2001:db8::/64", 176_999_999, 0, -2, 4, 5),
        ),
    ),
    LimitDeltas("w w", 0.5, ()),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=repr)
def test_every_message_round_trips(msg: Message) -> None:
    line = encode(msg)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode(line[:-1]) == msg


def test_every_type_is_decodable() -> None:
    assert {type(m).TYPE for m in MESSAGES} == set(TYPES)


def test_lines_split_anywhere_decode_the_same() -> None:
    data = b"".join(encode(m) for m in MESSAGES)
    for step in (1, 7, 64, len(data)):
        dec = LineDecoder()
        out: list[Message] = []
        for i in range(0, len(data), step):
            out += dec.feed(data[i : i + step])
        assert out == MESSAGES


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b"[1, 2]",
        b'{"no": "type"}',
        b'{"t": "nobody-sends-this"}',
        b'{"t": "ready", "pid": "42"}',
        b'{"t": "ready", "pid": true}',
        b'{"t": "health", "pool": "p", "server": "s", "up": 1}',
        b'{"t": "admin", "pool": "p", "server": "s", "weight": "0"}',
        b'{"t": "admin", "pool": "p", "server": "s", "state": "drain", "deadline": "10m"}',
        b'{"t": "admin", "pool": "p", "server": "s", "state": "drain", "deadline": true}',
        b'{"t": "metrics?", "id": "1"}',
        b'{"t": "metrics", "id": 1, "data": [1, 2]}',
        b'{"t": "metrics", "id": 1}',
        b'{"t": "claim", "id": 1, "u": {"table": "t", "key": "not base64!", "server": ""}}',
        b'{"t": "stick", "u": {"table": "t"}}',
        b'{"t": "stats", "id": 1, "servers": [1]}',
        b'{"t": "claimed", "id": 1, "server": 5}',
        b'{"t": "limits", "vip": "www", "len": 0, "d": []}',
        b'{"t": "limits", "vip": "www", "len": true, "d": []}',
        b'{"t": "limits", "vip": "www", "len": 10, "d": {}}',
        b'{"t": "limits", "vip": 7, "len": 10, "d": []}',
        b'{"t": "limits", "vip": "www", "len": 10, "d": [["a", 1, 2, 3, 4]]}',
        b'{"t": "limits", "vip": "www", "len": 10, "d": [["", 1, 2, 3, 4, 5]]}',
        b'{"t": "limits", "vip": "www", "len": 10, "d": [["a", 1, -2, 3, 4, 5]]}',
        b'{"t": "limits", "vip": "www", "len": 10, "d": [["a", 1, 2, 3, 4, 1.5]]}',
        b'{"t": "limits", "vip": "www", "len": 10, "d": [["a", 1, true, 3, 4, 5]]}',
        b'{"t": "limits", "vip": "www", "len": 10, "d": [[7, 1, 2, 3, 4, 5]]}',
    ],
)
def test_malformed_lines_are_refused(line: bytes) -> None:
    with pytest.raises(MessageError):
        decode(line)


def test_a_bad_line_is_logged_and_the_next_one_still_read(caplog: pytest.LogCaptureFixture) -> None:
    dec = LineDecoder()
    with caplog.at_level(logging.ERROR, logger="l7lb.control"):
        out = dec.feed(b'{"t": "ready", "pid": "x"}\n' + encode(Ready(1)))
    assert out == [Ready(1)]
    assert "pid: expected an integer" in caplog.text


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_messages_or_log_lines_never_an_exception(data: bytes) -> None:
    out = LineDecoder().feed(data + b"\n")
    assert all(isinstance(m, Message) for m in out)


@settings(max_examples=200, deadline=None)
@given(
    st.text(min_size=1, max_size=20),
    st.floats(0.1, 3600.0),
    st.lists(
        st.builds(
            SourceDelta,
            st.text(min_size=1, max_size=64),
            st.integers(-(2**40), 2**40),
            st.integers(0, 2**31),
            st.integers(-(2**20), 2**20),
            st.integers(0, 2**31),
            st.integers(0, 2**31),
        ),
        max_size=20,
    ),
)
def test_limit_deltas_round_trip(vip: str, length: float, deltas: list[SourceDelta]) -> None:
    msg = LimitDeltas(vip, length, tuple(deltas))
    assert decode(encode(msg)[:-1]) == msg
