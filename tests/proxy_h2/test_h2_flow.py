"""Response bodies within the client's windows, back-pressure to the backend, drain, h2c."""

from __future__ import annotations

from h2play import Play
from h2wire import (
    DATA,
    END_STREAM,
    GOAWAY,
    HEADERS,
    PING,
    SETTINGS,
    ping,
    preface,
    settings,
    window_update,
)

from l7lb.proxy.commands import ToClient
from l7lb.proxy.h1 import H1Connection
from l7lb.proxy.h2 import H2Connection
from l7lb.proxy.h2c import PriorKnowledge

BIG = 200_000


def data_bytes(frames, sid: int) -> int:
    return sum(len(f.payload) for f in frames if f.kind == DATA and f.sid == sid)


def test_a_response_stops_at_the_window_and_goes_on_as_it_opens() -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1))
    [link] = p.links
    p.backend(link, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG)
    p.frames()
    p.backend(link, b"a" * 50_000)
    p.backend(link, b"a" * 50_000)
    frames = p.frames()
    # 65535 bytes: the connection's and the stream's window, in frames of at most 16384
    assert data_bytes(frames, 1) == 65535
    assert max(len(f.payload) for f in frames) == 16384
    assert link.transport.reading  # 34465 bytes wait: under [http2] stream_buffer
    p.backend(link, b"a" * 50_000)  # 84465 wait: over 64 KiB, the backend is paused
    assert not link.transport.reading
    p.send(window_update(0, 100_000) + window_update(1, 100_000))
    assert data_bytes(p.frames(), 1) == 84465
    assert link.transport.reading  # drained: read again
    p.backend(link, b"a" * 50_000)
    frames = p.frames()
    assert data_bytes(frames, 1) == 15535  # what is left of the windows
    p.send(window_update(0, 100_000) + window_update(1, 100_000))
    frames = p.frames()
    assert data_bytes(frames, 1) == 34465
    assert frames[-1].flags == END_STREAM
    assert p.conn.streams == {}


def test_a_stream_whose_window_is_closed_does_not_hold_the_others() -> None:
    p = Play()
    p.start(initial_window_size=1000)
    p.send(p.client.request(1) + p.client.request(3))
    slow, fast = p.links
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"
    p.backend(slow, head + b"s" * 5000)
    p.backend(fast, head + b"f" * 5000)
    frames = p.frames()
    assert data_bytes(frames, 1) == 1000 and data_bytes(frames, 3) == 1000
    p.send(window_update(3, 4000))  # only the second stream's window opens
    frames = p.frames()
    assert data_bytes(frames, 3) == 4000 and data_bytes(frames, 1) == 0
    assert [f.flags for f in frames if f.kind == DATA][-1] == END_STREAM


def test_the_connection_window_is_shared_a_frame_at_a_time() -> None:
    p = Play()
    p.start(initial_window_size=1_000_000, max_frame_size=16384)
    p.send(b"".join(p.client.request(s) for s in (1, 3, 5)))
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
    for link in p.links:
        p.backend(link, head + b"x" * 100_000)
    frames = p.frames()
    assert sum(data_bytes(frames, s) for s in (1, 3, 5)) == 65535  # the connection window
    p.send(window_update(0, 3 * 16384))
    frames = [f for f in p.frames() if f.kind == DATA]
    assert sorted(f.sid for f in frames) == [1, 3, 5]  # one frame each, not all to one


def test_settings_initial_window_size_changes_open_streams() -> None:
    p = Play()
    p.start(initial_window_size=0)
    p.send(p.client.request(1))
    p.backend(p.links[0], b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789")
    assert [f.kind for f in p.frames()] == [HEADERS]
    p.send(settings(initial_window_size=4))
    frames = p.frames()
    assert [(f.kind, f.payload) for f in frames] == [(SETTINGS, b""), (DATA, b"0123")]
    p.send(settings(initial_window_size=100))
    frames = p.frames()
    assert frames[-1].payload == b"456789" and frames[-1].flags == END_STREAM


def test_a_client_that_never_opens_its_window_is_timed_out_and_nothing_leaks() -> None:
    p = Play(extra="[timeouts]\nclient_idle = 5")
    p.start(initial_window_size=0)
    p.send(p.client.request(1))
    [link] = p.links
    p.backend(link, b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 70_000)
    assert not link.transport.reading
    p.tick(4)
    assert p.closed is None
    p.tick(7)  # between one and two client_idle without progress
    frames = p.frames()
    assert frames[-1].kind == GOAWAY
    assert p.closed is False
    assert p.released == [(link, False)]  # the backend request was abandoned and closed
    assert p.conn.streams == {} and p.conn.next_deadline() == float("inf")


def test_the_socket_buffer_full_pauses_reading_and_holds_data() -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1))
    [link] = p.links
    p.conn.client_full(True)
    p.run()
    assert p.client_paused == {"CLIENT_FULL"}
    p.backend(link, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"z" * 100)
    assert [f.kind for f in p.frames()] == [HEADERS]  # the body waits in the stream
    p.conn.client_full(False)
    p.run()
    assert p.client_paused == set()
    assert [(f.kind, f.flags) for f in p.frames()] == [(DATA, END_STREAM)]


