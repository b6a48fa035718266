"""Playbooks for the HTTP/1.1 data path: the exact bytes each side sees, and the record.

Every case gives the client's and the backend's bytes and asserts the bytes out on each
side; they run in milliseconds with no sockets (see playbook.py).
"""

from __future__ import annotations

import pytest

from l7lb.proxy.flow import Pause
from tests.proxy.playbook import Play, pool_config

FWD = b"x-forwarded-for: 192.0.2.7\r\nx-forwarded-proto: http\r\n"
VIA = b"via: 1.1 l7lb\r\n"


def fwd(host: bytes = b"h") -> bytes:
    return FWD + b"x-forwarded-host: " + host + b"\r\n" + VIA


@pytest.fixture
def play() -> Play:
    return Play(pool_config())


def test_keep_alive_get(play: Play) -> None:
    play.client(
        b"GET /a?b=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: t/1\r\nConnection: keep-alive\r\n\r\n"
    )
    assert play.backend_got() == (
        b"GET /a?b=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: t/1\r\n" + fwd() + b"\r\n"
    )
    assert play.client_got() == b""
    play.backend(
        b"HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"
    )
    assert play.client_got() == (
        b"HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 2\r\n" + VIA + b"\r\nok"
    )
    assert play.current().released == "reused"
    assert not play.closed
    (rec,) = play.records
    assert (rec.status, rec.bytes_sent, rec.server, rec.pool, rec.host) == (
        200,
        2,
        "s1",
        "web",
        b"h",
    )
    assert rec.user_agent == b"t/1"
    # the next request reuses the idle connection
    play.client(b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n")
    assert len(play.backends) == 1
    assert play.backend_got() == b"GET /b HTTP/1.1\r\nHost: h\r\n" + fwd() + b"\r\n"


def test_http10_client_gets_http11_backend_request_and_keep_alive_answer(play: Play) -> None:
    play.client(b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert play.backend_got() == (
        b"GET /x HTTP/1.1\r\nhost: 10.0.0.1:80\r\n" + FWD + b"via: 1.0 l7lb\r\n\r\n"
    )
    play.backend(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert play.client_got() == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + VIA + b"connection: keep-alive\r\n\r\n"
    )
    assert not play.closed


def test_pipelined_requests_are_answered_in_order(play: Play) -> None:
    play.client(
        b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
        b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
        b"GET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    )
    # one exchange at a time: /2 waits for /1's response
    assert play.backend_got() == b"GET /1 HTTP/1.1\r\nHost: h\r\n" + fwd() + b"\r\n"
    play.backend(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1")
    assert play.backend_got() == b"GET /2 HTTP/1.1\r\nHost: h\r\n" + fwd() + b"\r\n"
    play.backend(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2")
    assert play.backend_got() == b"GET /3 HTTP/1.1\r\nHost: h\r\n" + fwd() + b"\r\n"
    play.backend(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n3")
    assert play.client_got() == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n" + VIA + b"\r\n1"
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n" + VIA + b"\r\n2"
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n" + VIA + b"connection: close\r\n\r\n3"
    )
    assert play.closed == "closed"
    assert [r.target for r in play.records] == [b"/1", b"/2", b"/3"]
    assert len(play.backends) == 1  # one backend connection carried all three


def test_a_long_pipeline_pauses_the_client_and_is_answered_in_order(play: Play) -> None:
    # 40 pipelined requests in one read, 20 more half-way: the engine keeps them in a list
    # read from an index, pauses the client while more than 16 events wait, drops what it
    # has taken while the list never drains, and answers every one in order
    def burst(first: int, n: int) -> bytes:
        return b"".join(b"GET /%d HTTP/1.1\r\nHost: h\r\n\r\n" % i for i in range(first, first + n))

    play.client(burst(0, 40))
    assert Pause.PIPELINE in play.paused
    for i in range(60):
        if i == 20:
            play.client(burst(40, 20))
        assert play.backend_got() == b"GET /%d HTTP/1.1\r\nHost: h\r\n" % i + fwd() + b"\r\n"
        play.backend(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%d" % (len(b"%d" % i), i))
        # /i+1 has begun: paused while more than 16 events (a head and an end per request)
        # wait behind it
        assert (Pause.PIPELINE in play.paused) == (60 - i - 2 > 8), i
    assert [r.target for r in play.records] == [b"/%d" % i for i in range(60)]
    assert play.client_got() == b"".join(
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n" % len(b"%d" % i) + VIA + b"\r\n%d" % i
        for i in range(60)
    )
    assert not play.closed and len(play.backends) == 1
    # the list drained: the next request starts from an empty queue
    play.client(b"GET /last HTTP/1.1\r\nHost: h\r\n\r\n")
    assert play.backend_got() == b"GET /last HTTP/1.1\r\nHost: h\r\n" + fwd() + b"\r\n"


def test_expect_100_continue_is_relayed(play: Play) -> None:
    play.client(
        b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    )
    assert play.backend_got() == (
        b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
        + fwd()
        + b"\r\n"
    )
    play.backend(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert play.client_got() == b"HTTP/1.1 100 Continue\r\n\r\n"
    play.client(b"hello")
    assert play.backend_got() == b"hello"
    play.backend(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    assert play.client_got() == b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n" + VIA + b"\r\n"
    assert play.records[0].status == 201


@pytest.mark.parametrize(
    ("method", "status", "response", "to_client"),
    [
        # a HEAD response announces a length it does not send
        (b"HEAD", b"200 OK", b"Content-Length: 9\r\n", b"Content-Length: 9\r\n"),
        (b"GET", b"204 No Content", b"", b""),
        # a Content-Length in a 204 is dropped (RFC 9110 8.6)
        (b"GET", b"204 No Content", b"Content-Length: 0\r\n", b""),
        (b"GET", b"304 Not Modified", b"ETag: \"x\"\r\nContent-Length: 9\r\n",
         b"ETag: \"x\"\r\nContent-Length: 9\r\n"),
    ],
)  # fmt: skip
def test_responses_without_a_body(
    play: Play, method: bytes, status: bytes, response: bytes, to_client: bytes
) -> None:
    play.client(method + b" / HTTP/1.1\r\nHost: h\r\n\r\n")
    play.backend_got()
    play.backend(b"HTTP/1.1 " + status + b"\r\n" + response + b"\r\n")
    assert play.client_got() == b"HTTP/1.1 " + status + b"\r\n" + to_client + VIA + b"\r\n"
    assert play.current().released == "reused"
    assert not play.closed


def test_bytes_after_a_body_less_response_close_the_backend_connection(play: Play) -> None:
    play.client(b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n")
    # a server that sends a body to HEAD would answer the next request with it
    play.backend(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody")
    assert play.client_got() == b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n" + VIA + b"\r\n"
    assert play.current().released == "closed"


def test_chunked_response_is_rechunked_for_http11(play: Play) -> None:
    play.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    play.backend(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n")
    assert play.client_got() == (
        b"HTTP/1.1 200 OK\r\n" + VIA + b"transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n"
    )
    play.backend(b"2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n")
    assert play.client_got() == b"2\r\nde\r\n0\r\n\r\n"
    assert play.records[0].bytes_sent == 5


def test_close_delimited_response_is_chunked_for_http11_and_closed_for_http10() -> None:
    for version, ending in ((b"1.1", b"0\r\n\r\n"), (b"1.0", b"")):
        play = Play(pool_config())
        play.client(b"GET / HTTP/" + version + b"\r\nHost: h\r\nConnection: keep-alive\r\n\r\n")
        play.backend(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nsome")
        play.backend(b" bytes")
        play.backend_closes()
        got = play.client_got()
        if version == b"1.1":
            assert got == (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + VIA
                + b"transfer-encoding: chunked\r\n\r\n4\r\nsome\r\n6\r\n bytes\r\n" + ending
            )  # fmt: skip
            assert not play.closed
        else:
            assert got == (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + VIA
                + b"connection: close\r\n\r\nsome bytes"
            )  # fmt: skip
            assert play.closed == "closed"
        assert play.records[0].status == 200
        assert play.current().released == "closed"


def test_chunked_request_body_is_reframed(play: Play) -> None:
    play.client(b"PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    play.client(b"3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n")
    assert play.backend_got() == (
        b"PUT /c HTTP/1.1\r\nHost: h\r\n" + fwd()
        + b"transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )  # fmt: skip


def test_body_arriving_before_the_backend_connection_waits_and_is_bounded() -> None:
    play = Play(pool_config())
    play.failures = []  # connects succeed, but only when the test says: queue them
    play.conn.receive(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 70000\r\n\r\n" + b"x" * 70000, play.now
    )
    # before the glue runs the Connect, the body is held and reading pauses past 64 KiB
    names = [type(c).__name__ for c in play.conn.out]
    assert names[0] == "Connect" and "PauseClient" in names
    play.run()
    assert Pause.NO_BACKEND not in play.paused  # resumed once the head and body went out
    got = play.backend_got()
    assert got.endswith(b"\r\n\r\n" + b"x" * 70000)


def test_upgrade_becomes_a_tunnel(play: Play) -> None:
    play.client(
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly"
    )
    assert play.backend_got() == (
        b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n" + fwd()
        + b"connection: upgrade\r\n\r\n"
    )  # fmt: skip
    play.backend(
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nhi"
    )
    assert play.client_got() == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" + VIA
        + b"connection: upgrade\r\n\r\nhi"
    )  # fmt: skip
    assert play.tunnel is play.current()
    assert play.backend_got() == b"early"  # what the client sent after its request
    play.client(b"ping")
    assert play.backend_got() == b"ping"
    play.backend(b"pong")
    assert play.client_got() == b"pong"
    assert play.records[0].status == 101
    play.backend_closes()
    assert play.closed == "closed"
    # the server slot is held for the tunnel's life, then released
    assert play.rt.pools["web"].state.by_name["s1"].active == 0


def test_101_without_an_upgrade_request_is_a_502(play: Play) -> None:
    play.client(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    play.backend(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n")
    got = play.client_got()
    assert got.startswith(b"HTTP/1.1 502 Bad Gateway\r\n") and b"connection: close" in got
    assert play.current().released == "aborted"


def test_local_answers_render_with_their_connection_header() -> None:
    play = Play(pool_config(routes='path_prefix = "/api"\n  pool = "web"'))
    play.client(b"GET /nope HTTP/1.1\r\nHost: h\r\n\r\n")
    assert play.client_got() == (
        b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: 44\r\nconnection: close\r\n\r\n"
        b"404 Not Found\nno route matches this request\n"
    )
    assert play.closed == "closed"
    assert play.records[0].status == 404 and play.records[0].backend_ms == -1.0
    assert play.backends == []


def test_redirect_keeps_the_connection_and_discards_nothing(play: Play) -> None:
    play = Play(
        pool_config(routes='redirect = { location = "https://{hostname}{uri}", status = 301 }')
    )
    play.client(b"HEAD /p?q HTTP/1.1\r\nHost: h:8080\r\n\r\n")
    assert play.client_got() == (
        b"HTTP/1.1 301 Moved Permanently\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: 29\r\nlocation: https://h/p?q\r\nconnection: keep-alive\r\n\r\n"
    )
    assert not play.closed


def test_location_pointing_at_the_realserver_is_rewritten(play: Play) -> None:
    play.client(b"GET /dir HTTP/1.1\r\nHost: www.example.com\r\n\r\n")
    play.backend(
        b"HTTP/1.1 301 Moved\r\nLocation: http://10.0.0.1:80/dir/\r\nContent-Length: 0\r\n\r\n"
    )
    assert play.client_got() == (
        b"HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n"
        b"location: http://www.example.com/dir/\r\n" + VIA + b"\r\n"
    )
