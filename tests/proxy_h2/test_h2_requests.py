"""The HTTP/2 engine, request by request: exact frames in, exact frames and backend bytes out."""

from __future__ import annotations

import gc

import hpack
from h2play import Play
from h2wire import (
    ACK,
    DATA,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    PING,
    PROTOCOL_ERROR,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
    Frame,
    data,
    frame,
    ping,
    rst,
    settings,
)

from l7lb.proxy.h2 import GONE, H2Connection

OK5 = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


def test_the_server_preface_is_settings_then_the_connection_window() -> None:
    p = Play()
    # l7lb speaks first, before the client preface
    assert bytes(p.to_client) == (
        b"\x00\x00\x0c\x04\x00\x00\x00\x00\x00"  # SETTINGS, 12 bytes
        b"\x00\x03\x00\x00\x00\x64"  # MAX_CONCURRENT_STREAMS 100
        b"\x00\x06\x00\x00\x80\x00"  # MAX_HEADER_LIST_SIZE 32768
        b"\x00\x00\x04\x08\x00\x00\x00\x00\x00"  # WINDOW_UPDATE on stream 0
        + (1048576 - 65535).to_bytes(4, "big")
    )
    p.to_client.clear()
    assert [(f.kind, f.flags) for f in p.start()] == [(SETTINGS, 1)]  # our ACK of theirs


def test_get_reaches_the_backend_as_http11_and_the_response_is_two_frames() -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1, b"/a?b=c", extra=[(b"user-agent", b"t/1")]))
    [link] = p.links
    assert p.written(link) == (
        b"GET /a?b=c HTTP/1.1\r\n"
        b"host: www.example.com\r\n"
        b"user-agent: t/1\r\n"
        b"x-forwarded-for: 192.0.2.1\r\n"
        b"x-forwarded-proto: https\r\n"
        b"x-forwarded-host: www.example.com\r\n"
        b"via: 2.0 l7lb\r\n"
        b"\r\n"
    )
    p.backend(link, OK5)
    head, body = p.frames()
    assert (head.kind, head.flags, head.sid) == (HEADERS, END_HEADERS, 1)
    assert p.client.decode(head) == [
        (b":status", b"200"),
        (b"content-length", b"5"),
        (b"via", b"1.1 l7lb"),
    ]
    # the length was known: END_STREAM rides on the last DATA frame
    assert body == Frame(DATA, END_STREAM, 1, b"hello")
    assert p.released == [(link, True)]  # the backend connection goes back to the pool
    assert p.conn.streams == {}
    [record] = p.logs
    assert (record.version, record.status, record.target, record.host) == (
        b"2.0",
        200,
        b"/a?b=c",
        b"www.example.com",
    )


def test_a_bodyless_response_ends_the_stream_on_its_headers() -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1, method=b"HEAD"))
    [link] = p.links
    assert p.written(link).startswith(b"HEAD / HTTP/1.1\r\n")
    p.backend(link, b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n")
    [head] = p.frames()
    assert head.flags == END_HEADERS | END_STREAM
    assert (b"content-length", b"5000") in p.client.decode(head)


def test_a_chunked_response_ends_with_an_empty_data_frame() -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1))
    [link] = p.links
    p.backend(link, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    head, body = p.frames()
    assert (b"transfer-encoding", b"chunked") not in p.client.decode(head)
    assert (body.flags, body.payload) == (0, b"hello")
    p.backend(link, b"0\r\n\r\n")
    [end] = p.frames()
    assert (end.kind, end.flags, end.payload) == (DATA, END_STREAM, b"")


def test_a_local_answer_renders_as_headers_and_data() -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1, b"/local/x"))
    assert p.links == []
    head, body = p.frames()
    assert p.client.decode(head) == [
        (b":status", b"200"),
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"6"),
    ]
    assert (body.flags, body.payload) == (END_STREAM, b"local\n")