def test_drain_announces_goaway_then_names_the_last_stream_after_the_ping() -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1))
    p.drain()
    first, probe = p.frames()
    assert (first.kind, first.last_stream_id(), first.error_code()) == (GOAWAY, 2**31 - 1, 0)
    assert probe.kind == PING
    p.send(p.client.request(3))  # in flight when the GOAWAY left: still served
    assert len(p.links) == 2
    p.send(ping(probe.payload, ack=True))
    [final] = p.frames()
    assert (final.kind, final.last_stream_id()) == (GOAWAY, 3)
    p.send(p.client.request(5))  # after the final GOAWAY: ignored
    assert len(p.links) == 2 and p.frames() == []
    for link in p.links:
        p.backend(link, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert p.closed is False  # the last stream done: closed, cleanly
    assert [f.sid for f in p.frames() if f.kind == DATA] == [1, 3]


def test_drain_without_a_ping_answer_goes_on_after_a_second() -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1))
    p.drain()
    p.frames()
    p.tick(1.1)
    [final] = p.frames()
    assert (final.kind, final.last_stream_id()) == (GOAWAY, 1)


def test_an_idle_connection_closes_once_the_ping_is_answered() -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1))
    p.backend(p.links[0], b"HTTP/1.1 204 No Content\r\n\r\n")
    p.frames()
    p.drain()
    first, probe = p.frames()
    assert (first.kind, first.last_stream_id()) == (GOAWAY, 2**31 - 1)
    # a request the client sent before it read the GOAWAY is still served
    p.send(p.client.request(3))
    p.send(ping(probe.payload, ack=True))
    [final] = p.frames()
    assert (final.kind, final.last_stream_id(), final.error_code()) == (GOAWAY, 3, 0)
    assert p.closed is None
    p.backend(p.links[1], b"HTTP/1.1 204 No Content\r\n\r\n")
    assert [f.kind for f in p.frames()] == [HEADERS]
    assert p.closed is False


def test_an_idle_connection_without_a_ping_answer_closes_after_a_second() -> None:
    p = Play()
    p.start()
    p.drain()
    p.frames()
    p.tick(1.1)
    [final] = p.frames()
    assert (final.kind, final.last_stream_id(), final.error_code()) == (GOAWAY, 0, 0)
    assert p.closed is False


def prior_knowledge(p: Play) -> PriorKnowledge:
    return PriorKnowledge(p.rt, p.rt.vips["v"], "192.0.2.9", p.now)


def test_prior_knowledge_takes_the_preface_in_pieces() -> None:
    p = Play()
    engine = prior_knowledge(p)
    raw = preface()
    for i in range(0, len(raw), 5):
        engine.receive(raw[i : i + 5], p.now)
    assert isinstance(engine.inner, H2Connection)
    sent = b"".join(c.data for c in engine.out if isinstance(c, ToClient))
    assert sent.startswith(b"\x00\x00\x0c\x04")  # l7lb's SETTINGS first


def test_prior_knowledge_leaves_http11_to_h1() -> None:
    p = Play()
    engine = prior_knowledge(p)
    engine.receive(b"PRI", p.now)  # could still be the preface
    assert isinstance(engine.inner, H1Connection) and engine.held == b"PRI"
    engine.receive(b"NT / HTTP/1.1\r\n", p.now)
    assert engine.held is None and isinstance(engine.inner, H1Connection)
    engine2 = prior_knowledge(p)
    engine2.receive(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", p.now)
    assert isinstance(engine2.inner, H1Connection) and engine2.out  # Connect for the request
