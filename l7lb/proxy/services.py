"""What the data path needs from its worker beyond sockets: the supervisor, the access log,
and the once-a-second sweep.

``WorkerServices`` is the event-loop half of a worker's runtime: it sends persistence claims
and announcements to the supervisor (a claim not answered within ``CLAIM_TIMEOUT`` costs a
scheduling decision, never a stall), writes access records, and sweeps idle connections and
expired table entries. Messages from the supervisor are applied to the runtime here.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Final

from l7lb.accesslog import AccessLog, AccessRecord
from l7lb.admin.commands import ServerRow
from l7lb.balancing import ServerState
from l7lb.control import (
    Admin,
    Claim,
    Claimed,
    Health,
    LimitDeltas,
    Message,
    Metrics,
    MetricsQuery,
    Stats,
    StatsQuery,
    Stick,
)
from l7lb.metrics import snapshot
from l7lb.persistence.shared import StickUpdate
from l7lb.proxy.outbox import Outbox
from l7lb.proxy.runtime import PoolRuntime, WorkerRuntime

log: Final = logging.getLogger("l7lb.worker")

CLAIM_TIMEOUT: Final = 0.05  # seconds a first-contact request waits for the supervisor
# seconds between two reports of [vip.limits] counts: the other workers see a client's
# requests here at most this late
LIMIT_SYNC: Final = 0.1
LIMIT_BATCH: Final = 2000  # source deltas per control message


class WorkerServices:
    def __init__(self, rt: WorkerRuntime, loop: asyncio.AbstractEventLoop) -> None:
        self.rt = rt
        self.loop = loop
        self.access_log = AccessLog(rt.config.log, loop.call_later)
        # the bytes every connection writes, held to the end of the loop's pass
        self.outbox = Outbox(loop.call_soon)
        self.control_sender: Callable[[Message], None] | None = None
        self.tls: dict[str, Any] = {}  # vip name -> l7lb.tls.context.VipTls (counters)
        self._claims: dict[int, tuple[Callable[[str | None], None], asyncio.TimerHandle]] = {}
        self._claim_id = 0
        rt.wall_offset = time.time() - loop.time()
        self._sweeper: asyncio.TimerHandle | None = loop.call_later(1.0, self._sweep)
        # metrics: what the worker adds to its snapshots (set by the worker), and the
        # report timer, which also measures the event loop's lag
        self.session_cache: snapshot.CacheCounters | None = None
        self.store: snapshot.StoreCounters | None = None
        m = rt.config.metrics
        self._report_every = m.interval if m is not None else 1.0
        self._report_due = loop.time() + self._report_every
        self._lag = 0.0
        self._reporter: asyncio.TimerHandle | None = loop.call_at(self._report_due, self._report)
        self._limit_sync: asyncio.TimerHandle | None = None
        if any(v.limits is not None for v in rt.vips.values()):
            self._limit_sync = loop.call_later(LIMIT_SYNC, self._sync_limits)

    # ---- toward the supervisor -----------------------------------------------------------

    def control_send(self, msg: Message) -> None:
        if self.control_sender is not None:
            self.control_sender(msg)

    def announce(self, updates: list[StickUpdate]) -> None:
        """Persistence entries this worker learned: to the supervisor, which tells the other
        workers. Sent at once, before the response that reveals the entry to the client, so
        the client's next request (perhaps on another worker) finds the supervisor knowing
        it."""
        self.control_send(Stick(tuple(updates)))

    def claim(
        self, table: str, key: bytes, server: str | None, reply: Callable[[str | None], None]
    ) -> None:
        """Ask the supervisor which server ``key`` sticks to, proposing ``server`` (first
        claim wins). ``reply`` gets the answer, or None after CLAIM_TIMEOUT."""
        self._claim_id += 1
        cid = self._claim_id
        handle = self.loop.call_later(CLAIM_TIMEOUT, self._claim_expired, cid)
        self._claims[cid] = (reply, handle)
        self.control_send(Claim(cid, StickUpdate(table, key, server or "")))

    def _claim_expired(self, cid: int) -> None:
        entry = self._claims.pop(cid, None)
        if entry is not None:
            log.warning("persistence claim %d: no answer from the supervisor in time", cid)
            entry[0](None)

    def log(self, record: AccessRecord) -> None:
        self.access_log.write(record)

    def _sync_limits(self) -> None:
        """This worker's [vip.limits] changes since the last time, to the supervisor."""
        for v in self.rt.vips.values():
            table = v.limits
            if table is not None and table.dirty:
                deltas = table.collect()
                for i in range(0, len(deltas), LIMIT_BATCH):
                    batch = tuple(deltas[i : i + LIMIT_BATCH])
                    self.control_send(LimitDeltas(v.name, table.length, batch))
        self._limit_sync = self.loop.call_later(LIMIT_SYNC, self._sync_limits)

    # ---- from the supervisor ---------------------------------------------------------------

    def _server(self, pool: str, server: str) -> tuple[PoolRuntime, ServerState] | None:
        p = self.rt.pools.get(pool)
        if p is None:
            return None
        s = p.state.by_name.get(server)
        return None if s is None else (p, s)

    def control_message(self, msg: Message) -> None:
        """Apply one message from the supervisor. KeyError or ValueError for one that names
        no such server or carries an impossible value (logged by the caller)."""
        rt = self.rt
        if isinstance(msg, Health):
            found = self._server(msg.pool, msg.server)
            if found is not None:
                found[1].up = msg.up
        elif isinstance(msg, Admin):
            found = self._server(msg.pool, msg.server)
            if found is None:
                return
            pool, server = found
            if msg.weight is not None:
                pool.state.set_weight(server.name, msg.weight)
            if msg.state:
                deadline = math.inf  # on the loop's clock
                if msg.deadline is not None:
                    deadline = self.loop.time() + (msg.deadline - time.time())
                pool.state.set_admin(server.name, msg.state, deadline)
        elif isinstance(msg, Claimed):
            entry = self._claims.pop(msg.id, None)
            if entry is not None:
                entry[1].cancel()
                entry[0](msg.server)
        elif isinstance(msg, Stick):
            wall = time.time()
            for u in msg.updates:
                rt.tables.apply(u, wall)
        elif isinstance(msg, LimitDeltas):
            vip = rt.vips.get(msg.vip)
            if vip is not None and vip.limits is not None:
                vip.limits.apply(msg.deltas, time.time(), msg.length)
        elif isinstance(msg, StatsQuery):
            now, wall = self.loop.time(), time.time()
            rows = []
            for p in rt.pools.values():
                entries = p.stickiness.entries(wall) if p.stickiness is not None else {}
                for s in p.state.servers:
                    rows.append(
                        asdict(ServerRow.from_state(p.name, s, entries.get(s.name, 0), now))
                    )
            tls = {name: vt.counters.snapshot() for name, vt in self.tls.items()}
            self.control_send(Stats(msg.id, rows, tls))
        elif isinstance(msg, MetricsQuery):
            self.control_send(Metrics(msg.id, self.metrics_snapshot()))
        else:
            log.warning("unexpected control message %s", msg.TYPE)

    # ---- housekeeping ----------------------------------------------------------------------

    def metrics_snapshot(self) -> dict[str, Any]:
        lag, self._lag = self._lag, 0.0
        return snapshot.take(
            self.rt,
            tls={name: vt.counters for name, vt in self.tls.items()},
            session_cache=self.session_cache,
            store=self.store,
            lag=lag,
        )

    def _report(self) -> None:
        now = self.loop.time()
        # a timer fires late by as long as the loop was busy: that is the lag
        self._lag = max(self._lag, now - self._report_due)
        self.control_send(Metrics(0, self.metrics_snapshot()))
        self._report_due = now + self._report_every
        self._reporter = self.loop.call_at(self._report_due, self._report)

    def _sweep(self) -> None:
        self.rt.sweep(self.loop.time(), time.time())
        self._sweeper = self.loop.call_later(1.0, self._sweep)

    def start_draining(self) -> None:
        self.rt.draining = True
        for p in self.rt.pools.values():
            p.stock.draining = True

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if self._reporter is not None:
            self._reporter.cancel()
            self._reporter = None
            # the last numbers: the supervisor keeps them after this worker is gone
            self.control_send(Metrics(0, self.metrics_snapshot()))
        if self._limit_sync is not None:
            self._limit_sync.cancel()
            self._limit_sync = None
        self.rt.close()
        self.access_log.close()
