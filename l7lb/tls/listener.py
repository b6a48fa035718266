"""TLS accept loop of one VIP listening socket.

Per connection: accept → peek the ClientHello (``MSG_PEEK``, nothing is
consumed, so OpenSSL later reads the same bytes) → answer plain HTTP with a
clear-text 400, drop garbage → prefetch the sessions the hello names from the
shared store → hand the socket to uvloop's TLS with the time left of the
handshake deadline. Each step that fails closes the socket, bumps one counter
and logs one line with the peer and the reason.

The deadline runs from accept: a client trickling its ClientHello one byte a
second is cut off when it expires, as is one that never finishes the
handshake.
"""

from __future__ import annotations

import asyncio
import logging
import select
import socket
import ssl
from collections.abc import Callable

from l7lb.tls.clienthello import (
    CONTENT_HANDSHAKE,
    NEED_MORE,
    ClientHello,
    ClientHelloError,
    looks_like_http,
    parse_client_hello,
)
from l7lb.tls.context import VipTls
from l7lb.tls.counters import resumption_kind
from l7lb.tls.sessions import prefetch, prefetch_keys

log = logging.getLogger("l7lb.tls")

# One full record plus the next header. A bigger (valid so far) hello goes to
# OpenSSL unparsed: no prefetch, and strict SNI is left to the SNI callback.
PEEK_MAX = 16384 + 5 + 5
PLAIN_HTTP_BODY = b"400 Bad Request: this port speaks HTTPS; use an https:// URL.\n"
PLAIN_HTTP_RESPONSE = (
    b"HTTP/1.1 400 Bad Request\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: " + str(len(PLAIN_HTTP_BODY)).encode() + b"\r\n"
    b"Connection: close\r\n\r\n" + PLAIN_HTTP_BODY
)
# TLS alert record: fatal (2), unrecognized_name (112), RFC 6066 §3.
ALERT_UNRECOGNIZED_NAME = b"\x15\x03\x03\x00\x02\x02\x70"
_METHOD_PREFIX = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ-_")