def test_a_post_with_content_length_streams_its_body_to_the_backend() -> None:
    p = Play()
    p.start()
    p.send(
        p.client.request(1, b"/up", b"POST", extra=[(b"content-length", b"10")], end_stream=False)
    )
    [link] = p.links
    assert b"content-length: 10\r\n" in p.written(link)
    p.send(data(1, b"01234"))
    assert p.written(link) == b"01234"
    p.send(data(1, b"56789", end=True))
    assert p.written(link) == b"56789"
    p.backend(link, OK5)
    assert [f.kind for f in p.frames()] == [HEADERS, DATA]


def test_a_body_without_content_length_is_chunked_toward_the_backend() -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1, b"/up", b"POST", end_stream=False))
    [link] = p.links
    head = p.written(link)
    assert b"transfer-encoding: chunked\r\n" in head and b"content-length" not in head
    p.send(data(1, b"abc"))
    p.send(data(1, b"", end=True))
    assert p.written(link) == b"3\r\nabc\r\n0\r\n\r\n"


def test_cookie_crumbs_are_joined_and_te_trailers_dropped() -> None:
    p = Play()
    p.start()
    extra = [(b"cookie", b"a=1"), (b"te", b"trailers"), (b"cookie", b"b=2")]
    p.send(p.client.request(1, extra=extra))
    [link] = p.links
    sent = p.written(link)
    assert b"cookie: a=1; b=2\r\n" in sent
    assert sent.count(b"cookie") == 1 and b"te:" not in sent


def test_trailers_end_the_request_body() -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1, b"/up", b"POST", end_stream=False))
    [link] = p.links
    p.written(link)
    p.send(data(1, b"abc"))
    p.send(p.client.headers(1, [(b"x-checksum", b"1")], end_stream=True))
    assert p.written(link) == b"3\r\nabc\r\n0\r\n\r\n"  # trailers are not forwarded


def test_requests_on_many_streams_get_one_backend_connection_each() -> None:
    p = Play()
    p.start()
    p.send(b"".join(p.client.request(sid, b"/%d" % sid) for sid in (1, 3, 5)))
    assert len(p.links) == 3
    # answered out of order: each stream gets its own response
    for link, sid in reversed(list(zip(p.links, (1, 3, 5), strict=True))):
        p.backend(link, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n%d" % (sid % 10))
        assert [(f.kind, f.sid) for f in p.frames()] == [(HEADERS, sid), (DATA, sid)]


def test_malformed_requests_are_stream_errors_and_reach_no_backend() -> None:
    cases = [
        [(b"X-Upper", b"1")],
        [(b"connection", b"keep-alive")],
        [(b"transfer-encoding", b"chunked")],
        [(b"upgrade", b"websocket")],
        [(b"keep-alive", b"5")],
        [(b"proxy-connection", b"x")],
        [(b"te", b"gzip")],
        [(b"host", b"other.example.com")],
        [(b"x", b" leading space")],
        [(b"x", b"a\x00b")],
    ]
    p = Play()
    p.start()
    sid = 1
    for extra in cases:
        p.send(p.client.request(sid, extra=extra))
        [f] = p.frames()
        assert (f.kind, f.sid, f.error_code()) == (RST_STREAM, sid, PROTOCOL_ERROR), extra
        sid += 2
    assert p.links == []
    assert p.closed is None  # the connection serves on
    p.send(p.client.request(sid))
    assert len(p.links) == 1


def test_pseudo_header_rules() -> None:
    base = [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/")]
    cases = [
        [(b":method", b"GET"), (b":scheme", b"https")],  # no :path
        [*base, (b":path", b"/again")],
        [*base, (b":status", b"200")],
        [*base, (b":protocol", b"websocket")],
        [(b":method", b"GET"), (b"x", b"1"), (b":scheme", b"https"), (b":path", b"/")],
        [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"")],
        [(b":method", b"GET"), (b":scheme", b"ftp"), (b":path", b"/")],
        [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"http://x/")],
        [*base, (b":authority", b"")],
        [*base, (b":authority", b"user@www.example.com")],
    ]
    p = Play()
    p.start()
    for i, fields in enumerate(cases):
        sid = 2 * i + 1
        p.send(p.client.headers(sid, fields))
        [f] = p.frames()
        assert (f.kind, f.error_code()) == (RST_STREAM, PROTOCOL_ERROR), fields
    assert p.links == []


