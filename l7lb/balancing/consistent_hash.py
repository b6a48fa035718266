"""chash: a consistent-hash ring keyed on ``Pool.hash_key``.

Each server owns ``POINTS_PER_WEIGHT x weight`` points on a 64-bit ring,
placed by hashing its name ("web1#0", "web1#1", ...): a server's points depend
only on its own name and weight, so adding or removing one server of N moves
about 1/N of the keys and no others. A key belongs to the first point at or
after its hash; when that server is not eligible the lookup walks on round the
ring, which is exactly where the key would go if the server were removed.

Without a hash value (the header is missing, say) the source IP is the key.
"""

from __future__ import annotations

from bisect import bisect_left
from hashlib import blake2b
from typing import Final

from l7lb.balancing.hashing import hash64, table_weights
from l7lb.balancing.picker import Picker
from l7lb.balancing.server_state import ServerState

POINTS_PER_WEIGHT: Final = 100
# One 32-byte BLAKE2b digest yields four 64-bit points (as ketama takes four
# from one MD5): a quarter of the hashing when the ring is built.
_POINTS_PER_DIGEST: Final = 4


def server_points(name: str, weight: int) -> list[int]:
    """The ring positions of server ``name`` at ``weight``."""
    count = POINTS_PER_WEIGHT * weight
    prefix = name.encode() + b"#"
    points: list[int] = []
    for i in range((count + _POINTS_PER_DIGEST - 1) // _POINTS_PER_DIGEST):
        digest = blake2b(prefix + str(i).encode(), digest_size=32).digest()
        for j in range(0, 32, 8):
            points.append(int.from_bytes(digest[j : j + 8], "big"))
    return points[:count]


class ConsistentHash(Picker):
    __slots__ = ("_hashes", "_owners", "_tier", "_weights")

    def __init__(self, tier: list[ServerState]) -> None:
        self._tier = tier
        self._weights: tuple[int, ...] = ()
        self._hashes: list[int] = []
        self._owners: list[ServerState] = []
        self.weights_changed()

    def weights_changed(self) -> None:
        weights = table_weights(self._tier, self._weights)
        if weights == self._weights and self._hashes:
            return
        self._weights = weights
        ring: list[tuple[int, int]] = []
        for index, (s, w) in enumerate(zip(self._tier, weights, strict=True)):
            ring.extend((p, index) for p in server_points(s.name, w))
        ring.sort()  # equal points (vanishingly rare) are ordered by tier index
        self._hashes = [p for p, _ in ring]
        self._owners = [self._tier[i] for _, i in ring]

    def pick(
        self, candidates: list[ServerState], source_ip: str, hash_value: bytes | None
    ) -> ServerState:
        h = hash64(hash_value if hash_value is not None else source_ip.encode())
        hashes = self._hashes
        n = len(hashes)
        i = bisect_left(hashes, h)
        if i == n:
            i = 0
        owners = self._owners
        s = owners[i]
        if s in candidates:
            return s
        eligible = set(candidates)
        for k in range(1, n):
            s = owners[(i + k) % n]
            if s in eligible:
                return s
        return candidates[0]  # unreachable: every candidate has points on the ring
