"""The HTTP/2 engine against hostile clients: every limit of [http2], frame by frame."""

from __future__ import annotations

import logging

import pytest
from h2play import Play
from h2wire import (
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    ENHANCE_YOUR_CALM,
    GOAWAY,
    HEADERS,
    PRIORITY,
    REFUSED_STREAM,
    RST_STREAM,
    data,
    frame,
    ping,
    rst,
    settings,
    window_update,
)

from l7lb.http2 import limits


def goaway(p: Play) -> tuple[int, int]:
    """(last stream id, error code) of the GOAWAY l7lb sent, which must be its last frame."""
    frames = p.frames()
    assert frames and frames[-1].kind == GOAWAY, frames[-3:]
    return frames[-1].last_stream_id(), frames[-1].error_code()


def test_rapid_reset_gets_goaway_and_releases_every_backend_request() -> None:
    p = Play()
    p.start()
    sid = 1
    while p.closed is None and sid < 2 * 10000:
        p.send(p.client.request(sid) + rst(sid), dt=0.0001)
        sid += 2
    # the share of streams reset before their response began passes one half from the
    # 100th stream on: the 100th pair is the last
    assert sid == 201
    last, code = goaway(p)
    assert (last, code) == (199, ENHANCE_YOUR_CALM)
    assert p.closed is False
    # each reset came in the same read as its HEADERS: no backend connection is even made
    assert p.links == [] and p.released == []
    assert p.conn.streams == {}
    assert len(p.logs) == 100 and {r.status for r in p.logs} == {499}


def test_rapid_reset_after_the_request_went_out_closes_each_backend_connection() -> None:
    p = Play()
    p.start()
    sid = 1
    while p.closed is None and sid < 2 * 10000:
        p.send(p.client.request(sid), dt=0.0001)
        p.send(rst(sid))
        sid += 2
    assert sid == 201 and goaway(p) == (199, ENHANCE_YOUR_CALM)
    assert len(p.links) == 100 and len(p.released) == 100
    # every one had the request: closed, none left open or reused
    assert all(not reuse and link.uses == 1 for link, reuse in p.released)
    assert p.logs and all(r.status == 499 for r in p.logs)


