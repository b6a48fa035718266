"""The admin HTTP listener over real sockets on 127.0.0.1, with a fake supervisor."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fake_supervisor import FakeSupervisor

from l7lb.admin.api import AdminApi
from l7lb.admin.http_message import AdminRequest, AdminResponse
from l7lb.admin.http_server import AdminHttpServer
from l7lb.config.model import Address

TOKEN = b"0123456789abcdef0123456789abcdef"
TIMEOUT = 0.6
CAP = 3
_DATE = re.compile(rb"\r\nDate: [^\r]*\r\n")


@dataclass
class Running:
    port: int
    fake: FakeSupervisor
    server: AdminHttpServer
    loop: asyncio.AbstractEventLoop


@pytest.fixture(params=["h11", "httptools"])
def running(request: pytest.FixtureRequest) -> Iterator[Running]:
    fake = FakeSupervisor()
    api = AdminApi(fake, lambda: TOKEN)

    async def respond(req: AdminRequest) -> AdminResponse:
        if req.target == "/boom":
            raise RuntimeError("a handler bug")
        if req.target == "/slow":  # a reload that moves this very listener takes this long
            await asyncio.sleep(0.5)
            return AdminResponse(200, b"done\n")
        return await api.respond(req)

    server = AdminHttpServer(
        Address("127.0.0.1", 0),
        respond,
        parser_kind=request.param,
        max_connections=CAP,
        timeout=TIMEOUT,
    )
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(5)
    try:
        yield Running(server.port, fake, server, loop)
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def read_all(s: socket.socket) -> bytes:
    """Everything until the server closes (a test fails on its 5 s timeout otherwise)."""
    chunks = []
    while True:
        data = s.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def read_response(s: socket.socket) -> bytes:
    """One response with a Content-Length body."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = s.recv(65536)
        assert data, f"closed before a whole head: {buf!r}"
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
    while len(rest) < length:
        data = s.recv(65536)
        assert data
        rest += data
    assert len(rest) == length, "bytes beyond the response"
    return head + b"\r\n\r\n" + rest


def undated(response: bytes) -> bytes:
    assert len(_DATE.findall(response)) == response.count(b"HTTP/1.1 "), "a Date per response"
    return _DATE.sub(b"\r\n", response)


OK_HEALTHZ = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 3\r\n"
    b"Cache-Control: no-store\r\n"
    b"X-Content-Type-Options: nosniff\r\n"
)


def test_keep_alive_pipelining_and_head(running: Running) -> None:
    with connect(running.port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        assert undated(read_response(s)) == OK_HEALTHZ + b"\r\nok\n"
        # two at once: answered in order on the same connection
        s.sendall(
            b"HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        rest = read_all(s)
    assert undated(rest) == (OK_HEALTHZ + b"\r\n" + OK_HEALTHZ + b"Connection: close\r\n\r\nok\n")


def test_http_1_0_closes_after_the_answer(running: Running) -> None:
    with connect(running.port) as s:
        s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert undated(read_all(s)) == OK_HEALTHZ + b"Connection: close\r\n\r\nok\n"


@pytest.mark.parametrize(
    ("wire", "status"),
    [
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, b"400 Bad Request"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 9000 + b"\r\n\r\n", b"431 "),
        (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", b"414 "),
        (b"\x00\x01\x02", b"400 Bad Request"),
        (b"POST /api/reload HTTP/1.1\r\nHost: a\r\nContent-Length: 99999\r\n\r\n", b"413 "),
    ],
)
def test_hostile_input_gets_a_status_and_a_close(
    running: Running, wire: bytes, status: bytes
) -> None:
    with connect(running.port) as s:
        s.sendall(wire)
        answer = read_all(s)  # the server closes after it
    assert answer.startswith(b"HTTP/1.1 " + status)
    assert b"\r\nConnection: close\r\n" in answer
    assert running.fake.calls == []


def test_an_idle_connection_is_closed_quietly(running: Running) -> None:
    with connect(running.port) as s:
        t0 = time.monotonic()
        assert read_all(s) == b""
        assert TIMEOUT * 0.8 < time.monotonic() - t0 < TIMEOUT + 3
    with connect(running.port) as s:  # a keep-alive connection idles out the same way
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        read_response(s)
        assert read_all(s) == b""


def test_a_body_that_stops_coming_gets_408(running: Running) -> None:
    with connect(running.port) as s:
        s.sendall(b"POST /api/reload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert running.fake.calls == []


def test_a_slow_head_is_cut_at_the_deadline(running: Running) -> None:
    with connect(running.port) as s:
        t0 = time.monotonic()
        for piece in (b"GET /hea", b"lthz HTT", b"P/1.1\r\n"):  # slowloris, never finishing
            s.sendall(piece)
            time.sleep(TIMEOUT / 4)
        assert read_all(s) == b""
        assert time.monotonic() - t0 < TIMEOUT + 3


def test_connection_cap(running: Running) -> None:
    held = [connect(running.port) for _ in range(CAP)]
    try:
        time.sleep(0.1)  # let the server count them
        with connect(running.port) as extra:
            answer = read_all(extra)
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        assert answer.endswith(b"503 Service Unavailable: too many admin connections; try again\n")
    finally:
        for s in held:
            s.close()
    time.sleep(0.1)
    with connect(running.port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(s).startswith(b"HTTP/1.1 200 OK")


def test_a_handler_bug_is_a_500_and_the_listener_lives(running: Running) -> None:
    with connect(running.port) as s:
        s.sendall(b"GET /boom HTTP/1.1\r\nHost: a\r\n\r\n")
        answer = read_response(s)
        assert answer.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        assert read_response(s).startswith(b"HTTP/1.1 200 OK")


def test_expect_100_continue_and_an_action(running: Running) -> None:
    with connect(running.port) as s:
        body = b'{"weight": 5}'
        s.sendall(
            b"POST /api/servers/web/s2/weight HTTP/1.1\r\nHost: a\r\n"
            b"Authorization: Bearer " + TOKEN + b"\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        answer = read_response(s)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert running.fake.pools["web"].by_name["s2"].weight == 5


def test_close_ends_idle_connections(running: Running) -> None:
    with connect(running.port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
        read_response(s)
        asyncio.run_coroutine_threadsafe(running.server.close(), running.loop).result(5)
        assert read_all(s) == b""
    with pytest.raises(OSError):
        connect(running.port)


def test_close_lets_a_request_in_progress_finish(running: Running) -> None:
    with connect(running.port) as busy, connect(running.port) as idle:
        busy.sendall(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(0.1)  # the handler is running
        closing = asyncio.run_coroutine_threadsafe(running.server.close(), running.loop)
        assert read_all(idle) == b""  # idle: closed at once
        answer = read_all(busy)  # busy: answered, then closed
        closing.result(5)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close\r\n" in answer and answer.endswith(b"\r\n\r\ndone\n")
