"""The accept path of a plain-HTTP VIP with ``accept_proxy = true``.

uvloop accepts and hands each connection to a ``_ProxyGate``, a small protocol that stands
in front of the client connection's own (``ClientConnection``) until the PROXY header is in:

- a peer outside ``proxy_trusted`` is closed at once, before a byte is read;
- the header must be whole within ``timeout`` (``[timeouts] request_head``);
- bytes that are no PROXY header, a malformed one, or an EOF before its end close the
  connection;
- once it is in, the gate makes the application protocol with the ``Arrival`` the header
  gives, hands it the same transport and the bytes that followed the header, and is gone:
  from then on the connection costs what any other does.

Each refusal bumps one counter (``failures``, by reason) and logs one line with the peer and
the reason, as the TLS gate does (``l7lb.tls.listener``; a TLS VIP reads the header there,
before the ClientHello).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import Callable

from l7lb.proxyproto.arrival import Arrival, arrival_of
from l7lb.proxyproto.header import ProxyError
from l7lb.proxyproto.reader import read_header
from l7lb.proxyproto.trust import TrustedSources

log = logging.getLogger("l7lb.proxyproto")

AppFactory = Callable[[Arrival], asyncio.BaseProtocol]


class ProxyServer:
    """The running accept path of one listening socket (the shape of ``TlsServer``:
    ``stop_accepting``, ``close``, ``pending``, so a worker drains both alike)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        vip: str,
        trusted: TrustedSources,
        timeout: float,
        app_factory: AppFactory,
        max_pending: int = 4096,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.vip = vip
        self.trusted = trusted
        self.timeout = timeout
        self.app_factory = app_factory
        self.max_pending = max_pending
        self.accepted = 0  # connections handed on with a header
        self.failures: Counter[str] = Counter()
        self._pending: set[_ProxyGate] = set()
        self._server: asyncio.AbstractServer | None = None

    async def start(self, backlog: int = 1024) -> None:
        self.sock.setblocking(False)
        self._server = await self.loop.create_server(self._gate, sock=self.sock, backlog=backlog)

    def _gate(self) -> _ProxyGate:
        return _ProxyGate(self)

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close()

    def close(self) -> None:
        """Stop accepting and drop connections still waiting for their header."""
        self.stop_accepting()
        for gate in list(self._pending):
            gate.abort()

    @property
    def pending(self) -> int:
        """Connections accepted whose header is not in yet."""
        return len(self._pending)


class _ProxyGate(asyncio.Protocol):
    """One connection from accept until its PROXY header is read."""

    __slots__ = ("buf", "done", "peer", "server", "timer", "transport")

    def __init__(self, server: ProxyServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.peer: object = None
        self.timer: asyncio.TimerHandle | None = None
        self.done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        server = self.server
        self.peer = transport.get_extra_info("peername")
        if len(server._pending) >= server.max_pending:
            self._refuse("overload")
            return
        host = self.peer[0] if isinstance(self.peer, tuple) else ""
        if not server.trusted.trusts(host):
            self._refuse("untrusted", " (not in proxy_trusted)")
            return
        server._pending.add(self)
        self.timer = server.loop.call_later(server.timeout, self._on_timeout)

    def data_received(self, data: bytes) -> None:
        if self.done:
            return
        buf = self.buf + data if self.buf else data
        try:
            result = read_header(buf)
        except ProxyError as exc:
            self._refuse(exc.reason, f" ({exc.detail})" if exc.detail else "")
            return
        if result is None:
            self.buf = buf
            return
        header, used = result
        self._end()
        server = self.server
        server.accepted += 1
        t = self.transport
        assert t is not None
        app = server.app_factory(arrival_of(header))
        t.set_protocol(app)
        app.connection_made(t)
        rest = buf[used:]
        if rest and not t.is_closing():
            app.data_received(rest)  # type: ignore[attr-defined]  # a Protocol, not a base

    def eof_received(self) -> bool:
        if not self.done:
            n = len(self.buf)
            if n:
                self._refuse("truncated", f" ({n} bytes then EOF)")
            else:
                self._refuse("vanished", " (closed before the PROXY header)")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done:
            why = f" ({exc.strerror})" if isinstance(exc, OSError) and exc.strerror else ""
            self._count("vanished", why or " (closed before the PROXY header)")
            self._end()

    def _on_timeout(self) -> None:
        self.timer = None
        if not self.done:
            self._refuse("timeout", f" (no complete PROXY header within {self.server.timeout}s)")

    def abort(self) -> None:
        """Server close: drop the connection."""
        if self.transport is not None:
            self.transport.abort()
        self._end()

    def _refuse(self, reason: str, detail: str = "") -> None:
        self._count(reason, detail)
        self._end()
        if self.transport is not None:
            self.transport.close()

    def _count(self, reason: str, detail: str) -> None:
        self.server.failures[reason] += 1
        log.info(
            "proxy vip=%s peer=%s closed: %s%s",
            self.server.vip,
            _peer_str(self.peer),
            reason,
            detail,
        )

    def _end(self) -> None:
        self.done = True
        self.buf = b""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.server._pending.discard(self)


def _peer_str(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(peer)


async def serve_proxy(
    loop: asyncio.AbstractEventLoop,
    sock: socket.socket,
    vip: str,
    trusted: TrustedSources,
    timeout: float,
    app_factory: AppFactory,
) -> ProxyServer:
    """Start accepting PROXY-prefixed connections on ``sock`` (a listening socket)."""
    server = ProxyServer(loop, sock, vip, trusted, timeout, app_factory)
    await server.start()
    return server