def test_the_reset_rate_alone_also_ends_a_connection() -> None:
    # responses that began before the reset: the share rule never applies, the bucket does
    p = Play(extra="[http2]\nreset_burst = 20\nreset_rate = 1")
    p.start()
    sid = 1
    while p.closed is None and sid < 200:
        p.send(p.client.request(sid))
        p.backend(p.links[-1], b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nab")
        p.send(rst(sid), dt=0.01)
        sid += 2
    assert sid == 2 * 21 + 1  # 20 in the burst (plus what 0.2 s refilled: nothing whole)
    assert goaway(p)[1] == ENHANCE_YOUR_CALM
    # and resets spaced by more than 1/rate are fine for ever
    p = Play(extra="[http2]\nreset_burst = 5\nreset_rate = 1")
    p.start()
    for sid in range(1, 60, 2):
        p.send(p.client.request(sid))
        p.backend(p.links[-1], b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nab")
        p.send(rst(sid), dt=1.0)
    assert p.closed is None


def test_resets_l7lb_sends_are_paid_from_the_same_budget() -> None:
    # MadeYouReset: malformed frames make l7lb reset the stream itself
    p = Play(extra="[http2]\nreset_burst = 10\nreset_rate = 0")
    p.start()
    for i in range(10):
        sid = 2 * i + 1
        p.send(p.client.request(sid, b"/", b"POST", end_stream=False))
        p.send(window_update(sid, 0))  # a stream error: RST_STREAM PROTOCOL_ERROR
    assert p.closed is None
    assert len(p.links) == 10 and len(p.released) == 10
    p.send(p.client.request(21, extra=[(b"Bad", b"1")]))  # the 11th provoked reset
    assert goaway(p)[1] == ENHANCE_YOUR_CALM and p.closed is False


def test_one_stream_more_than_the_limit_is_refused_until_work_is_released() -> None:
    p = Play(extra="[http2]\nmax_concurrent_streams = 2")
    p.start()
    p.send(p.client.request(1) + p.client.request(3) + p.client.request(5))
    [f] = p.frames()
    assert (f.kind, f.sid, f.error_code()) == (RST_STREAM, 5, REFUSED_STREAM)
    assert len(p.links) == 2
    p.send(rst(1))  # released at once: there is room again
    p.send(p.client.request(7))
    assert len(p.links) == 3


def test_a_continuation_flood_is_cut_at_the_frame_limit() -> None:
    p = Play()
    p.start()
    block = p.client.block([(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/")])
    p.send(frame(HEADERS, 0, 1, block[:2]))
    for _ in range(16):
        p.send(frame(CONTINUATION, 0, 1, b""))
    assert p.closed is None
    p.send(frame(CONTINUATION, 0, 1, b""))  # the 17th
    assert goaway(p)[1] == ENHANCE_YOUR_CALM and p.closed is False


def test_a_header_block_is_refused_before_64_kib_are_buffered() -> None:
    p = Play()
    p.start()
    p.send(frame(HEADERS, 0, 1, b"\x00" * 16384))
    for _ in range(3):
        p.send(frame(CONTINUATION, 0, 1, b"\x00" * 16384))
    assert p.closed is None
    # 64 KiB so far: the next frame's header alone says the block would pass it; refused
    # before its payload arrives
    p.send(frame(CONTINUATION, 0, 1, b"\x00")[:9])
    assert goaway(p)[1] == ENHANCE_YOUR_CALM
    assert p.conn.buf == b""


def test_an_hpack_bomb_is_refused_without_building_the_list() -> None:
    p = Play()
    p.start()
    # one 4000-byte value in the dynamic table, then a block of 1-byte references to it
    big = (b"x-big", b"b" * 3900)
    p.send(p.client.request(1, extra=[big]))
    p.frames()
    refs = p.client.block(
        [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"a"), (b":path", b"/")]
    )
    refs += b"\xbe" * 5000  # index 62: x-big, 3937 bytes each once decoded: ~20 MB
    p.send(frame(HEADERS, END_HEADERS | END_STREAM, 3, refs))
    head, _ = p.frames()
    assert p.client.decode(head)[0] == (b":status", b"431")
    assert p.conn.decoder.used > 32768 and p.conn.decoder.oversized
    assert len(p.links) == 1  # the bomb reached no backend


def test_ping_flood() -> None:
    p = Play()
    p.start()
    for i in range(100):
        p.send(ping(b"%08d" % i))
    assert len(p.frames()) == 100
    p.send(ping(b"flooding"))
    assert goaway(p)[1] == ENHANCE_YOUR_CALM
    # and a PING every tenth of a second never ends a connection (20 a second allowed)
    p = Play()
    p.start()
    for i in range(300):
        p.send(ping(b"%08d" % i), dt=0.1)
    assert p.closed is None


@pytest.mark.parametrize(
    "flood",
    [
        lambda i: settings(),
        lambda i: data(1, b""),
        lambda i: window_update(0, 1),
        lambda i: frame(PRIORITY, 0, 1, b"\x00\x00\x00\x00\x10"),
        lambda i: frame(0x42, 0, 0, b"unknown"),
    ],
    ids=["settings", "empty-data", "window-update", "priority", "unknown-frame"],
)
def test_floods_of_cheap_frames(flood) -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1, b"/", b"POST", end_stream=False))
    for i in range(102):
        p.send(flood(i))
        if p.closed is not None:
            break
    assert goaway(p)[1] == ENHANCE_YOUR_CALM
    assert p.released and not p.released[0][1]  # the open exchange was abandoned


def test_window_updates_earned_by_data_sent_are_no_flood() -> None:
    # a download answered with a WINDOW_UPDATE per DATA frame, as browsers do
    p = Play()
    p.start()
    p.send(p.client.request(1))
    link = p.links[0]
    p.backend(link, b"HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n")
    for _ in range(300):
        p.backend(link, b"y" * 16384)
        for f in p.frames():
            if f.kind == DATA:
                p.send(window_update(1, len(f.payload)) + window_update(0, len(f.payload)))
    assert p.closed is None


def test_a_header_block_must_complete_in_time() -> None:
    p = Play()
    p.start()
    p.send(frame(HEADERS, 0, 1, b"\x82"))
    p.tick(9.9)
    assert p.closed is None
    p.tick(0.2)
    assert goaway(p)[1] == ENHANCE_YOUR_CALM and p.closed is False


def test_the_preface_must_come_in_time() -> None:
    p = Play()
    p.frames()
    p.tick(10.1)  # [timeouts] request_head
    assert goaway(p)[1] == 0 and p.closed is False


def test_an_idle_connection_is_closed() -> None:
    p = Play(extra="[http2]\nidle_timeout = 30")
    p.start()
    p.send(p.client.request(1))
    p.tick(50)  # a stream in progress: not idle (its own deadline is the exchange's)
    assert p.closed is None
    p.backend(p.links[0], b"HTTP/1.1 204 No Content\r\n\r\n")
    p.frames()
    p.tick(29)
    assert p.closed is None
    p.tick(1.5)
    assert goaway(p) == (1, 0) and p.closed is False


def test_violations_are_logged_once_per_connection_and_counted(caplog) -> None:
    before = limits.VIOLATIONS.get(limits.STREAMS, 0)
    p = Play(extra="[http2]\nmax_concurrent_streams = 1")
    p.start()
    with caplog.at_level(logging.WARNING, "l7lb.proxy"):
        p.send(p.client.request(1))
        for sid in (3, 5, 7):
            p.send(p.client.request(sid))
    assert limits.VIOLATIONS[limits.STREAMS] - before == 3
    lines = [r.getMessage() for r in caplog.records if "concurrent streams" in r.getMessage()]
    assert lines == ["192.0.2.1: HTTP/2 concurrent streams: more than 1 streams"]


def test_frames_on_stream_zero_and_bad_sizes_are_connection_errors() -> None:
    for bad in (
        frame(DATA, 0, 0, b"x"),
        frame(HEADERS, END_HEADERS, 2, b"\x82"),  # an even (server) stream id
        frame(RST_STREAM, 0, 1, b"\x00"),
        frame(RST_STREAM, 0, 99, b"\x00\x00\x00\x08"),  # an idle stream
        ping(b"short"),
        window_update(0, 0),
        frame(0x5, END_HEADERS, 1, b"\x00\x00\x00\x02"),  # PUSH_PROMISE from a client
        frame(CONTINUATION, END_HEADERS, 1, b""),
        frame(DATA, END_STREAM, 1, b"\x00" * 16385),  # over SETTINGS_MAX_FRAME_SIZE
    ):
        p = Play()
        p.start()
        p.send(bad)
        frames = p.frames()
        assert frames and frames[-1].kind == GOAWAY and frames[-1].error_code() != 0, bad[:9]
        assert p.closed is False


def test_data_beyond_the_stream_window_is_a_stream_error() -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1, b"/", b"POST", end_stream=False))
    p.backend_full(p.links[0], True)  # nothing is handed back
    for _ in range(3):
        p.send(data(1, b"z" * 16384))
    p.send(data(1, b"z" * 16383))
    assert p.frames() == []  # exactly the window: fine
    p.send(data(1, b"z"))  # one byte beyond it
    [f] = p.frames()
    assert (f.kind, f.sid, f.error_code()) == (RST_STREAM, 1, 3)  # FLOW_CONTROL_ERROR
    assert p.closed is None


def test_after_end_stream_data_is_a_stream_error() -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1))
    p.send(frame(DATA, END_STREAM, 1, b"late"))
    [f] = p.frames()
    assert (f.kind, f.flags, f.error_code()) == (RST_STREAM, 0, 5)  # STREAM_CLOSED
    assert END_STREAM == 1
