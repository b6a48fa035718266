"""``TlsStream``: l7lb's TLS record pump between uvloop's TCP transport and the
application, driven by real ``ssl`` clients over real sockets on uvloop."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

import uvloop

from l7lb.tls.stream import TlsStream

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"


class Observer:
    def __init__(self) -> None:
        self.results: list[tuple[BaseException | None, Any]] = []

    def handshake_done(self, exc: BaseException | None, ssl_object: Any) -> None:
        self.results.append((exc, ssl_object))


class App(asyncio.Protocol):
    """Answers the first request; ``on_request`` decides what happens next."""

    def __init__(self, on_request: Callable[[App], None]) -> None:
        self.on_request = on_request
        self.transport: Any = None
        self.received = b""
        self.events: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.events.append("made")

    def data_received(self, data: bytes) -> None:
        self.received += data
        if b"\r\n\r\n" in self.received and "answered" not in self.events:
            self.events.append("answered")
            self.on_request(self)

    def eof_received(self) -> bool | None:
        self.events.append("eof")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("lost")


def server_ctx(pair: tuple[str, str]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*pair)
    return ctx


def client_ctx() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def serve(
    pair: tuple[str, str],
    on_request: Callable[[App], None],
    client: Callable[[int], Any],
) -> tuple[Any, list[App], list[TlsStream], Observer]:
    """Run ``client(port)`` in a thread against a TlsStream server; return its result."""
    apps: list[App] = []
    streams: list[TlsStream] = []
    observer = Observer()
    ctx = server_ctx(pair)

    async def main() -> Any:
        loop = asyncio.get_running_loop()

        class Starter(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                app = App(on_request)
                stream = TlsStream(loop, app, ctx, transport, observer)
                apps.append(app)
                streams.append(stream)
                transport.set_protocol(stream)
                stream.start(b"")

        server = await loop.create_server(Starter, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            result = await asyncio.wait_for(asyncio.to_thread(client, port), 10)
            for _ in range(50):  # let the server see the client's close
                if all("lost" in a.events for a in apps) and len(observer.results) == len(streams):
                    break
                await asyncio.sleep(0.02)
            return result
        finally:
            server.close()

    return uvloop.run(main()), apps, streams, observer


def read_all(s: ssl.SSLSocket) -> tuple[bytes, str]:
    """Everything until the server's close_notify; how the connection ended."""
    got = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return got, "reset"
        if not chunk:
            return got, "close_notify"
        got += chunk


def answer_and_close(app: App) -> None:
    app.transport.write(RESPONSE)
    app.transport.close()


def test_round_trip_then_close_notify_and_fin(make_cert: Any) -> None:
    def client(port: int) -> tuple[bytes, str, bytes]:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            s = client_ctx().wrap_socket(raw, server_hostname="a.test")
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            body, how = read_all(s)
            # the TCP FIN after the server's close_notify, read below TLS: sending our own
            # close_notify first (unwrap) can meet a socket the server has already closed,
            # and the kernel's answer to that, a reset, may beat the FIN to this recv
            return body, how, socket.socket.recv(s, 10)

    (body, how, after), apps, streams, observer = serve(
        make_cert("a.test"), answer_and_close, client
    )
    assert body == RESPONSE and how == "close_notify" and after == b""
    assert apps[0].received.startswith(b"GET / HTTP/1.1")
    assert apps[0].events == ["made", "answered", "lost"]
    exc, obj = observer.results[0]
    assert exc is None and obj.version() == "TLSv1.3" and not obj.session_reused
    assert streams[0].get_extra_info("ssl_object") is obj


def test_nothing_unread_closes_at_once(make_cert: Any) -> None:
    closing: list[bool] = []

    def on_request(app: App) -> None:
        answer_and_close(app)
        closing.append(app.transport.raw.is_closing())  # the TCP transport too

    def client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            s = client_ctx().wrap_socket(raw)
            s.sendall(b"GET / HTTP/1.1\r\n\r\n")
            return read_all(s)[0]

    body, _, _, _ = serve(make_cert("a.test"), on_request, client)
    assert body == RESPONSE
    assert closing == [True]


def test_unread_bytes_make_it_linger_so_the_answer_is_not_reset(make_cert: Any) -> None:
    """The client pipelines a second request the application never reads:
    closing at once would be a RST that can destroy the answer in flight."""
    go = threading.Event()
    closing: list[bool] = []

    def on_request(app: App) -> None:
        app.transport.pause_reading()  # what comes next stays in the kernel
        loop = asyncio.get_running_loop()

        def later() -> None:
            answer_and_close(app)
            closing.append(app.transport.raw.is_closing())

        go.set()
        loop.call_later(0.2, later)

    def client(port: int) -> tuple[bytes, str]:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            s = client_ctx().wrap_socket(raw)
            s.sendall(b"GET / HTTP/1.1\r\n\r\n")
            assert go.wait(5)
            s.sendall(b"GET /second HTTP/1.1\r\n\r\n" + b"x" * 3000)
            return read_all(s)

    (body, how), apps, _, _ = serve(make_cert("a.test"), on_request, client)
    assert body == RESPONSE and how == "close_notify"
    assert closing == [False]  # lingering: still open for the client's bytes
    assert apps[0].events[-1] == "lost"


def test_failed_handshake_reaches_the_observer_not_the_application(make_cert: Any) -> None:
    def client(port: int) -> str:
        strict = ssl.create_default_context()  # refuses the self-signed certificate
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            try:
                strict.wrap_socket(raw, server_hostname="a.test")
            except ssl.SSLCertVerificationError:
                return "refused"
        return "accepted"

    result, apps, _, observer = serve(make_cert("a.test"), answer_and_close, client)
    assert result == "refused"
    exc, obj = observer.results[0]
    assert isinstance(exc, ssl.SSLError) and obj is None
    assert "unknown ca" in (exc.reason or "").lower().replace("_", " ")
    assert apps[0].events == []


def test_client_vanishing_mid_handshake(make_cert: Any) -> None:
    def client(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(b"\x16\x03\x01\x00\x10partial")  # a record header, then gone

    _, apps, _, observer = serve(make_cert("a.test"), answer_and_close, client)
    exc, obj = observer.results[0]
    assert isinstance(exc, ConnectionError) and obj is None
    assert apps[0].events == []


def test_eof_without_close_notify_reaches_the_application(make_cert: Any) -> None:
    def client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            s = client_ctx().wrap_socket(raw)
            s.sendall(b"GET / HTTP/1.1\r\n")  # not a whole head: no answer
            s.shutdown(socket.SHUT_WR)  # drops the TLS state: a TCP FIN, no close_notify
            tail = b""
            while chunk := s.recv(4096):  # raw bytes now, until the server's FIN
                tail += chunk
            return tail

    tail, apps, _, _ = serve(make_cert("a.test"), answer_and_close, client)
    assert apps[0].events == ["made", "eof", "lost"]
    # whole records (the session tickets the client never read, then the
    # close_notify: an alert of 2 bytes, its type byte and a 16-byte tag, as
    # TLS 1.3 hides every record's type)
    sizes = []
    while tail:
        assert tail[:3] == b"\x17\x03\x03"
        n = int.from_bytes(tail[3:5], "big")
        sizes.append(n)
        tail = tail[5 + n :]
    assert sizes[-1] == 2 + 1 + 16
