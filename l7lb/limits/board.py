"""The supervisor's view of one VIP's limits: its workers' counts summed, and other
directors' learned through the store.

Every worker reports its own changes (``SourceDelta``: requests per fixed window,
connections opened and closed, refusals and 429s). ``apply`` adds them up and returns what
the *other* workers must be told; a worker that exits takes its connections with it
(``worker_gone``), and a worker that starts gets everything at once (``snapshot``).

With a shared store, ``store_plan`` picks what this director has counted and not yet added
to the store (only addresses with at least ``STORE_SHARE`` of the limit in a window: the
others cannot matter much, and a flood of small addresses must not become a flood of store
writes), the supervisor adds it (an atomic increment that answers the cluster's total), and
``store_result`` turns the total into what the workers learn about the other directors.

``top`` is ``show limits``: the busiest addresses, by request rate, then connections.
Memory is bounded like a worker's table (``max_sources``, entries in use kept).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from l7lb.config.model import VipLimits
from l7lb.limits.deltas import SourceDelta
from l7lb.limits.window import estimate, position

log: Final = logging.getLogger("l7lb.limits")

LOG_INTERVAL: Final = 60.0  # seconds between two log lines about one address (and limit)
STORE_SHARE: Final = 0.1  # an address goes to the store once it has 10 % of the limit here
KEEP: Final = 300.0  # seconds an address stays listed after its last activity
_LOCAL, _FLUSHED, _REMOTE = 0, 1, 2  # SourceSum.windows[index]: this director's counts, ...


@dataclass(frozen=True, slots=True)
class LimitRow:
    """One line of ``show limits``."""

    vip: str
    source: str
    connections: int  # open now, on this director
    rate: float  # requests per second over the sliding window, every director's
    requests: float  # requests in the sliding window (the limit compares this)
    refused: int  # connections refused since l7lb started (this director)
    limited: int  # requests answered 429 since l7lb started (this director)


class SourceSum:
    __slots__ = (
        "conns",
        "key",
        "limited",
        "logged_limited",
        "logged_refused",
        "refused",
        "seen",
        "windows",
    )

    def __init__(self, key: str, wall: float) -> None:
        self.key = key
        self.conns: dict[int, int] = {}  # worker -> connections it has open
        # window index -> [requests counted here, of which added to the store, requests
        # other directors counted (as the store said)]; the current and previous window
        self.windows: dict[int, list[int]] = {}
        self.refused = 0
        self.limited = 0
        self.seen = wall
        self.logged_refused = -LOG_INTERVAL
        self.logged_limited = -LOG_INTERVAL

    def connections(self) -> int:
        return sum(self.conns.values())

    def window(self, index: int) -> list[int]:
        found = self.windows.get(index)
        if found is None:
            found = self.windows[index] = [0, 0, 0]
            for old in [i for i in self.windows if i < index - 1]:
                del self.windows[old]
        return found

    def counted(self, index: int) -> int:
        w = self.windows.get(index)
        return w[_LOCAL] + w[_REMOTE] if w is not None else 0

    def estimate(self, index: int, pos: float) -> float:
        return estimate(self.counted(index), self.counted(index - 1), pos)

    def busy(self, index: int) -> bool:
        return bool(self.connections()) or any(i >= index - 1 for i in self.windows)


class LimitBoard:
    def __init__(self, vip: str, limits: VipLimits) -> None:
        self.vip = vip
        self.limits = limits
        self.length = limits.rate_window
        self.sources: dict[str, SourceSum] = {}

    def _source(self, key: str, wall: float) -> SourceSum:
        found = self.sources.get(key)
        if found is None:
            if len(self.sources) >= self.limits.max_sources:
                self._evict(wall)
            found = self.sources[key] = SourceSum(key, wall)
        found.seen = wall
        return found

    # ---- workers ------------------------------------------------------------------------

    def apply(
        self, worker: int, deltas: tuple[SourceDelta, ...], wall: float, length: float
    ) -> list[SourceDelta]:
        """Worker ``worker``'s report, counted in windows of ``length`` seconds (requests of
        a worker still on another configuration's window are left out); what the other
        workers must learn from it."""
        index = position(wall, self.length)[0]
        same = length == self.length
        relay: list[SourceDelta] = []
        for d in deltas:
            if not same:
                d = SourceDelta(d.source, d.window, 0, d.conns, d.refused, d.limited)
            s = self._source(d.source, wall)
            if d.refused or d.limited:
                self._refusals(s, d, wall)
            requests = d.requests if d.window >= index - 1 else 0
            if requests:
                s.window(d.window)[_LOCAL] += requests
            if d.conns:
                now_open = s.conns.get(worker, 0) + d.conns
                if now_open > 0:
                    s.conns[worker] = now_open
                else:
                    s.conns.pop(worker, None)
            if requests or d.conns:
                relay.append(SourceDelta(d.source, d.window, requests, d.conns))
        return relay

    def _refusals(self, s: SourceSum, d: SourceDelta, wall: float) -> None:
        """Count refusals, and say so once a minute per address and limit."""
        s.refused += d.refused
        s.limited += d.limited
        limits = self.limits
        if d.refused and wall - s.logged_refused >= LOG_INTERVAL:
            s.logged_refused = wall
            log.warning(
                "vip %s: %s is at max_conn_per_source (%d connections): its new connections "
                "are refused (%d so far; said once a minute per address)",
                self.vip,
                s.key,
                limits.max_conn_per_source,
                s.refused,
            )
        if d.limited and wall - s.logged_limited >= LOG_INTERVAL:
            s.logged_limited = wall
            log.warning(
                "vip %s: %s is over rate_per_source (%g requests/s over %gs): answered 429 "
                "(%d so far; said once a minute per address)",
                self.vip,
                s.key,
                limits.rate_per_source,
                limits.rate_window,
                s.limited,
            )

    def worker_gone(self, worker: int) -> list[SourceDelta]:
        """A worker exited: its connections are closed, for the others."""
        relay = []
        for s in self.sources.values():
            n = s.conns.pop(worker, 0)
            if n:
                relay.append(SourceDelta(s.key, 0, 0, -n))
        return relay

    def snapshot(self, wall: float) -> list[SourceDelta]:
        """Everything a new worker must know: open connections and the two windows."""
        index = position(wall, self.length)[0]
        out = []
        for s in self.sources.values():
            conns = s.connections()
            current, previous = s.counted(index), s.counted(index - 1)
            if conns or current:
                out.append(SourceDelta(s.key, index, current, conns))
            if previous:
                out.append(SourceDelta(s.key, index - 1, previous))
        return out

    # ---- other directors, through the store ---------------------------------------------

    def store_plan(self, wall: float, cap: int) -> list[tuple[str, int, int]]:
        """(address, window, requests) this director counted and has not added to the
        store, busiest first, at most ``cap``."""
        if self.limits.window_limit <= 0:
            return []
        threshold = max(1.0, self.limits.window_limit * STORE_SHARE)
        index = position(wall, self.length)[0]
        plan = []
        for s in self.sources.values():
            for i in (index - 1, index):
                w = s.windows.get(i)
                if w is not None and w[_LOCAL] > w[_FLUSHED] and w[_LOCAL] >= threshold:
                    plan.append((s.key, i, w[_LOCAL] - w[_FLUSHED]))
        plan.sort(key=lambda item: -item[2])
        return plan[:cap]

    def store_result(self, key: str, window: int, added: int, total: int) -> SourceDelta | None:
        """The store took ``added`` and answered ``total`` for every director: what the
        workers learn about the other directors (None: nothing new)."""
        s = self.sources.get(key)
        if s is None:
            return None
        w = s.windows.get(window)
        if w is None:
            return None
        w[_FLUSHED] += added
        others = total - w[_FLUSHED]
        if others <= w[_REMOTE]:
            return None
        new = others - w[_REMOTE]
        w[_REMOTE] = others
        return SourceDelta(key, window, new)

    # ---- show limits --------------------------------------------------------------------

    def top(self, wall: float, n: int) -> list[LimitRow]:
        index, pos = position(wall, self.length)
        rows = []
        for s in self.sources.values():
            requests = s.estimate(index, pos)
            conns = s.connections()
            if not (requests or conns or s.refused or s.limited):
                continue
            rows.append(
                LimitRow(
                    self.vip, s.key, conns, requests / self.length, requests, s.refused, s.limited
                )
            )
        rows.sort(key=lambda r: (-r.requests, -r.connections, -(r.refused + r.limited), r.source))
        return rows[:n]

    # ---- memory -------------------------------------------------------------------------

    def sweep(self, wall: float) -> None:
        """Forget addresses quiet for KEEP seconds with nothing open or counting."""
        index = position(wall, self.length)[0]
        quiet = wall - KEEP
        for key in [k for k, s in self.sources.items() if s.seen < quiet and not s.busy(index)]:
            del self.sources[key]

    def _evict(self, wall: float) -> None:
        """Make room: down to 7/8 of max_sources, the least recently active first (quiet
        ones before those still counting); addresses with connections open stay."""
        index = position(wall, self.length)[0]
        target = self.limits.max_sources * 7 // 8
        ordered = sorted(self.sources.values(), key=lambda s: (s.busy(index), s.seen))
        for s in ordered:
            if len(self.sources) <= target:
                return
            if not s.conns:
                del self.sources[s.key]
