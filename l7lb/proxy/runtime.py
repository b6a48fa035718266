"""What one worker builds from a ``Config``: routers, pool state, idle stocks.

Built once per configuration generation; the data path reads only these
objects. Pool runtime state (active counts, idle connections) lives here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final

from l7lb.accesslog import AccessLog
from l7lb.admin.commands import ServerRow
from l7lb.balancing import HashKey, PoolState, ServerState
from l7lb.config.model import Config, Pool, Vip
from l7lb.health.passive import PassiveTracker
from l7lb.http.codec import parser_types, resolve_parser_kind
from l7lb.http.events import RequestParser, ResponseParser
from l7lb.http.forwarding import server_authorities
from l7lb.proxy.backend import BackendConnection
from l7lb.proxy.stickiness import Stickiness, StickTables, StickUpdate
from l7lb.routing.router import Router

if TYPE_CHECKING:
    from l7lb.proxy.client import ClientConnection

log: Final = logging.getLogger("l7lb.worker")

CLAIM_TIMEOUT: Final = 0.05  # seconds a first-contact request waits for the supervisor


class PoolRuntime:
    def __init__(self, pool: Pool, runtime: WorkerRuntime) -> None:
        self.pool = pool
        self.name = pool.name
        self.runtime = runtime
        self.state = PoolState(pool)
        self.idle: dict[str, list[BackendConnection]] = {s.name: [] for s in pool.servers}
        self.authorities = server_authorities([s.address for s in pool.servers])
        self.hash_key = HashKey(pool.hash_key)
        self.stickiness: Stickiness | None = None
        if pool.persistence.enabled:
            self.stickiness = Stickiness(pool, self.state, runtime.tables)
        h = pool.health
        self.passive: dict[str, PassiveTracker] = {}
        if h.passive_failures > 0:
            self.passive = {
                s.name: PassiveTracker(h.passive_failures, h.passive_backoff) for s in pool.servers
            }
        # clients waiting for a slot when every server is at max_conn
        self.waiters: deque[ClientConnection] = deque()

    def any_full(self) -> bool:
        """Is some otherwise usable server only refusing because of max_conn?"""
        return any(
            s.max_conn and s.active >= s.max_conn and s.up and s.admin == "ready" and s.weight
            for s in self.state.servers
        )

    def release(self, server: ServerState) -> None:
        self.state.release(server)
        waiters = self.waiters
        while waiters:
            c = waiters.popleft()
            if c.waiting_for is self:
                c.waiting_for = None
                self.runtime.loop.call_soon(c.retry_dispatch)
                break

    def connect_failed(self, server: ServerState, now: float) -> None:
        """Passive health: consecutive failures put the server in back-off."""
        tracker = self.passive.get(server.name)
        if tracker is not None and tracker.record_failure(now):
            self.state.mark_down(server.name, tracker.down_until)
            log.warning(
                "pool %s server %s: %d consecutive failures, in back-off for %.0fs",
                self.name,
                server.name,
                tracker.threshold,
                tracker.backoff,
            )

    def connect_ok(self, server: ServerState) -> None:
        tracker = self.passive.get(server.name)
        if tracker is not None:
            tracker.record_success()

    def take_idle(self, server: ServerState) -> BackendConnection | None:
        stock = self.idle.get(server.server.name)
        while stock:
            conn = stock.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
        return None

    def put_idle(self, conn: BackendConnection, now: float) -> None:
        stock = self.idle.setdefault(conn.server.server.name, [])
        if len(stock) >= self.pool.max_idle or self.runtime.draining:
            conn.close()
            return
        conn.client = None
        conn.idle_since = now
        stock.append(conn)

    def forget_idle(self, conn: BackendConnection) -> None:
        stock = self.idle.get(conn.server.server.name)
        if stock and conn in stock:
            stock.remove(conn)

    def sweep(self, now: float) -> None:
        limit = now - self.pool.idle_timeout
        for stock in self.idle.values():
            if stock and stock[0].idle_since < limit:
                keep = [c for c in stock if c.idle_since >= limit]
                for c in stock:
                    if c.idle_since < limit:
                        c.close()
                stock[:] = keep

    def close_all(self) -> None:
        for stock in self.idle.values():
            for c in stock:
                c.close()
            stock.clear()


@dataclass(slots=True)
class VipRuntime:
    vip: Vip
    name: str
    router: Router
    scheme: bytes  # b"http" or b"https"


class WorkerRuntime:
    """Everything a worker's connections share for one configuration."""

    def __init__(self, config: Config, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.loop = loop
        self.timeouts = config.timeouts
        self.http = config.http
        self.parser_kind = resolve_parser_kind(config.http.parser)
        self._request_parser, self._response_parser = parser_types(self.parser_kind)
        self.limits = config.http.limits
        self.via = config.http.via.encode()
        self.forwarded = config.http.forwarded
        self.draining = False
        self.connections: set[object] = set()
        self.tables = StickTables()
        self.control_sender: Callable[[dict[str, Any]], None] | None = None
        self._claims: dict[int, tuple[Callable[[str | None], None], asyncio.TimerHandle]] = {}
        self._claim_id = 0
        self.pools: dict[str, PoolRuntime] = {}
        for name, pool in config.pools.items():
            self.pools[name] = PoolRuntime(pool, self)
        self.vips: dict[str, VipRuntime] = {}
        for vip in config.vips:
            scheme = b"https" if vip.tls is not None else b"http"
            self.vips[vip.name] = VipRuntime(vip, vip.name, Router(vip.routes), scheme)
        self.access_log = AccessLog(config.log, loop.call_later)
        self.tls: dict[str, Any] = {}  # vip name -> l7lb.tls.context.VipTls (counters)
        self._sweeper: asyncio.TimerHandle | None = loop.call_later(1.0, self._sweep)

    # ---- the control channel (see l7lb/control.py) ----------------------------

    def control_send(self, msg: dict[str, Any]) -> None:
        """To the supervisor, through the writer the worker installs."""
        if self.control_sender is not None:
            self.control_sender(msg)

    def _server(self, pool: str, server: str) -> tuple[PoolRuntime, ServerState] | None:
        p = self.pools.get(pool)
        if p is None:
            return None
        s = p.state.by_name.get(server)
        return None if s is None else (p, s)

    def control_message(self, msg: dict[str, Any]) -> None:
        t = msg["t"]
        if t == "health":
            found = self._server(msg["pool"], msg["server"])
            if found is not None:
                found[1].up = bool(msg["up"])
        elif t == "admin":
            found = self._server(msg["pool"], msg["server"])
            if found is None:
                return
            pool, server = found
            if msg.get("weight") is not None:
                pool.state.set_weight(server.name, int(msg["weight"]))
            if msg.get("state"):
                pool.state.set_admin(server.name, str(msg["state"]))
        elif t == "claimed":
            entry = self._claims.pop(int(msg["id"]), None)
            if entry is not None:
                entry[1].cancel()
                entry[0](msg.get("server") or None)
        elif t == "stick":
            now = time.time()
            for item in msg["u"]:
                self.tables.apply(StickUpdate.from_dict(item), now)
        elif t == "stats?":
            now, wall = self.loop.time(), time.time()
            rows = []
            for p in self.pools.values():
                entries = p.stickiness.entries(wall) if p.stickiness is not None else {}
                for s in p.state.servers:
                    rows.append(
                        asdict(ServerRow.from_state(p.name, s, entries.get(s.name, 0), now))
                    )
            tls = {name: vt.counters.snapshot() for name, vt in self.tls.items()}
            self.control_send({"t": "stats", "id": msg["id"], "servers": rows, "tls": tls})
        else:
            log.warning("unknown control message type %r", t)

    def request_parser(self) -> RequestParser:
        return self._request_parser(self.limits)

    def response_parser(self) -> ResponseParser:
        return self._response_parser(self.limits)

    def announce(self, updates: list[StickUpdate]) -> None:
        """Persistence entries this worker learned: to the supervisor, which tells
        the other workers. Sent at once, before the response that reveals the
        entry to the client, so the client's next request (perhaps on another
        worker) finds the supervisor knowing it."""
        self.control_send({"t": "stick", "u": [u.to_dict() for u in updates]})

    def claim(
        self, table: str, key: bytes, server: str | None, reply: Callable[[str | None], None]
    ) -> None:
        """Ask the supervisor which server ``key`` sticks to, proposing ``server``
        (first claim wins). ``reply`` gets the answer, or None after CLAIM_TIMEOUT:
        a slow supervisor costs a scheduling decision, never a stall."""
        self._claim_id += 1
        cid = self._claim_id
        handle = self.loop.call_later(CLAIM_TIMEOUT, self._claim_expired, cid)
        self._claims[cid] = (reply, handle)
        item = StickUpdate(table, key, server or "").to_dict()
        self.control_send({"t": "claim", "id": cid, "u": item})

    def _claim_expired(self, cid: int) -> None:
        entry = self._claims.pop(cid, None)
        if entry is not None:
            log.warning("persistence claim %d: no answer from the supervisor in time", cid)
            entry[0](None)

    def _sweep(self) -> None:
        now = self.loop.time()
        for p in self.pools.values():
            p.sweep(now)
        self.tables.expire(time.time())
        self._sweeper = self.loop.call_later(1.0, self._sweep)

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for p in self.pools.values():
            p.close_all()
        self.access_log.close()
