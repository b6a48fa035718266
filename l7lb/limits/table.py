"""A worker's counters for one VIP's ``[vip.limits]``: connections and request rate per
client address.

The glue asks ``open`` when a connection arrives (None: refuse it) and calls ``close`` on the
entry when it ends; the exchange asks ``entry.request`` for every request (0: go on, else the
seconds to put in Retry-After). Connections hold their entry, so a request costs no lookup:
a window position, a comparison and a counter bump.

Other workers' and other directors' counts come in through ``apply`` (the supervisor's
relays); this worker's own changes leave through ``collect`` (a few times a second). The
decision is always local: own counts plus the others' as last relayed, so the others' are
up to one report interval late.

Memory is bounded against address floods: at most ``max_sources`` entries are kept, plus
those still in use. When full, entries whose windows have passed go first, then the oldest
others; an entry with open connections (here or, as relayed, in another worker) or with
changes not yet reported is never dropped. A dropped address starts again from zero.
"""

from __future__ import annotations

from typing import Final

from l7lb.config.model import VipLimits
from l7lb.limits.deltas import SourceDelta
from l7lb.limits.source import source_name
from l7lb.limits.window import SlidingCounter, position, wait

SWEEP_INTERVAL: Final = 10.0  # seconds between two sweeps of expired entries (at least)


class SourceEntry:
    """One client address."""

    __slots__ = (
        "conns",
        "dirty",
        "key",
        "limited",
        "pend",
        "pend_conns",
        "pend_prev",
        "rate",
        "refused",
        "remote_conns",
        "table",
    )

    def __init__(self, table: SourceTable, key: str, index: int) -> None:
        self.table = table
        self.key = key
        self.conns = 0  # open in this worker
        self.remote_conns = 0  # open in the other workers, as relayed
        self.rate = SlidingCounter(index)  # requests, every worker's and director's
        self.pend = 0  # own requests of rate.index not reported yet
        self.pend_prev = 0  # ... of rate.index - 1
        self.pend_conns = 0
        self.refused = 0  # not reported yet
        self.limited = 0  # not reported yet
        self.dirty = False  # in table.dirty

    def _roll(self, index: int) -> None:
        rate = self.rate
        if index == rate.index + 1:
            self.pend_prev = self.pend
        else:
            self.pend_prev = 0
        self.pend = 0
        rate.roll(index)

    def _mark(self) -> None:
        if not self.dirty:
            self.dirty = True
            self.table.dirty.append(self)

    def request(self, wall: float) -> float:
        """A request at ``wall`` (wall-clock seconds): 0.0 if it may go on (and it is
        counted), else the seconds until the client may try again (it is not counted)."""
        table = self.table
        limit = table.limit
        if limit <= 0.0:
            return 0.0
        index, pos = position(wall, table.length)
        rate = self.rate
        if index > rate.index:
            self._roll(index)
        if rate.current + rate.previous * (1.0 - pos) >= limit:
            self.limited += 1  # reported: the supervisor logs it (board.py)
            self._mark()
            return max(wait(rate.current, rate.previous, pos, limit, table.length), 1e-3)
        rate.current += 1
        self.pend += 1
        self._mark()
        return 0.0

    def close(self) -> None:
        """Its connection ended."""
        self.conns -= 1
        self.pend_conns -= 1
        self._mark()

    def pinned(self) -> bool:
        """In use: connections open somewhere, or changes to report."""
        return self.conns > 0 or self.remote_conns > 0 or self.dirty


class SourceTable:
    """The counters of one VIP in one worker (see the module docstring)."""

    __slots__ = (
        "dirty",
        "entries",
        "length",
        "limit",
        "limits",
        "max_conn",
        "next_sweep",
        "vip",
    )

    def __init__(self, vip: str, limits: VipLimits) -> None:
        self.vip = vip
        self.limits = limits
        self.max_conn = limits.max_conn_per_source
        self.limit = limits.window_limit  # requests per window; 0 = no rate limit
        self.length = limits.rate_window
        self.entries: dict[str, SourceEntry] = {}
        self.dirty: list[SourceEntry] = []
        self.next_sweep = 0.0

    def key(self, peer: str) -> str:
        return source_name(peer, self.limits.mask, self.limits.mask6)

    def entry(self, key: str, wall: float) -> SourceEntry:
        found = self.entries.get(key)
        if found is None:
            if len(self.entries) >= self.limits.max_sources:
                self._evict(wall)
            found = self.entries[key] = SourceEntry(self, key, position(wall, self.length)[0])
        return found

    def open(self, peer: str, wall: float) -> SourceEntry | None:
        """A connection from ``peer`` at ``wall``: its entry (counted), or None when the
        address is at max_conn_per_source (counted as refused, and reported: the supervisor
        logs it, board.py)."""
        e = self.entry(self.key(peer), wall)
        max_conn = self.max_conn
        if max_conn and e.conns + e.remote_conns >= max_conn:
            e.refused += 1
            e._mark()
            return None
        e.conns += 1
        e.pend_conns += 1
        e._mark()
        return e

    # ---- between workers ----------------------------------------------------------------

    def collect(self) -> list[SourceDelta]:
        """This worker's changes since the last call, for the supervisor."""
        out: list[SourceDelta] = []
        for e in self.dirty:
            e.dirty = False
            index = e.rate.index
            if e.pend or e.pend_conns or e.refused or e.limited:
                out.append(SourceDelta(e.key, index, e.pend, e.pend_conns, e.refused, e.limited))
            if e.pend_prev:
                out.append(SourceDelta(e.key, index - 1, e.pend_prev))
            e.pend = e.pend_prev = e.pend_conns = e.refused = e.limited = 0
        self.dirty.clear()
        return out

    def apply(
        self, deltas: list[SourceDelta] | tuple[SourceDelta, ...], wall: float, length: float
    ) -> None:
        """What the other workers (and directors) did, as the supervisor relays it, counted
        in windows of ``length`` seconds (requests in other windows than ours, from a worker
        of another configuration, are left out; their connections count)."""
        index = position(wall, self.length)[0]
        same = length == self.length
        for d in deltas:
            if not same:
                d = SourceDelta(d.source, d.window, 0, d.conns)
            e = self.entries.get(d.source)
            if e is None:
                if d.conns <= 0 and (d.requests <= 0 or d.window < index - 1):
                    continue  # nothing to remember
                e = self.entry(d.source, wall)
            if index > e.rate.index:
                e._roll(index)
            if d.requests and d.window >= index - 1:
                if d.window > e.rate.index:
                    e._roll(d.window)  # a director whose clock runs a little ahead
                e.rate.add(d.window, d.requests)
            if d.conns:
                e.remote_conns = max(0, e.remote_conns + d.conns)

    # ---- memory -------------------------------------------------------------------------

    def sweep(self, wall: float) -> None:
        """Drop entries with nothing left to count (at most every SWEEP_INTERVAL)."""
        if wall < self.next_sweep:
            return
        self.next_sweep = wall + max(SWEEP_INTERVAL, self.length)
        index = position(wall, self.length)[0]
        entries = self.entries
        for key in [k for k, e in entries.items() if not e.pinned() and e.rate.index < index - 1]:
            del entries[key]

    def _evict(self, wall: float) -> None:
        """Make room: down to 7/8 of max_sources, expired entries first, then the oldest."""
        index = position(wall, self.length)[0]
        entries = self.entries
        target = self.limits.max_sources * 7 // 8
        for expired_only in (True, False):
            for key in list(entries):
                if len(entries) <= target:
                    return
                e = entries[key]
                if e.pinned() or (expired_only and e.rate.index >= index - 1):
                    continue
                del entries[key]
