"""rr and wrr."""

from __future__ import annotations

from l7lb.balancing.picker import Picker
from l7lb.balancing.server_state import ServerState


class RoundRobin(Picker):
    """Each eligible server in turn; weights only matter through eligibility (0)."""

    __slots__ = ("_next",)

    def __init__(self, tier: list[ServerState]) -> None:
        self._next = 0

    def pick(
        self, candidates: list[ServerState], source_ip: str, hash_value: bytes | None
    ) -> ServerState:
        i = self._next % len(candidates)
        self._next = i + 1
        return candidates[i]

    def weights_changed(self) -> None:
        pass


class SmoothWeightedRoundRobin(Picker):
    """nginx's smooth weighted round robin.

    Every pick adds each candidate's weight to its running ``current``, takes
    the largest, and subtracts the round's total from the winner. Weights
    5, 1, 1 give a a b a c a a rather than a a a a a b c: the same shares,
    evenly interleaved, deterministic. Weights are read on every pick, so an
    admin weight change takes effect on the next request.
    """

    __slots__ = ()

    def pick(
        self, candidates: list[ServerState], source_ip: str, hash_value: bytes | None
    ) -> ServerState:
        total = 0
        best = candidates[0]
        best_current = None
        for s in candidates:
            s.current += s.weight
            total += s.weight
            if best_current is None or s.current > best_current:
                best = s
                best_current = s.current
        best.current -= total
        return best

    def weights_changed(self) -> None:
        pass