def test_requests_http11_refuses_get_the_same_status_on_their_stream() -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1, authority=b"bad host"))  # check_authority: 400
    head, body = p.frames()
    assert p.client.decode(head)[0] == (b":status", b"400")
    assert body.flags == END_STREAM
    p.send(p.client.request(3, method=b"CONNECT"))
    head, _ = p.frames()
    assert p.client.decode(head)[0] == (b":status", b"501")
    p.send(p.client.request(5, b"/" + b"x" * 9000))  # [http] max_uri_length 8192: 414
    head, _ = p.frames()
    assert p.client.decode(head)[0] == (b":status", b"414")
    assert p.links == [] and p.closed is None


def test_content_length_must_match_the_data() -> None:
    p = Play()
    p.start()
    cl = [(b"content-length", b"3")]
    p.send(p.client.request(1, b"/", b"POST", extra=cl, end_stream=False))
    [link] = p.links
    p.written(link)
    p.send(data(1, b"abcd"))  # one byte too many
    [f] = p.frames()
    assert (f.kind, f.error_code()) == (RST_STREAM, PROTOCOL_ERROR)
    assert p.written(link) == b""  # nothing beyond the head reached the backend
    assert p.released == [(link, False)]  # the half-sent request's connection is closed
    p.send(p.client.request(3, b"/", b"POST", extra=cl, end_stream=False))
    p.send(data(3, b"ab", end=True))  # one too few
    assert [(f.kind, f.sid) for f in p.frames()] == [(RST_STREAM, 3)]
    p.send(p.client.request(5, b"/", b"POST", extra=cl, end_stream=True))  # none at all
    assert [(f.kind, f.sid) for f in p.frames()] == [(RST_STREAM, 5)]
    assert p.logs[0].status == 400


def test_a_client_reset_abandons_the_backend_request_at_once() -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1))
    [link] = p.links
    p.backend(link, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
    p.frames()
    p.send(rst(1))
    assert p.released == [(link, False)]  # closed, never reused mid-response
    assert p.conn.streams == {}
    assert p.logs[0].status == 200  # its head had gone out
    # a reset before the head went out is logged 499
    p.send(p.client.request(3))
    p.send(rst(3))
    assert p.logs[1].status == 499 and p.released[1] == (p.links[1], False)


def test_a_response_that_ended_cleanly_keeps_its_backend_connection_when_reset() -> None:
    p = Play()
    p.start(initial_window_size=0)
    p.send(p.client.request(1))
    [link] = p.links
    p.backend(link, OK5)  # the body waits for a window; the exchange is over
    assert p.released == [(link, True)]
    p.send(rst(1))
    assert p.released == [(link, True)]
    assert p.conn.streams == {}


def test_a_request_body_the_answer_did_not_need_is_refused_with_no_error() -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1, b"/local", b"POST", end_stream=False))
    frames = p.frames()
    assert [(f.kind, f.flags) for f in frames] == [
        (HEADERS, END_HEADERS),
        (DATA, END_STREAM),
        (RST_STREAM, 0),
    ]
    assert frames[2].error_code() == 0  # NO_ERROR: stop sending, the response is complete
    p.send(data(1, b"late"))  # crossed the reset: dropped, its window handed back
    assert p.closed is None and p.conn.streams == {}


def test_ping_is_answered_and_settings_acknowledged() -> None:
    p = Play()
    p.start()
    p.send(ping(b"abcdefgh"))
    [f] = p.frames()
    assert f == Frame(PING, ACK, 0, b"abcdefgh")
    p.send(settings(initial_window_size=100000))
    [ack] = p.frames()
    assert (ack.kind, ack.flags, ack.payload) == (SETTINGS, 1, b"")


