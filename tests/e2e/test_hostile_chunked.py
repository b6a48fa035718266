"""End-to-end: malformed chunked bodies get their answer at once (issue 15, section 2).

l7lb runs as a subprocess with each parser back end, in front of a recording realserver: a
plain TCP server (a thread of this test process) that keeps every byte each connection
brought, notes how the connection ended, answers a GET with a small response, and answers
``GET /bad-response/NAME`` with the malformed chunked response NAME. It never answers a POST:
the request bodies sent here are cut short by l7lb before they end.

Before the fix, most of these shapes forwarded the head and then waited for ``client_idle``
(60 s) before a 408, with the backend connection held open all along.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from procs import Proxy, free_port, start_proxy

# "At once": far below the 60 s the old code waited, with room for a busy 2-core machine.
AT_ONCE = 1.0
# How long a test waits for something that must happen, before it fails.
PATIENCE = 10.0

HEAD = b"POST /hostile HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
GOOD_CHUNK = b"5\r\nhello\r\n"

# (id, bytes sent after a good first chunk, reason l7lb logs)
REQUEST_SHAPES = [
    ("size-17-digits", b"10000000000000000\r\n", "chunk size longer than 16 hex digits"),
    ("size-overflows-63-bits", b"8000000000000000\r\n", "chunk size overflows 63 bits"),
    ("size-bare-lf", b"5\nworld\n0\n\n", "bare LF in chunk size line"),
    ("size-bare-cr", b"5\rworld", "bare CR in chunk size line"),
    ("data-bare-lf", b"5\r\nworld\n", "missing CRLF after chunk data"),
    ("data-bare-cr", b"5\r\nworld\r5", "bare CR after chunk data"),
    ("data-missing-crlf", b"5\r\nworldEXTRA", "missing CRLF after chunk data"),
    ("ext-invalid", b"5;a\x00b", "invalid chunk extension"),
    ("ext-unterminated-quote", b'5;a="open\r\n', "invalid chunk extension"),
    ("last-chunk-bare-lf", b"0\n\n", "bare LF in chunk size line"),
    ("trailer-bare-lf", b"0\r\nX-T: 1\n\n", "bare LF in trailer section"),
]

# (id, the malformed rest of a chunked response after a good first chunk, reason logged)
RESPONSE_SHAPES = [
    ("size-17-digits", b"10000000000000000\r\n", "chunk size longer than 16 hex digits"),
    ("size-bare-lf", b"5\nworld\n0\n\n", "bare LF in chunk size line"),
    ("size-bare-cr", b"5\rworld", "bare CR in chunk size line"),
    ("data-missing-crlf", b"5\r\nworldEXTRA", "missing CRLF after chunk data"),
    ("ext-invalid", b"5;a\x00b", "invalid chunk extension"),
]
RESPONSE_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@dataclass
class BackendConn:
    """One connection as the realserver saw it."""

    received: bytearray = field(default_factory=bytearray)
    requests: int = 0  # GETs answered on it
    ended: str = ""  # "eof" or "reset" once l7lb closed it
    done: threading.Event = field(default_factory=threading.Event)


class RecordingServer:
    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.conns: list[BackendConn] = []
        self.changed = threading.Condition()
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.stopping = True
        self.sock.close()

    def wait_for(self, what: str, predicate: object, timeout: float = PATIENCE) -> BackendConn:
        """The first connection for which ``predicate(conn)`` holds, waiting for it."""
        assert callable(predicate)
        with self.changed:
            found = self.changed.wait_for(
                lambda: next((c for c in self.conns if predicate(c)), None), timeout
            )
        if found is None:
            raise AssertionError(f"the realserver never saw {what}")
        return found

    def _accept(self) -> None:
        while not self.stopping:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            conn = BackendConn()
            with self.changed:
                self.conns.append(conn)
                self.changed.notify_all()
            threading.Thread(target=self._serve, args=(s, conn), daemon=True).start()

    def _serve(self, s: socket.socket, conn: BackendConn) -> None:
        pending = b""
        with s:
            while True:
                try:
                    data = s.recv(65536)
                except ConnectionResetError:
                    self._ended(conn, "reset")
                    return
                if not data:
                    self._ended(conn, "eof")
                    return
                with self.changed:
                    conn.received += data
                    self.changed.notify_all()
                pending += data
                while pending.startswith(b"GET ") and b"\r\n\r\n" in pending:
                    head, _, pending = pending.partition(b"\r\n\r\n")
                    self._answer(s, conn, head.split(b" ")[1])

    def _answer(self, s: socket.socket, conn: BackendConn, path: bytes) -> None:
        name = path.removeprefix(b"/bad-response/").decode()
        shapes = {n: shape for n, shape, _ in RESPONSE_SHAPES}
        shape = shapes.get(name.removesuffix("-split"))
        with self.changed:
            conn.requests += 1
            self.changed.notify_all()
        if shape is None:
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        elif name.endswith("-split"):
            # the head and a good chunk first, so l7lb has started the response
            s.sendall(RESPONSE_HEAD + GOOD_CHUNK)
            time.sleep(0.2)
            s.sendall(shape)
        else:
            s.sendall(RESPONSE_HEAD + GOOD_CHUNK + shape)
        # and then nothing: a stalled realserver, which l7lb must not wait for

    def _ended(self, conn: BackendConn, how: str) -> None:
        with self.changed:
            conn.ended = how
            conn.done.set()
            self.changed.notify_all()


@dataclass
class Setup:
    proxy: Proxy
    server: RecordingServer


@pytest.fixture(scope="module", params=["httptools", "h11"])
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    server = RecordingServer()
    port = free_port()
    config = "\n".join(
        [
            "[http]",
            f'parser = "{request.param}"',
            "[[vip]]",
            'name = "test"',
            f'listen = ["127.0.0.1:{port}"]',
            "[[vip.route]]",
            'pool = "web"',
            "[pool.web]",
            "[[pool.web.server]]",
            'name = "rec"',
            f'address = "127.0.0.1:{server.port}"',
            "",
        ]
    )
    proxy = start_proxy(tmp_path_factory.mktemp(f"hostile-{request.param}"), config, port)
    yield Setup(proxy, server)
    assert proxy.stop() == 0
    server.close()


def read_until_closed(s: socket.socket, timeout: float = PATIENCE) -> tuple[bytes, str]:
    """Everything the proxy sends until it closes; and how it closed ("eof", "reset" or
    "timeout" when it did not within ``timeout``)."""
    s.settimeout(timeout)
    got = bytearray()
    try:
        while True:
            data = s.recv(65536)
            if not data:
                return bytes(got), "eof"
            got += data
    except ConnectionResetError:
        return bytes(got), "reset"
    except TimeoutError:
        return bytes(got), "timeout"


def get_ok(port: int) -> None:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=PATIENCE)
    try:
        c.request("GET", "/after")
        r = c.getresponse()
        assert (r.status, r.read()) == (200, b"ok\n")
    finally:
        c.close()


def wait_log(proxy: Proxy, text: str) -> str:
    deadline = time.monotonic() + PATIENCE
    while text not in proxy.error_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    return proxy.error_log()


@pytest.mark.parametrize(
    ("bad", "reason"), [s[1:] for s in REQUEST_SHAPES], ids=[s[0] for s in REQUEST_SHAPES]
)
def test_bad_chunk_after_the_head_went_out_gets_400_at_once(
    setup: Setup, bad: bytes, reason: str
) -> None:
    proxy, server = setup.proxy, setup.server
    marker = b"/hostile-%d" % time.monotonic_ns()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=PATIENCE) as c:
        c.sendall(HEAD.replace(b"/hostile", marker) + GOOD_CHUNK)
        # the realserver has the head and the first chunk (re-framed by l7lb), on a new
        # connection or on a kept-alive one
        backend = server.wait_for(
            "the head and the first chunk",
            lambda b: marker in b.received and b.received.endswith(GOOD_CHUNK),
        )
        t0 = time.monotonic()
        c.sendall(bad)
        reply, how = read_until_closed(c)
        elapsed = time.monotonic() - t0
    assert reply.startswith(b"HTTP/1.1 400 "), reply
    assert b"connection: close" in reply.lower()
    assert how == "eof", how  # the client connection is closed after the 400
    assert elapsed < AT_ONCE, f"400 after {elapsed:.2f} s"
    # The realserver's connection is closed at once (so it is not in the idle stock: the
    # realserver never closes a connection itself), and got nothing after the first chunk.
    assert backend.done.wait(AT_ONCE), "the realserver's connection was left open"
    request = bytes(backend.received).partition(b"POST " + marker)[2]
    assert request.endswith(b"\r\n\r\n" + GOOD_CHUNK), request
    assert f"bad request: 400 {reason}" in wait_log(proxy, reason)
    get_ok(proxy.port)  # and l7lb serves the next client


@pytest.mark.parametrize(
    ("bad", "reason"), [s[1:] for s in REQUEST_SHAPES], ids=[s[0] for s in REQUEST_SHAPES]
)
def test_bad_chunk_with_the_head_gets_400_and_nothing_is_forwarded(
    setup: Setup, bad: bytes, reason: str
) -> None:
    proxy, server = setup.proxy, setup.server
    marker = b"/hostile-%d" % time.monotonic_ns()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=PATIENCE) as c:
        t0 = time.monotonic()
        c.sendall(HEAD.replace(b"/hostile", marker) + GOOD_CHUNK + bad)
        reply, how = read_until_closed(c)
        elapsed = time.monotonic() - t0
    assert reply.startswith(b"HTTP/1.1 400 "), reply
    assert how == "eof", how
    assert elapsed < AT_ONCE, f"400 after {elapsed:.2f} s"
    # A request made after it reaches the realserver; the bad one, refused in the same read
    # as its head, never did (one worker: had it been dispatched, it would have been first).
    get_ok(proxy.port)
    server.wait_for("the next request", lambda b: b.requests >= 1 and b"/after" in b.received)
    assert not any(marker in b.received for b in server.conns)
    assert f"bad request: 400 {reason}" in wait_log(proxy, reason)


@pytest.mark.parametrize("split", [False, True], ids=["one-read", "after-the-head"])
@pytest.mark.parametrize(
    ("name", "reason"), [(s[0], s[2]) for s in RESPONSE_SHAPES], ids=[s[0] for s in RESPONSE_SHAPES]
)
def test_bad_chunk_from_the_realserver_502_or_cut_never_a_hang(
    setup: Setup, name: str, reason: str, split: bool
) -> None:
    proxy, server = setup.proxy, setup.server
    path = f"/bad-response/{name}{'-split' if split else ''}"
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=PATIENCE) as c:
        c.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        backend = server.wait_for(path, lambda b: path.encode() in b.received)
        t0 = time.monotonic()
        reply, how = read_until_closed(c)
        elapsed = time.monotonic() - t0
    # l7lb gave up on the realserver at once (the split case waits 0.2 s for the bad bytes)
    assert elapsed < AT_ONCE + (0.2 if split else 0), f"{how} after {elapsed:.2f} s"
    assert how in ("eof", "reset"), how
    if split:
        # the head and first chunk were on their way: the only honest end is a cut, never
        # the last-chunk that would tell the client the body was whole
        assert reply.startswith(b"HTTP/1.1 200 "), reply
        assert not reply.endswith(b"0\r\n\r\n"), reply
    else:
        assert reply.startswith(b"HTTP/1.1 502 "), reply
    assert backend.done.wait(AT_ONCE), "the realserver's connection was left open"
    logged = f"GET: pool web server rec: invalid response: {reason}"
    assert logged in wait_log(proxy, logged)
    get_ok(proxy.port)
