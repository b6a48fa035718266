"""The factory that picks a scheduler (a ``Picker``, in ``picker.py``) for a tier of servers."""

from __future__ import annotations

from l7lb.balancing.consistent_hash import ConsistentHash
from l7lb.balancing.least_conn import LeastConnections, WeightedLeastConnections
from l7lb.balancing.picker import Picker
from l7lb.balancing.round_robin import RoundRobin, SmoothWeightedRoundRobin
from l7lb.balancing.server_state import ServerState
from l7lb.balancing.source_hash import SourceHash
from l7lb.config.model import Scheduler


def make_picker(kind: Scheduler, tier: list[ServerState]) -> Picker:
    pickers: dict[Scheduler, type[Picker]] = {
        Scheduler.RR: RoundRobin,
        Scheduler.WRR: SmoothWeightedRoundRobin,
        Scheduler.LC: LeastConnections,
        Scheduler.WLC: WeightedLeastConnections,
        Scheduler.SH: SourceHash,
        Scheduler.CHASH: ConsistentHash,
    }
    return pickers[kind](tier)
