"""sh: the client's source address picks the server.

Like IPVS's sh: a table where each server holds slots in proportion to its
weight, indexed by a hash of the source IP. The same client lands on the same
server as long as that server is eligible. When it is not, the key is probed
again (rehashed) until an eligible server's slot comes up: only the clients of
the missing server move, and they spread over the others by weight.
"""

from __future__ import annotations

from math import gcd
from typing import Final

from l7lb.balancing.hashing import hash64, rehash64, table_weights
from l7lb.balancing.picker import Picker
from l7lb.balancing.server_state import ServerState

# After this many probes give up on the table: the eligible servers are a small
# slice of it. Fall back to hashing over the eligible list (still stable while
# that list does not change).
_MAX_PROBES: Final = 32


class SourceHash(Picker):
    __slots__ = ("_table", "_tier", "_weights")

    def __init__(self, tier: list[ServerState]) -> None:
        self._tier = tier
        self._weights: tuple[int, ...] = ()
        self._table: list[ServerState] = []
        self.weights_changed()

    def weights_changed(self) -> None:
        weights = table_weights(self._tier, self._weights)
        if weights == self._weights and self._table:
            return
        self._weights = weights
        g = gcd(*weights) or 1
        table: list[ServerState] = []
        for s, w in zip(self._tier, weights, strict=True):
            # Contiguous runs are fine: the index is a uniform 64-bit hash.
            table.extend([s] * (w // g))
        self._table = table

    def pick(
        self, candidates: list[ServerState], source_ip: str, hash_value: bytes | None
    ) -> ServerState:
        table = self._table
        n = len(table)
        h = hash64(source_ip.encode())
        s = table[h % n]
        if s in candidates:
            return s
        eligible = set(candidates)
        for _ in range(_MAX_PROBES):
            h = rehash64(h)
            s = table[h % n]
            if s in eligible:
                return s
        return candidates[h % len(candidates)]
