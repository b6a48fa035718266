"""The interface every scheduler implements, and the factory that picks one.

A scheduler instance serves one tier of one pool (the primary servers, or the
backups). ``PoolState`` filters the tier down to the eligible servers and hands
that non-empty list, in config order, to ``pick``; the scheduler only chooses.
"""

from __future__ import annotations

from l7lb.balancing.server_state import ServerState
from l7lb.config.model import Scheduler


class Picker:
    """The base of every scheduler: a base class, not a Protocol, so that compiled callers
    (``PoolState.pick``) reach ``pick`` through a table instead of by name."""

    __slots__ = ()

    def __init__(self, tier: list[ServerState]) -> None:
        pass

    def pick(
        self, candidates: list[ServerState], source_ip: str, hash_value: bytes | None
    ) -> ServerState:
        """Choose one of ``candidates`` (never empty, all eligible)."""
        raise NotImplementedError

    def weights_changed(self) -> None:
        """A server's weight in this tier changed: rebuild derived tables."""
        raise NotImplementedError


def make_picker(kind: Scheduler, tier: list[ServerState]) -> Picker:
    # Imported here so each family stays a leaf module with no cycle back.
    from l7lb.balancing.consistent_hash import ConsistentHash
    from l7lb.balancing.least_conn import LeastConnections, WeightedLeastConnections
    from l7lb.balancing.round_robin import RoundRobin, SmoothWeightedRoundRobin
    from l7lb.balancing.source_hash import SourceHash

    pickers: dict[Scheduler, type[Picker]] = {
        Scheduler.RR: RoundRobin,
        Scheduler.WRR: SmoothWeightedRoundRobin,
        Scheduler.LC: LeastConnections,
        Scheduler.WLC: WeightedLeastConnections,
        Scheduler.SH: SourceHash,
        Scheduler.CHASH: ConsistentHash,
    }
    return pickers[kind](tier)
