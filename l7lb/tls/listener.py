"""TLS accept path of one VIP listening socket.

uvloop accepts (in C) and hands each connection to a ``_Gate``: a plain
protocol that sees the client's first bytes before any TLS does. On a VIP with
``accept_proxy`` it first reads the PROXY header (l7lb/proxyproto), from a
trusted peer only, and the client it names is the peer from then on. It answers
plain HTTP with a clear-text 400, drops garbage, refuses unknown names under
``strict_sni``, prefetches the sessions the ClientHello names from the shared
store, and then hands the same transport, with the bytes already read, to a
``TlsStream`` (l7lb/tls/stream.py) for the handshake. Each step that fails
closes the connection, bumps one counter and logs one line with the peer and
the reason.

The deadline runs from accept to the end of the handshake, on the gate's one
timer: a client trickling its ClientHello one byte a second is cut off when
it expires, as is one that never finishes the handshake.

There is no task, no peek and no extra socket object per connection: this
costs less per TLS connection than accepting in Python and calling
``connect_accepted_socket`` (figures in benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any, Final

from l7lb.proxyproto.arrival import Arrival, arrival_of
from l7lb.proxyproto.header import ProxyError, ProxyHeader
from l7lb.proxyproto.reader import read_header
from l7lb.proxyproto.trust import TrustedSources
from l7lb.tls.clienthello import (
    CONTENT_HANDSHAKE,
    NEED_MORE,
    ClientHello,
    ClientHelloError,
    NeedMore,
    looks_like_http,
    parse_client_hello,
)
from l7lb.tls.context import VipTls
from l7lb.tls.counters import resumption_kind
from l7lb.tls.sessions import describe_key, prefetch, prefetch_keys
from l7lb.tls.stream import TlsStream

log = logging.getLogger("l7lb.tls")

# One full record plus the next header. A bigger (valid so far) hello goes to
# OpenSSL unparsed: no prefetch, and strict SNI is left to the SNI callback.
READ_AHEAD_MAX: Final = 16384 + 5 + 5
PLAIN_HTTP_BODY: Final = b"400 Bad Request: this port speaks HTTPS; use an https:// URL.\n"
PLAIN_HTTP_RESPONSE: Final = (
    b"HTTP/1.1 400 Bad Request\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: " + str(len(PLAIN_HTTP_BODY)).encode() + b"\r\n"
    b"Connection: close\r\n\r\n" + PLAIN_HTTP_BODY
)
# TLS alert record: fatal (2), unrecognized_name (112), RFC 6066 §3.
ALERT_UNRECOGNIZED_NAME: Final = b"\x15\x03\x03\x00\x02\x02\x70"
_METHOD_PREFIX: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ-_")


class _Reject(Exception):
    def __init__(self, reason: str, detail: str = "", answer: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.answer = answer  # sent in clear before closing (the 400, a TLS alert)


# what a gate is doing
_HELLO: Final = 0  # reading the ClientHello
_PREFETCH: Final = 1  # waiting for the shared store
_HANDSHAKE: Final = 2  # handed to the TlsStream
_ANSWER: Final = 3  # sent a clear-text answer; reading what the client still sends
_DONE: Final = 4
_PROXY: Final = 5  # reading the PROXY header (accept_proxy), before the ClientHello


class TlsServer:
    """The running accept path; ``runtime`` may be swapped (certificate reload).

    ``stop_accepting()`` closes this worker's listening handle (the other
    workers and the supervisor keep theirs); ``close()`` also aborts
    connections still before the end of their handshake. Connections already
    handed to the application protocol are not touched.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        runtime: VipTls,
        protocol_factory: Callable[[Arrival], asyncio.BaseProtocol],
        handshake_timeout: float | None,
        max_pending: int,
        proxy_trusted: TrustedSources | None = None,
        proxy_timeout: float = 10.0,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.runtime = runtime
        self.protocol_factory = protocol_factory
        self.handshake_timeout = handshake_timeout
        self.max_pending = max_pending
        # accept_proxy: a PROXY header from these peers comes first, within proxy_timeout
        self.proxy_trusted = proxy_trusted
        self.proxy_timeout = proxy_timeout
        self._pending: set[_Gate] = set()
        self._server: asyncio.AbstractServer | None = None
        self._idle: asyncio.Future[None] | None = None

    async def start(self, backlog: int = 1024) -> None:
        self.sock.setblocking(False)
        self._server = await self.loop.create_server(self._gate, sock=self.sock, backlog=backlog)

    def _gate(self) -> _Gate:
        return _Gate(self)

    def stop_accepting(self) -> None:
        """Graceful stop: no new connections; handshakes in progress may finish
        (a worker draining for a reload must not drop a client mid-handshake)."""
        if self._server is not None:
            self._server.close()

    def close(self) -> None:
        self.stop_accepting()
        for gate in list(self._pending):
            gate.abort()

    async def wait_closed(self) -> None:
        while self._pending:
            self._idle = self.loop.create_future()
            await self._idle

    @property
    def pending(self) -> int:
        """Connections between accept and the end of their handshake."""
        return len(self._pending)

    def _release(self, gate: _Gate) -> None:
        self._pending.discard(gate)
        idle = self._idle
        if not self._pending and idle is not None and not idle.done():
            idle.set_result(None)