class _Reject(Exception):
    def __init__(self, reason: str, detail: str = "", plain_http: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.plain_http = plain_http


class TlsServer:
    """The running accept loop; ``runtime`` may be swapped (certificate reload).

    ``close()`` stops accepting and aborts handshakes in progress; connections
    already handed to the protocol are not touched, nor is the listening
    socket (the supervisor owns it).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        runtime: VipTls,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        handshake_timeout: float | None,
        max_pending: int,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.runtime = runtime
        self.protocol_factory = protocol_factory
        self.handshake_timeout = handshake_timeout
        self.max_pending = max_pending
        self._pending: set[asyncio.Task[None]] = set()
        self._accepting = False  # the listening socket is registered for reading
        self._stopped = False
        self._closed = asyncio.Event()

    # Accepting is a reader callback, not a task awaiting loop.sock_accept(): a
    # task cancelled just after its accept completed loses the accepted socket,
    # and the client sees a reset. That happened to about one connection per
    # reload under load. Here every accepted socket is handed to its handler in
    # the same callback, so stopping can never drop one.

    def start(self) -> None:
        self.sock.setblocking(False)
        # socket.accept() reads these three properties (each builds an IntEnum)
        # for every connection; read them once
        self._accept_as = (self.sock.family, self.sock.type, self.sock.proto)
        self._resume()

    def _resume(self) -> None:
        if not self._stopped and not self._accepting:
            self.loop.add_reader(self.sock.fileno(), self._on_readable)
            self._accepting = True

    def _pause(self) -> None:
        if self._accepting:
            self.loop.remove_reader(self.sock.fileno())
            self._accepting = False

    def stop_accepting(self) -> None:
        """Graceful stop: no new connections; handshakes in progress may finish
        (a worker draining for a reload must not drop a client mid-handshake)."""
        self._stopped = True
        self._pause()

    def close(self) -> None:
        self.stop_accepting()
        for task in list(self._pending):
            task.cancel()
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()
        await asyncio.gather(*self._pending, return_exceptions=True)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _on_readable(self) -> None:
        # A bounded batch per wake-up: other connections get the loop in between.
        family, kind, proto = self._accept_as
        for _ in range(64):
            try:
                # socket.accept() minus its per-call property reads; _accept is the
                # C method it wraps (accept4 with SOCK_CLOEXEC), absent from typeshed
                fd, peer = self.sock._accept()  # type: ignore[attr-defined]
            except (BlockingIOError, InterruptedError):
                return  # another worker took it, or nothing left
            except OSError as exc:
                # EMFILE/ENFILE/ENOBUFS: back off instead of spinning on the error.
                log.warning("tls vip=%s accept failed: %s", self.runtime.vip, exc)
                self._pause()
                self.loop.call_later(0.1, self._resume)
                return
            conn = socket.socket(family, kind, proto, fileno=fd)
            conn.setblocking(False)
            if len(self._pending) >= self.max_pending:
                self.runtime.counters.fail("overload")
                conn.close()
                continue
            # the peer address is formatted only when a line is logged
            task = self.loop.create_task(self._handle(conn, peer))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _handle(self, conn: socket.socket, peer: object) -> None:
        rt = self.runtime
        timeout = self.handshake_timeout or rt.settings.handshake_timeout
        deadline = self.loop.time() + timeout
        handed_over = done = False
        try:
            try:
                hello = await self._peek(conn, deadline)
            except _Reject as r:
                rt.counters.fail(r.reason)
                log.info(
                    "tls vip=%s peer=%s closed: %s%s", rt.vip, _peer_str(peer), r.reason, r.detail
                )
                if r.plain_http:
                    await self._send_and_close(conn, PLAIN_HTTP_RESPONSE)
                return
            name = hello.server_name if hello else None
            if name and rt.settings.strict_sni and not rt.names.covers(name):
                # Refused here, before any crypto; uvloop would drop the alert
                # OpenSSL queues when the SNI callback refuses the name.
                rt.counters.fail("unknown_sni")
                log.info("tls vip=%s peer=%s closed: unknown_sni %s", rt.vip, _peer_str(peer), name)
                await self._send_and_close(conn, ALERT_UNRECOGNIZED_NAME)
                return
            if hello is not None and rt.cache is not None and rt.store is not None:
                keys = prefetch_keys(rt.scope, hello)
                if keys:
                    budget = min(rt.prefetch_deadline, deadline - self.loop.time())
                    await prefetch(rt.store, rt.cache, keys, max(budget, 0.001))
            left = deadline - self.loop.time()
            if left <= 0:
                rt.counters.fail("handshake_timeout")
                log.info("tls vip=%s peer=%s closed: handshake_timeout", rt.vip, _peer_str(peer))
                return
            handed_over = True
            try:
                transport, _ = await self.loop.connect_accepted_socket(
                    self.protocol_factory, conn, ssl=rt.context, ssl_handshake_timeout=left
                )
            except (OSError, ssl.SSLError, TimeoutError) as exc:
                reason = _handshake_failure(exc)
                if reason != "unknown_sni":  # counted by the SNI callback already
                    rt.counters.fail(reason)
                log.info("tls vip=%s peer=%s handshake failed: %s", rt.vip, _peer_str(peer), reason)
                return
            except Exception:  # a bug in the protocol's connection_made: not the client's
                rt.counters.fail("internal_error")
                log.exception(
                    "tls vip=%s peer=%s: protocol failed to start", rt.vip, _peer_str(peer)
                )
                return
            done = True
            ssl_obj = transport.get_extra_info("ssl_object")
            if ssl_obj is not None and ssl_obj.session_reused:
                kind = resumption_kind(hello, ssl_obj.version() or "") if hello else "unknown"
                rt.counters.resumed[kind] += 1
            else:
                rt.counters.full += 1
        finally:
            # Once handed over, the transport owns the fd (uvloop detaches our
            # socket object when it closes it); before that, or after a failed
            # handshake that left it attached, it is ours to close.
            if not done and (not handed_over or conn.fileno() != -1):
                conn.close()

    async def _peek(self, conn: socket.socket, deadline: float) -> ClientHello | None:
        """The parsed ClientHello, or None if it is larger than we peek (OpenSSL reads it)."""
        delay = 0.005
        while True:
            data: bytes | None
            try:
                data = conn.recv(PEEK_MAX, socket.MSG_PEEK)
            except BlockingIOError:
                data = None
            except OSError as exc:
                raise _Reject("vanished", f" ({exc.strerror})") from None
            if data == b"":
                raise _Reject("vanished", " (closed before the ClientHello)")
            if data:
                if data[0] != CONTENT_HANDSHAKE:
                    if looks_like_http(data):
                        raise _Reject("plain_http", plain_http=True)
                    if len(data) >= 21 or any(b not in _METHOD_PREFIX for b in data):
                        raise _Reject("garbage")
                else:
                    try:
                        result = parse_client_hello(data)
                    except ClientHelloError as exc:
                        raise _Reject("bad_client_hello", f" ({exc})") from None
                    if result is not NEED_MORE:
                        assert isinstance(result, ClientHello)
                        return result
                    if len(data) >= PEEK_MAX:
                        return None  # a valid prefix of a huge hello: no prefetch
                if _peer_shut_down(conn):
                    raise _Reject("truncated", f" ({len(data)} bytes then EOF)")
            left = deadline - self.loop.time()
            if left <= 0:
                raise _Reject("handshake_timeout", " (ClientHello incomplete)")
            if data is None:
                await self._wait_readable(conn, left)
            else:
                # Data is pending but incomplete: the socket stays readable, so
                # poll with back-off rather than spin on readiness.
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, 0.1)

    async def _wait_readable(self, conn: socket.socket, timeout: float) -> None:
        """Until ``conn`` is readable or ``timeout`` seconds pass, whichever is first.

        A bare future woken by the reader callback or a timer handle: no
        ``asyncio.wait_for`` (it wraps the future in a task of its own and costs
        more than the rest of this wait). Cancelling the caller cancels the
        future; the reader and the timer are removed on every way out.
        """
        loop = self.loop
        fut = loop.create_future()
        fd = conn.fileno()
        loop.add_reader(fd, _wake, fut)
        timer = loop.call_later(timeout, _wake, fut)
        try:
            await fut
        finally:
            timer.cancel()
            loop.remove_reader(fd)

    async def _send_and_close(self, conn: socket.socket, payload: bytes) -> None:
        """Send ``payload`` (the plain-HTTP 400, a TLS alert), then read what the client
        sent so the close is a FIN, not a RST that would destroy the answer in flight."""
        try:
            await asyncio.wait_for(self.loop.sock_sendall(conn, payload), 1.0)
            conn.shutdown(socket.SHUT_WR)
            end = self.loop.time() + 1.0
            drained = 0
            while drained < 65536 and (left := end - self.loop.time()) > 0:
                chunk = await asyncio.wait_for(self.loop.sock_recv(conn, 16384), left)
                if not chunk:
                    break
                drained += len(chunk)
        except (OSError, TimeoutError):
            pass


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _peer_shut_down(conn: socket.socket) -> bool:
    """True if the peer sent FIN (or reset) even though unread data is pending."""
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLRDHUP)
    return any(
        ev & (select.POLLRDHUP | select.POLLHUP | select.POLLERR) for _, ev in poller.poll(0)
    )


def _peer_str(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peer)


def _handshake_failure(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "handshake_timeout"
    if isinstance(exc, ConnectionAbortedError) and "taking longer" in str(exc):
        return "handshake_timeout"  # how uvloop reports ssl_handshake_timeout
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or "").lower()
        if "unrecognized_name" in reason or "callback_failed" in reason:
            return "unknown_sni"
        return f"tls_error:{reason or 'unknown'}"
    return "vanished"


async def serve_tls(
    loop: asyncio.AbstractEventLoop,
    listen_sock: socket.socket,
    runtime: VipTls,
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    *,
    handshake_timeout: float | None = None,
    max_pending: int = 4096,
) -> TlsServer:
    """Start terminating TLS on ``listen_sock`` (a listening socket, made non-blocking).

    ``handshake_timeout`` defaults to ``runtime.settings.handshake_timeout``;
    ``max_pending`` bounds connections between accept and the end of the
    handshake (more are closed at once, counted as ``overload``).
    """
    server = TlsServer(loop, listen_sock, runtime, protocol_factory, handshake_timeout, max_pending)
    server.start()
    return server
