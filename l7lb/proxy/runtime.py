"""What one worker builds from a ``Config``: routers, pool state, idle stocks.

Built once per configuration; the data path reads only these objects, and everything here
is plain state (no event loop): the engine and the playbook tests use it alike. The one
thing it asks of the outside is ``defer``, to run a waiting exchange's wake-up on the next
loop turn when a server slot frees (``loop.call_soon`` in a worker).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from l7lb.balancing import HashKey, PoolState, ServerState
from l7lb.config.model import Config, Pool, Vip
from l7lb.health.passive import PassiveTracker
from l7lb.http.codec import parser_types, resolve_parser_kind
from l7lb.http.events import RequestParser, ResponseParser
from l7lb.http.forwarding import server_authorities
from l7lb.limits.table import SourceTable
from l7lb.metrics.counters import PoolCounters, WorkerMetrics
from l7lb.persistence.policy import Stickiness
from l7lb.persistence.shared import StickTables
from l7lb.proxy.link import Requester
from l7lb.proxy.upstream import IdleStock
from l7lb.routing.router import Router

log: Final = logging.getLogger("l7lb.worker")

Defer = Callable[[Callable[[], None]], object]


class PoolRuntime:
    """A pool's run-time state in one worker."""

    __slots__ = (
        "authorities",
        "counters",
        "defer",
        "draining",
        "hash_key",
        "name",
        "passive",
        "pool",
        "state",
        "stickiness",
        "stock",
        "waiters",
    )

    def __init__(self, pool: Pool, tables: StickTables, defer: Defer) -> None:
        self.pool = pool
        self.name = pool.name
        self.defer = defer
        self.state = PoolState(pool)
        self.stock = IdleStock(pool.max_idle, pool.idle_timeout)
        self.authorities = server_authorities([s.address for s in pool.servers])
        self.hash_key = HashKey(pool.hash_key)
        self.counters = PoolCounters([s.name for s in pool.servers])  # l7lb.metrics
        self.stickiness: Stickiness | None = None
        if pool.persistence.enabled:
            self.stickiness = Stickiness(pool, self.state, tables)
        h = pool.health
        self.passive: dict[str, PassiveTracker] = {}
        if h.passive_failures > 0:
            self.passive = {
                s.name: PassiveTracker(h.passive_failures, h.passive_backoff) for s in pool.servers
            }
        # exchanges waiting for a slot when every server is at max_conn, with their wake-up
        self.waiters: deque[tuple[Requester, Callable[[], None]]] = deque()

    def any_full(self) -> bool:
        """Is some otherwise usable server only refusing because of max_conn?"""
        return any(
            s.max_conn and s.active >= s.max_conn and s.up and s.admin == "ready" and s.weight
            for s in self.state.servers
        )

    def release(self, server: ServerState) -> None:
        """A request on ``server`` finished: its slot goes to the first exchange still
        waiting, woken on the next loop turn."""
        self.state.release(server)
        waiters = self.waiters
        while waiters:
            ex, wake = waiters.popleft()
            if ex.waiting and not ex.done:
                self.defer(wake)
                break

    def connect_failed(self, server: ServerState, reason: str, now: float) -> None:
        """Log a failed connect; passive health: consecutive failures put the server in
        back-off."""
        log.warning(
            "pool %s server %s (%s): connect failed: %s",
            self.name,
            server.server.name,
            server.server.address,
            reason,
        )
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


@dataclass(slots=True)
class VipRuntime:
    vip: Vip
    name: str
    router: Router
    scheme: bytes  # b"http" or b"https"
    secure: bool  # the client connection is TLS
    limits: SourceTable | None = None  # [vip.limits]: None counts nothing


class WorkerRuntime:
    """Everything a worker's connections share for one configuration."""

    def __init__(self, config: Config, defer: Defer, tables: StickTables | None = None) -> None:
        self.config = config
        self.timeouts = config.timeouts
        t = config.timeouts
        self.body_watch = t.body_min_rate > 0 or t.body_deadline > 0  # request bodies
        self.http = config.http
        self.parser_kind = resolve_parser_kind(config.http.parser)
        self._request_parser, self._response_parser = parser_types(self.parser_kind)
        self.limits = config.http.limits
        self.via = config.http.via.encode()
        self.forwarded = config.http.forwarded
        self.log_enabled = config.log.access not in ("off", "")
        # per-request counters for /metrics; None when [metrics] enabled = false
        self.metrics: WorkerMetrics | None = None
        if config.metrics is None or config.metrics.enabled:
            self.metrics = WorkerMetrics([v.name for v in config.vips])
        self.draining = False
        # wall-clock seconds minus loop seconds, refreshed by the worker's sweep: cookie
        # dates are wall-clock, the engine's events carry loop time
        self.wall_offset = 0.0
        self.connections: set[object] = set()
        self.tables = tables if tables is not None else StickTables()
        self.pools: dict[str, PoolRuntime] = {
            name: PoolRuntime(pool, self.tables, defer) for name, pool in config.pools.items()
        }
        self.vips: dict[str, VipRuntime] = {}
        for vip in config.vips:
            secure = vip.tls is not None
            limits = SourceTable(vip.name, vip.limits) if vip.limits is not None else None
            self.vips[vip.name] = VipRuntime(
                vip, vip.name, Router(vip.routes), b"https" if secure else b"http", secure, limits
            )

    def wall(self, now: float) -> float:
        """Wall-clock seconds at loop time ``now``."""
        return now + self.wall_offset

    def request_parser(self) -> RequestParser:
        return self._request_parser(self.limits)

    def response_parser(self) -> ResponseParser:
        return self._response_parser(self.limits)

    def sweep(self, now: float, wall: float) -> None:
        """Once a second: idle backend connections past their timeout, expired persistence
        entries, and the wall-clock offset."""
        self.wall_offset = wall - now
        for p in self.pools.values():
            p.stock.sweep(now)
        self.tables.expire(wall)
        for v in self.vips.values():
            if v.limits is not None:
                v.limits.sweep(wall)

    def close(self) -> None:
        for p in self.pools.values():
            p.stock.close_all()
