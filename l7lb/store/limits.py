"""``[vip.limits]`` counts shared by several directors: one store counter per VIP, fixed
window and client address.

Each director's supervisor adds what its workers counted (``LimitStore.add``, an atomic
increment that answers the cluster's total for that window), so each learns what the others
counted from the same call, with no key listing and no read of the others' keys. A counter
lives two windows and a little more. Addresses are hashed into the key when they are not
plain key characters (IPv6, or with a prefix length), like every unsafe key
(``backend.engine_key``).

The store's deadline rules apply as everywhere: a slow or dead store answers None at once,
the counts stay here to be added later, and no request waits (the supervisor does this in
the background, ``Supervisor._flush_limits``).
"""

from __future__ import annotations

from l7lb.store.backend import SharedStore


def limit_key(vip: str, window: int, source: str) -> bytes:
    return b"limits:%s:%d:%s" % (vip.encode("utf-8"), window, source.encode("utf-8"))


class LimitStore:
    def __init__(self, store: SharedStore) -> None:
        self.store = store

    async def add(self, vip: str, window: int, source: str, n: int, ttl: float) -> int | None:
        """Add ``n`` requests of ``source`` in fixed window ``window`` of VIP ``vip``; the
        total every director has added, or None if the store did not answer in time."""
        return await self.store.increment(limit_key(vip, window, source), n, ttl)
