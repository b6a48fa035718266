"""The asyncio side of a client connection: bytes and timers in, commands out.

``ClientConnection`` owns the transport, one timer, and the backend connections its
exchanges use; everything it decides comes from its sans-IO engine (``engine.Engine``:
``H1Connection`` for HTTP/1.1, ``H2Connection`` for HTTP/2 negotiated by ALPN, and
``PriorKnowledge`` on a plain VIP that also takes h2c). After every event it runs the
commands the engine queued (``_run``), writing the client's bytes of one batch in one send.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

from l7lb.balancing import ServerState
from l7lb.limits.table import SourceEntry
from l7lb.proxy.commands import (
    Announce,
    Claim,
    CloseClient,
    Command,
    Connect,
    Enqueue,
    Log,
    PauseBackend,
    PauseClient,
    ReleaseBackend,
    ResumeBackend,
    ResumeClient,
    ToBackend,
    ToClient,
    Tunnel,
)
from l7lb.proxy.deadlines import NEVER
from l7lb.proxy.engine import Engine
from l7lb.proxy.flow import ReadGate
from l7lb.proxy.h1 import H1Connection
from l7lb.proxy.h2 import H2Connection
from l7lb.proxy.h2c import PriorKnowledge
from l7lb.proxy.link import BackendLink, BackendUser, Requester
from l7lb.proxy.outbox import Outbox
from l7lb.proxy.runtime import PoolRuntime, VipRuntime
from l7lb.proxy.services import WorkerServices
from l7lb.proxy.upstream import BackendConnection, abort, close
from l7lb.proxyproto.arrival import Arrival
from l7lb.proxyproto.outbound import header_for_client
from l7lb.tls.stream import TlsStream

log: Final = logging.getLogger("l7lb.proxy")


class ClientConnection(asyncio.Protocol, BackendUser):
    def __init__(
        self, services: WorkerServices, vip: VipRuntime, arrival: Arrival | None = None
    ) -> None:
        self.services = services
        # what the accept gate learned (a PROXY header's addresses, the TLS SNI); None: none
        self.arrival = arrival
        self.rt = services.rt
        self.vip = vip
        self.loop = services.loop
        # the loop's clock, bound once: calling it skips the lookup by name that
        # ``self.loop.time()`` would make each time (twice per proxied request)
        self.clock: Callable[[], float] = services.loop.time
        # writes wait here for the end of the loop's pass (see l7lb/proxy/outbox.py)
        self.outbox: Outbox = services.outbox
        self.transport: asyncio.Transport | None = None
        self.conn: Engine | None = None
        self.gate = ReadGate()
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = NEVER
        self.running = False
        self.closed = False  # connection_lost came
        self.closing = False  # closed or reset by us, or lost
        self.source: SourceEntry | None = None  # [vip.limits]: this client's counters

    # ---- asyncio callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self.gate.transport = transport  # type: ignore[assignment]
        arrival = self.arrival
        if arrival is not None and arrival.source is not None:
            peer = arrival.source  # the client a PROXY header named, not the proxy
        else:
            peer = transport.get_extra_info("peername")
        address = peer[0] if peer else "-"
        now = self.clock()
        limits = self.vip.limits
        if limits is not None:
            # every limit counts by this address (a PROXY header's, when there is one)
            self.source = limits.open(address, self.rt.wall(now))
            if self.source is None:
                # over max_conn_per_source: refused at once with a reset (the table counts
                # and logs it)
                self.closed = self.closing = True
                transport.abort()  # type: ignore[attr-defined]
                return
        self.rt.connections.add(self)
        self.conn = self._engine(address, now)
        self._run(now)

    def _engine(self, peer: str, now: float) -> Engine:
        """The engine for this connection's protocol: HTTP/2 when ALPN chose "h2" (or,
        on a plain VIP that allows it, when the client starts with the HTTP/2 preface)."""
        vip = self.vip
        if vip.secure:
            t = self.transport
            ssl_object = t.get_extra_info("ssl_object") if t is not None else None
            if ssl_object is not None and ssl_object.selected_alpn_protocol() == "h2":
                return H2Connection(self.rt, vip, peer, now, self.source)
        elif vip.vip.http2 == "prior-knowledge":
            return PriorKnowledge(self.rt, vip, peer, now, self.source)
        return H1Connection(self.rt, vip, peer, now, self.source)

    def drain(self) -> None:
        """The worker stops (reload, SIGTERM): an HTTP/2 connection says GOAWAY and closes
        once its streams are done (an HTTP/1.1 one closes after its current response)."""
        conn = self.conn
        if isinstance(conn, H2Connection | PriorKnowledge) and not self.closed:
            now = self.clock()
            conn.drain(now)
            self._run(now)

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        assert conn is not None
        now = self.clock()
        conn.receive(data, now)
        self._run(now)

    def eof_received(self) -> bool | None:
        conn = self.conn
        assert conn is not None
        now = self.clock()
        keep = conn.receive_eof(now)
        self._run(now)
        if keep and not self.closed:
            return True
        self.outbox.flush()  # the transport closes when this returns: what was queued first
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = self.closing = True
        self.rt.connections.discard(self)
        source = self.source
        if source is not None:
            self.source = None
            source.close()
        timer = self.timer
        if timer is not None:
            self.timer = None
            timer.cancel()
        conn = self.conn
        if conn is not None:
            now = self.clock()
            conn.lost(now)
            self._run(now)

    def pause_writing(self) -> None:
        if self.conn is not None:
            self.conn.client_full(True)
            self._run(self.clock())

    def resume_writing(self) -> None:
        if self.conn is not None and not self.closed:
            self.conn.client_full(False)
            self._run(self.clock())

    # ---- what backend connections report (link.BackendUser) -----------------------------------

    def backend_data(self, link: BackendLink, data: bytes) -> None:
        ex = link.exchange
        if ex is not None:
            now = self.clock()
            ex.backend_received(link, data, now)
            self._run(now)

    def backend_lost(self, link: BackendLink, error: str) -> None:
        ex = link.exchange
        if ex is not None:
            now = self.clock()
            ex.backend_closed(link, error, now)
            self._run(now)

    def backend_full(self, link: BackendLink, full: bool) -> None:
        ex = link.exchange
        if ex is not None:
            ex.backend_full(full)
            self._run(self.clock())

    def tunnel_data(self, data: bytes) -> None:
        t = self.transport
        if t is not None and not self.closing:
            self.outbox.send(t, data)  # after the 101 and anything else queued before it

    def tunnel_lost(self) -> None:
        if self.conn is not None:
            self.conn.tunnel_closed()
            self._run(self.clock())

    # ---- answers from elsewhere ------------------------------------------------------------------

    def _claimed(self, ex: Requester, name: str | None) -> None:
        now = self.clock()
        ex.claim_answer(name, now)
        self._run(now)

    def _slot_free(self, ex: Requester) -> None:
        now = self.clock()
        ex.slot_free(now)
        self._run(now)

    async def _connect(self, ex: Requester, pool: PoolRuntime, server: ServerState) -> None:
        addr = server.server.address
        link = BackendLink(pool.name, server, self.rt.response_parser())
        try:
            await asyncio.wait_for(
                self.loop.create_connection(
                    lambda: BackendConnection(link, pool.stock), addr.host, addr.port
                ),
                self.rt.timeouts.backend_connect,
            )
        except (TimeoutError, OSError) as exc:
            reason = "timeout" if isinstance(exc, TimeoutError) else str(exc)
            now = self.clock()
            ex.connect_failed(server, reason, now)
            self._run(now)
            return
        send_proxy = server.server.send_proxy
        if send_proxy and link.transport is not None and self.transport is not None:
            # the PROXY header goes first, once per connection (reused ones carried it)
            link.transport.write(
                header_for_client(send_proxy, self.arrival, self.transport.get_extra_info)
            )
        link.user = self
        now = self.clock()
        ex.attached(link, now)
        self._run(now)

    # ---- carrying out the engine's commands -----------------------------------------------------

    def _run(self, now: float) -> None:
        """Carry out the queued commands in order; the client's bytes of one batch leave in
        one write. Commands an action makes the engine queue (an idle connection attached
        at once, say) run in the same call."""
        conn = self.conn
        if self.running or conn is None:
            return
        out = conn.out
        if out:
            self.running = True
            try:
                # by index: commands queued while these run (an idle connection attached at
                # once, or a pause a write provoked) join the same pass
                pending: list[bytes] = []
                i = 0
                while True:
                    while i < len(out):
                        cmd = out[i]
                        i += 1
                        t = type(cmd)
                        if t is ToClient:
                            pending.append(cmd.data)  # type: ignore[attr-defined]
                            continue
                        if t is CloseClient and not cmd.abort:  # type: ignore[attr-defined]
                            self._cork()
                        if pending:
                            self._write(pending)
                            pending = []
                        self._do(cmd, now)
                    if not pending:
                        break
                    self._write(pending)
                    pending = []
            finally:
                out.clear()
                self.running = False
        self._arm(conn.next_deadline())

    def _write(self, pending: list[bytes]) -> None:
        t = self.transport
        if t is not None and not self.closing:
            self.outbox.send(t, pending[0] if len(pending) == 1 else b"".join(pending))

    def _do(self, cmd: Command, now: float) -> None:
        t = type(cmd)
        if t is ToBackend:
            assert isinstance(cmd, ToBackend)
            bt = cmd.link.transport
            if bt is not None and not cmd.link.closed:
                self.outbox.send(bt, cmd.data)
        elif t is ReleaseBackend:
            assert isinstance(cmd, ReleaseBackend)
            link = cmd.link
            link.user = None
            if cmd.reuse:
                self.rt.pools[link.pool_name].stock.put(link, now)
            else:
                self.outbox.flush()  # what was queued for it goes before the close
                if cmd.abort:
                    abort(link)
                else:
                    close(link)
        elif t is Connect:
            assert isinstance(cmd, Connect)
            idle = None if cmd.fresh else cmd.pool.stock.take(cmd.server)
            if idle is not None:
                idle.user = self
                cmd.exchange.attached(idle, now)
            else:
                self.loop.create_task(self._connect(cmd.exchange, cmd.pool, cmd.server))
        elif t is Log:
            assert isinstance(cmd, Log)
            self.services.log(cmd.record)
        elif t is CloseClient:
            assert isinstance(cmd, CloseClient)
            self._close(cmd.abort)
        elif t is PauseClient:
            assert isinstance(cmd, PauseClient)
            if not self.closed:
                self.gate.pause(cmd.reason)
        elif t is ResumeClient:
            assert isinstance(cmd, ResumeClient)
            if not self.closed:
                self.gate.resume(cmd.reason)
        elif t is PauseBackend:
            assert isinstance(cmd, PauseBackend)
            bt = cmd.link.transport
            if bt is not None:
                bt.pause_reading()
        elif t is ResumeBackend:
            assert isinstance(cmd, ResumeBackend)
            bt = cmd.link.transport
            if bt is not None and not cmd.link.closed:
                bt.resume_reading()
        elif t is Tunnel:
            assert isinstance(cmd, Tunnel)
            cmd.link.user = self
        elif t is Announce:
            assert isinstance(cmd, Announce)
            self.services.announce(cmd.updates)
        elif t is Claim:
            assert isinstance(cmd, Claim)
            self._claim(cmd)
        elif t is Enqueue:
            assert isinstance(cmd, Enqueue)
            self._enqueue(cmd)
        else:  # pragma: no cover - every command type is handled above
            raise TypeError(f"unknown command {cmd!r}")

    # (their own methods: a closure in _do would make every _do call allocate its scope)

    def _claim(self, cmd: Claim) -> None:
        ex = cmd.exchange
        self.services.claim(cmd.table, cmd.key, cmd.proposal, lambda name: self._claimed(ex, name))

    def _enqueue(self, cmd: Enqueue) -> None:
        ex = cmd.exchange
        cmd.pool.waiters.append((ex, lambda: self._slot_free(ex)))

    def _cork(self) -> None:
        t = self.transport
        if isinstance(t, TlsStream) and not self.closed:
            # the last response, the close_notify and the FIN leave in one segment
            t.cork()

    def _close(self, reset: bool) -> None:
        t = self.transport
        if t is None or self.closed:
            return
        self.outbox.flush()  # what was queued for the client goes before the close
        if reset:  # a reset also overrides a graceful close asked for before
            self.closing = True
            t.abort()
        elif not self.closing:
            self.closing = True
            t.close()

    # ---- the one timer -------------------------------------------------------------------------

    # Moving the deadline later (every request does) costs nothing here: the loop timer is
    # only re-armed when the deadline moves earlier than the armed time, or when the timer
    # fires early and finds the deadline moved on. call_later + cancel per request cost
    # about 4 µs.

    def _arm(self, when: float) -> None:
        if when == NEVER or self.closed:
            return
        timer = self.timer
        if timer is None or self.timer_at > when:
            if timer is not None:
                timer.cancel()
            self.timer = self.loop.call_at(when, self._on_timer)
            self.timer_at = when

    def _on_timer(self) -> None:
        self.timer = None
        conn = self.conn
        if conn is None or self.closed:
            return
        when = conn.next_deadline()
        if when == NEVER:
            return
        now = self.clock()
        if when > now:
            self.timer = self.loop.call_at(when, self._on_timer)
            self.timer_at = when
            return
        conn.on_timer(now)
        self._run(now)
