"""The one stable hash the hash schedulers share.

It must give the same value in every worker and on every director (Python's
``hash()`` is salted per process), and spread similar inputs ("10.0.0.1",
"10.0.0.2", "web1#17") evenly: BLAKE2b cut to 64 bits does both.
"""

from __future__ import annotations

from hashlib import blake2b
from typing import Final

from l7lb.balancing.server_state import ServerState

MASK64: Final = (1 << 64) - 1


def hash64(data: bytes) -> int:
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "big")


def rehash64(h: int) -> int:
    """A cheap, deterministic next probe for ``h`` (splitmix64's finaliser)."""
    h = (h + 0x9E3779B97F4A7C15) & MASK64
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & MASK64
    return h ^ (h >> 31)


def table_weights(tier: list[ServerState], previous: tuple[int, ...]) -> tuple[int, ...]:
    """The weight each server gets in a hash table or ring.

    A server set to weight 0 (draining) keeps the weight it had: it simply
    stops being eligible, so its keys fall through to the other servers while
    everybody else's keys stay put, and they all come back when it returns.
    """
    out = []
    for i, s in enumerate(tier):
        if s.weight > 0:
            out.append(s.weight)
        elif i < len(previous):
            out.append(previous[i])
        else:
            out.append(s.server.weight if s.server.weight > 0 else 1)
    return tuple(out)