class _Gate(asyncio.Protocol):
    """One connection from accept to the end of its TLS handshake."""

    __slots__ = (
        "buf",
        "deadline",
        "drained",
        "hello",
        "peer",
        "proxied",
        "rt",
        "server",
        "state",
        "stream",
        "task",
        "timer",
        "transport",
    )

    def __init__(self, server: TlsServer) -> None:
        self.server = server
        self.rt = server.runtime  # a reload swaps the server's; this connection keeps its own
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.state = _HELLO
        self.deadline = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.hello: ClientHello | None = None
        self.peer: object = None
        self.proxied: ProxyHeader | None = None
        self.drained = 0
        self.task: asyncio.Task[None] | None = None  # the prefetch, referenced while it runs
        self.stream: TlsStream | None = None  # from the hand-over to the end of the handshake

    # ---- before the hand-over: our protocol -----------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        server = self.server
        if len(server._pending) >= server.max_pending:
            self.rt.counters.fail("overload")
            self.state = _DONE
            transport.abort()  # type: ignore[attr-defined]
            return
        server._pending.add(self)
        # read now: once the socket is closed (the usual case of a line logged) it is gone
        self.peer = transport.get_extra_info("peername")
        loop = server.loop
        timeout = server.handshake_timeout or self.rt.settings.handshake_timeout
        self.deadline = loop.time() + timeout
        if server.proxy_trusted is not None:
            self._expect_proxy(server.proxy_trusted)
            return
        self.timer = loop.call_at(self.deadline, self._on_deadline)

    def data_received(self, data: bytes) -> None:
        state = self.state
        if state == _ANSWER:
            self.drained += len(data)
            if self.drained >= 65536:
                self._finish()
            return
        if state != _HELLO:
            if state == _PROXY:
                self._proxy_data(data)
            return  # _PREFETCH pauses reading; bytes racing the pause are not expected
        self.buf = buf = self.buf + data if self.buf else data
        try:
            hello = self._examine(buf)
        except _Reject as r:
            self._reject(r)
            return
        if hello is NEED_MORE:
            return
        self.hello = hello if isinstance(hello, ClientHello) else None
        self._proceed()

    def eof_received(self) -> bool:
        if self.state == _HELLO:
            n = len(self.buf)
            if n:
                self._reject(_Reject("truncated", f" ({n} bytes then EOF)"))
            else:
                self._reject(_Reject("vanished", " (closed before the ClientHello)"))
        elif self.state == _PROXY:
            n = len(self.buf)
            if n:
                self._reject(_Reject("proxy_truncated", f" ({n} bytes then EOF)"))
            else:
                self._reject(_Reject("vanished", " (closed before the PROXY header)"))
        elif self.state == _ANSWER:
            self._finish()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        if self.state in (_HELLO, _PREFETCH, _PROXY):
            why = f" ({exc.strerror})" if isinstance(exc, OSError) and exc.strerror else ""
            what = "PROXY header" if self.state == _PROXY else "ClientHello"
            self._log_reject(_Reject("vanished", why or f" (closed before the {what})"))
        self._end()

    # ---- the PROXY header (accept_proxy) -----------------------------------------------

    def _expect_proxy(self, trusted: TrustedSources) -> None:
        """Before any TLS: a trusted peer's PROXY header, within the proxy timeout (and the
        handshake deadline, which runs from accept)."""
        peer = self.peer
        host = peer[0] if isinstance(peer, tuple) else ""
        if not trusted.trusts(host):
            self._reject(_Reject("proxy_untrusted", " (not in proxy_trusted)"))
            return
        self.state = _PROXY
        loop = self.server.loop
        when = min(self.deadline, loop.time() + self.server.proxy_timeout)
        self.timer = loop.call_at(when, self._on_deadline)

    def _proxy_data(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        try:
            result = read_header(buf)
        except ProxyError as exc:
            detail = f" ({exc.detail})" if exc.detail else ""
            self._reject(_Reject("proxy_" + exc.reason, detail))
            return
        if result is None:
            self.buf = buf
            return
        header, used = result
        self.proxied = header
        if header.relayed:
            self.peer = header.source  # the client, in logs and as the stream's peername
        self.buf = b""
        self.state = _HELLO
        self._cancel_timer()  # the proxy timeout: the handshake deadline bounds the rest
        self.timer = self.server.loop.call_at(self.deadline, self._on_deadline)
        rest = buf[used:]
        if rest:
            self.data_received(rest)

    def _examine(self, buf: bytes) -> ClientHello | NeedMore | None:
        """The parsed ClientHello, NEED_MORE, or None if it is larger than we read
        ahead (OpenSSL reads it; no prefetch). Raises _Reject for what is not TLS."""
        if buf[0] != CONTENT_HANDSHAKE:
            if looks_like_http(buf):
                raise _Reject("plain_http", answer=PLAIN_HTTP_RESPONSE)
            if len(buf) >= 21 or any(b not in _METHOD_PREFIX for b in buf):
                raise _Reject("garbage")
            return NEED_MORE
        try:
            result = parse_client_hello(buf)
        except ClientHelloError as exc:
            raise _Reject("bad_client_hello", f" ({exc})") from None
        if result is NEED_MORE and len(buf) >= READ_AHEAD_MAX:
            return None  # a valid prefix of a huge hello
        return result

    def _proceed(self) -> None:
        rt = self.rt
        hello = self.hello
        name = hello.server_name if hello else None
        if name and rt.settings.strict_sni and not rt.names.covers(name):
            # Refused here, before any crypto (the SNI callback refuses too,
            # for a hello too big to parse here).
            self._reject(_Reject("unknown_sni", f" {name}", answer=ALERT_UNRECOGNIZED_NAME))
            return
        cache = rt.cache
        if hello is not None and cache is not None and rt.store is not None:
            keys = prefetch_keys(rt.scope, hello)
            # the usual case, a client back on this worker: no store, no task
            if keys and not all(cache.get(k) is not None for k in keys):
                assert self.transport is not None
                self.state = _PREFETCH
                self.transport.pause_reading()
                self.task = self.server.loop.create_task(self._prefetch(keys))
                return
        self._hand_over()

    async def _prefetch(self, keys: list[bytes]) -> None:
        rt = self.rt
        assert rt.cache is not None
        budget = min(rt.prefetch_deadline, self.deadline - self.server.loop.time())
        await prefetch(rt.store, rt.cache, keys, max(budget, 0.001), self._prefetch_miss)
        self.task = None
        if self.state == _PREFETCH:  # not closed meanwhile
            assert self.transport is not None
            self.transport.resume_reading()
            self._hand_over()

    def _prefetch_miss(self, key: bytes, why: str) -> None:
        # every miss costs this client a full handshake: say which and why (issue 15)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "tls vip=%s peer=%s prefetch miss: %s: %s",
                self.rt.vip,
                self._peer(),
                describe_key(key),
                why,
            )

    def _hand_over(self) -> None:
        """Give the transport and the bytes read so far to a ``TlsStream``."""
        t = self.transport
        assert t is not None
        if self.deadline <= self.server.loop.time():
            self._reject(_Reject("handshake_timeout", ""))
            return
        # the deadline timer keeps running: it also bounds the handshake
        self.state = _HANDSHAKE
        rt = self.rt
        hello = self.hello
        app = self.server.protocol_factory(
            arrival_of(self.proxied, hello.server_name if hello is not None else None)
        )
        # uvloop's transport is no asyncio.Transport subclass
        stream = TlsStream(self.server.loop, app, rt.context, t, self, self.peer)  # type: ignore[arg-type]
        self.stream = stream
        bind = rt.bind_session
        hello = self.hello
        # Sessions (TLS 1.2, or TLS 1.3 without tickets) are bound to the SNI name
        # (shim.SessionBinder); a TLS 1.3 client with tickets on needs none.
        if (
            bind is not None
            and hello is not None
            and not (hello.offers_tls13 and rt.settings.tickets)
        ):
            try:
                bind(stream.sslobj, hello.server_name or "")
            except Exception:
                log.exception("tls vip=%s: binding the session to its name failed", rt.vip)
        data, self.buf = self.buf, b""
        t.set_protocol(stream)
        stream.start(data)

    def handshake_done(self, exc: BaseException | None, ssl_object: Any) -> None:
        """Called by the stream: the handshake finished (``exc`` None) or failed."""
        if self.state != _HANDSHAKE:
            return  # already counted (the deadline)
        rt = self.rt
        if exc is not None:
            reason = _handshake_failure(exc)
            if reason != "unknown_sni":  # counted by the SNI callback already
                rt.counters.fail(reason)
            log.info("tls vip=%s peer=%s handshake failed: %s", rt.vip, self._peer(), reason)
        elif ssl_object.session_reused:
            hello = self.hello
            kind = resumption_kind(hello, ssl_object.version() or "") if hello else "unknown"
            rt.counters.resumed[kind] += 1
        else:
            rt.counters.full += 1
        self._end()

    # ---- refusing -------------------------------------------------------------------

    def _reject(self, r: _Reject) -> None:
        self.rt.counters.fail(r.reason)
        self._log_reject(r)
        t = self.transport
        assert t is not None
        if r.answer and not t.is_closing():
            # Send, then read what the client sent so the close is a FIN, not a
            # RST that would destroy the answer in flight.
            self.state = _ANSWER
            self._cancel_timer()
            self.timer = self.server.loop.call_later(1.0, self._finish)
            t.write(r.answer)
            if t.can_write_eof():
                t.write_eof()
            return
        self.state = _DONE
        t.close()
        self._end()

    def _log_reject(self, r: _Reject) -> None:
        if self.state == _DONE:
            return
        log.info("tls vip=%s peer=%s closed: %s%s", self.rt.vip, self._peer(), r.reason, r.detail)

    def _on_deadline(self) -> None:
        self.timer = None
        if self.state == _PROXY:
            self._reject(_Reject("proxy_timeout", " (no complete PROXY header in time)"))
        elif self.state in (_HELLO, _PREFETCH):
            self._reject(_Reject("handshake_timeout", " (ClientHello incomplete)"))
        elif self.state == _HANDSHAKE:
            stream = self.stream
            self.handshake_done(TimeoutError("handshake deadline"), None)
            if stream is not None:
                stream.abort()

    def _finish(self) -> None:
        """End of a clear-text answer: close."""
        self.state = _DONE
        if self.transport is not None:
            self.transport.close()
        self._end()

    def abort(self) -> None:
        """Server close: drop the connection wherever it is."""
        if self.stream is not None:
            self.stream.abort()
        elif self.transport is not None:
            self.transport.abort()
        self.state = _DONE
        self._end()

    # ---- bookkeeping ----------------------------------------------------------------

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _end(self) -> None:
        self.state = _DONE
        self.stream = None
        self._cancel_timer()
        self.server._release(self)

    def _peer(self) -> str:
        return _peer_str(self.peer)


def _peer_str(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peer)


def _handshake_failure(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "handshake_timeout"
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
    protocol_factory: Callable[[Arrival], asyncio.BaseProtocol],
    *,
    handshake_timeout: float | None = None,
    max_pending: int = 4096,
    proxy_trusted: TrustedSources | None = None,
    proxy_timeout: float = 10.0,
) -> TlsServer:
    """Start terminating TLS on ``listen_sock`` (a listening socket, made non-blocking).

    ``protocol_factory`` makes the application protocol of a connection as it is handed to
    TLS, given its ``Arrival`` (the PROXY header's addresses, the ClientHello's SNI).
    ``handshake_timeout`` defaults to ``runtime.settings.handshake_timeout``;
    ``max_pending`` bounds connections between accept and the end of the
    handshake (more are closed at once, counted as ``overload``). With
    ``proxy_trusted`` (``accept_proxy``), each connection starts with a PROXY header from
    one of those peers, whole within ``proxy_timeout`` (the others are closed).
    """
    server = TlsServer(
        loop,
        listen_sock,
        runtime,
        protocol_factory,
        handshake_timeout,
        max_pending,
        proxy_trusted,
        proxy_timeout,
    )
    await server.start()
    return server
