"""lc and wlc: fewest in-flight requests (per unit of weight for wlc)."""

from __future__ import annotations

from l7lb.balancing.picker import Picker
from l7lb.balancing.server_state import ServerState


def _active(s: ServerState) -> int:
    return s.active


def _load(s: ServerState) -> float:
    # Equal ratios give equal floats (IEEE division is correctly rounded), so
    # ties stay ties and the rotation below spreads them.
    return s.active / s.weight


class LeastConnections(Picker):
    """The candidate with the fewest active requests.

    Ties are broken by a start position that rotates on every pick; without it
    an idle pool (all at 0) would send every request to the first server.
    """

    __slots__ = ("_next",)

    def __init__(self, tier: list[ServerState]) -> None:
        self._next = 0

    def pick(
        self, candidates: list[ServerState], source_ip: str, hash_value: bytes | None
    ) -> ServerState:
        start = self._next % len(candidates)
        self._next = start + 1
        # min() keeps the first of equal keys: the rotation decides ties.
        return min(candidates[start:] + candidates[:start], key=_active)

    def weights_changed(self) -> None:
        pass


class WeightedLeastConnections(LeastConnections):
    """The candidate with the lowest active / weight; ties rotate as for lc."""

    __slots__ = ()

    def pick(
        self, candidates: list[ServerState], source_ip: str, hash_value: bytes | None
    ) -> ServerState:
        start = self._next % len(candidates)
        self._next = start + 1
        return min(candidates[start:] + candidates[:start], key=_load)
