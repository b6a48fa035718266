"""The supervisor's view of its workers' numbers: one sum for the whole director.

Each worker reports a snapshot (``metrics.snapshot``) about once a second and when asked
(a scrape asks, so a scrape sees requests finished a moment ago). ``DirectorMetrics`` keeps
the latest one per worker. Counters are summed over the live workers *and* the ones that
ended: a worker that exits (reload, restart, crash) has its last counters folded into
``retired``, so a director's counters never go back, which Prometheus would read as a reset.
Gauges are summed over the live workers only, except the event loop's lag, which is kept per
worker.

A report is data from another process: anything that is not a dict of the expected shape is
refused (``report`` returns False); numbers of the wrong type are skipped where they are
summed. Sans-IO: no clock, no socket.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from l7lb.metrics.snapshot import VERSION


def _number(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def add_into(acc: dict[str, Any], more: Mapping[str, Any]) -> None:
    """Add ``more`` into ``acc``, key by key: numbers add, lists of numbers add element by
    element (when their lengths agree), dicts recurse. Anything else is skipped."""
    for key, value in more.items():
        if not isinstance(key, str):
            continue
        have = acc.get(key)
        if _number(value):
            if have is None:
                acc[key] = value
            elif _number(have):
                acc[key] = have + value
        elif isinstance(value, list):
            if not all(_number(v) for v in value):
                continue
            if have is None:
                acc[key] = list(value)
            elif isinstance(have, list) and len(have) == len(value):
                acc[key] = [a + b for a, b in zip(have, value, strict=True)]
        elif isinstance(value, dict):
            if have is None:
                have = acc[key] = {}
            if isinstance(have, dict):
                add_into(have, value)


@dataclass
class View:
    """What a scrape renders: the summed counters, the summed gauges, each live worker's
    event-loop lag by its index."""

    counters: dict[str, Any] = field(default_factory=dict)
    gauges: dict[str, Any] = field(default_factory=dict)
    lag: dict[int, float] = field(default_factory=dict)
    workers: int = 0


class DirectorMetrics:
    def __init__(self) -> None:
        self._live: dict[Hashable, tuple[int, dict[str, Any]]] = {}
        self.retired: dict[str, Any] = {}

    def report(self, worker: Hashable, index: int, data: object) -> bool:
        """The latest snapshot of ``worker`` (its index names its lag); False (and nothing
        kept) when it is not a snapshot."""
        if not isinstance(data, dict) or data.get("v") != VERSION:
            return False
        counters, gauges = data.get("counters"), data.get("gauges")
        if not isinstance(counters, dict) or not isinstance(gauges, dict):
            return False
        self._live[worker] = (index, {"counters": counters, "gauges": gauges})
        return True

    def gone(self, worker: Hashable) -> None:
        """``worker`` ended: its counters stay in the sums, its gauges leave them."""
        entry = self._live.pop(worker, None)
        if entry is not None:
            add_into(self.retired, entry[1]["counters"])

    def view(self) -> View:
        out = View(workers=len(self._live))
        add_into(out.counters, self.retired)
        for index, data in self._live.values():
            add_into(out.counters, data["counters"])
            gauges = data["gauges"]
            add_into(out.gauges, {k: v for k, v in gauges.items() if k != "lag"})
            lag = gauges.get("lag")
            if _number(lag):
                out.lag[index] = max(float(lag), out.lag.get(index, 0.0))
        return out
