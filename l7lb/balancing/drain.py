"""A drained server's deadline, and the sticky clients it still serves.

``drain`` keeps the clients stuck to a server and sends it no new ones; with a deadline
(``l7lb admin drain POOL SERVER --deadline 10m``) the stuck clients keep it only until then:
from the deadline on, ``PoolState.sticky_state`` calls the server "expired", and dispatch
moves each such client to another server (whatever ``redispatch`` says: a deadline is the
operator's promise that nobody gets an error), where the response sticks it again with a
fresh cookie or table entry.

While a server drains, ``saw`` notes each client that reached it by persistence, so ``show
servers`` can say how many are left: clients seen in the last ``WINDOW`` seconds, and none
after the deadline. A client
is its address and its persistence key (the cookie's issue time, or the table key): cookie
clients that share both (behind one NAT, stuck in the same second) count once. Bounded by
``MAX_CLIENTS``. Times are the event loop's clock; nothing here reads it.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Final

WINDOW: Final = 60.0  # a client unseen this long is no longer counted as left
MAX_CLIENTS: Final = 100_000


class DrainWatch:
    __slots__ = ("_seen", "until")

    def __init__(self, until: float = math.inf) -> None:
        self.until = until  # the deadline (loop time); math.inf: none
        self._seen: dict[tuple[str, Hashable], float] = {}

    def expired(self, now: float) -> bool:
        return now >= self.until

    def saw(self, peer: str, key: Hashable, now: float) -> None:
        """A client stuck to the server sent a request to it."""
        seen = self._seen
        client = (peer, key)
        if client not in seen and len(seen) >= MAX_CLIENTS:
            self._forget(now)
            if len(seen) >= MAX_CLIENTS:
                return
        seen[client] = now

    def clients(self, now: float) -> int:
        """Sticky clients seen within the last WINDOW seconds; none once the deadline has
        passed (each one is moved by its next request)."""
        if now >= self.until:
            self._seen.clear()
            return 0
        self._forget(now)
        return len(self._seen)

    def _forget(self, now: float) -> None:
        limit = now - WINDOW
        stale = [c for c, t in self._seen.items() if t < limit]
        for c in stale:
            del self._seen[c]