def test_a_bad_preface_is_a_connection_error() -> None:
    p = Play()
    p.to_client.clear()
    p.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    [goaway] = p.frames()
    assert (goaway.kind, goaway.error_code()) == (GOAWAY, PROTOCOL_ERROR)
    assert p.closed is False


def test_hpack_state_follows_the_client_across_refused_streams() -> None:
    p = Play(extra="[http2]\nmax_concurrent_streams = 1")
    p.start()
    p.send(p.client.request(1, extra=[(b"x-a", b"indexed-1")]))
    # refused (the limit), but its block adds x-b to the client's table all the same
    p.send(p.client.request(3, extra=[(b"x-b", b"indexed-2")]))
    [f] = p.frames()
    assert (f.kind, f.sid, f.error_code()) == (RST_STREAM, 3, 7)
    p.backend(p.links[0], OK5)
    p.frames()
    p.send(p.client.request(5, extra=[(b"x-b", b"indexed-2")]))  # now one byte: an index
    assert b"x-b: indexed-2\r\n" in p.written(p.links[1])


def test_the_window_update_for_request_bodies_waits_for_the_backend() -> None:
    p = Play()
    p.start()
    p.send(p.client.request(1, b"/up", b"POST", end_stream=False))
    [link] = p.links
    p.written(link)
    p.backend_full(link, True)  # the backend's socket buffer is full
    p.send(data(1, b"x" * 16384) + data(1, b"x" * 16384) + data(1, b"x" * 16384))
    assert p.frames() == []  # nothing handed back while the backend does not take it
    p.backend_full(link, False)
    updates = [(f.sid, f.increment()) for f in p.frames() if f.kind == WINDOW_UPDATE]
    assert updates == [(1, 49152)]  # the stream's window; the connection's comes later
    for _ in range(15):  # a client within its window: two frames, then an update comes
        p.send(data(1, b"x" * 16384) * 2)
        updates += [(f.sid, f.increment()) for f in p.frames() if f.kind == WINDOW_UPDATE]
    # half the connection's window (1 MiB) handed back at once, not a frame at a time
    assert updates[1:] == [(1, 32768)] * 14 + [(0, 524288), (1, 32768)]


def test_hpack_decoder_survives_a_huffman_table_and_literal_mix() -> None:
    p = Play()
    p.start()
    enc = hpack.Encoder()
    block = bytes(
        enc.encode(
            [
                (b":method", b"GET"),
                (b":scheme", b"https"),
                (b":authority", b"a.example"),
                (b":path", b"/p"),
                (b"accept", b"*/*"),
            ],
            huffman=True,
        )
    )
    p.client.encoder = enc
    p.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
    [link] = p.links
    assert p.written(link).startswith(b"GET /p HTTP/1.1\r\nhost: a.example\r\naccept: */*\r\n")


def _h2_connections_alive() -> int:
    return sum(1 for o in gc.get_objects() if type(o) is H2Connection)


def test_a_connection_that_is_gone_is_freed_without_the_cyclic_collector() -> None:
    """Its parts keep it as their host; once it is gone they let go (``GONE``), so dropping
    the last reference frees it at once: no collector pass per HTTP/2 connection."""
    gc.collect()
    before = _h2_connections_alive()
    gc.disable()
    try:
        p = Play()
        p.start()
        p.send(p.client.request(1))  # one stream answered, one in flight when it goes
        p.backend(p.links[0], OK5)
        p.send(p.client.request(3))
        p.conn.lost(p.now)
        p.run()
        assert [r.status for r in p.logs] == [200, 499]
        assert p.released[-1] == (p.links[1], False)
        conn = p.conn
        assert conn.flow.owner is GONE and conn.control.host is GONE
        assert conn.table.host is GONE and conn.table.owner is GONE
        assert conn.requests.host is GONE and conn.requests.owner is GONE
        # what still comes after the end does nothing
        conn.lost(p.now)
        conn.receive(p.client.request(5), p.now)
        p.run()
        assert len(p.logs) == 2 and len(p.links) == 2
        del p, conn
        assert _h2_connections_alive() == before
    finally:
        gc.enable()
