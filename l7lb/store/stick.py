"""Persistence (stick) table entries in the shared store.

A learned ``jsessionid -> server`` or ``source address -> server`` entry lives
in the director's ``StickTable`` and, when ``[store]`` names Redis or
memcached, in the store too, so a client keeps its server when its next
connection lands on another director.

Semantics match ``StickTable``: an entry expires ``ttl`` (the table's idle
timeout) after it was last used. Callers ``set`` the entry on every sticky
decision; to spare the store one write per request, a ``set`` that repeats
the value written less than ``ttl * refresh_fraction`` ago is skipped (the
store's TTL is then at worst ``refresh_fraction`` shorter than the local
idle timer). Reads use the store's short ``timeout``: a slow store costs a
fresh scheduling decision.

Engine keys: ``<namespace>:stick:<table>:<key>`` when printable, else hashed
(``backend.engine_key``); values are server names (UTF-8, at most 255 bytes).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from l7lb.store.backend import SharedStore

MAX_SERVER_NAME = 255


def stick_key(table: str, key: bytes) -> bytes:
    return b"stick:" + table.encode() + b":" + key


class StickStore:
    """Stick entries of every table of this director in one ``SharedStore``."""

    def __init__(
        self,
        store: SharedStore,
        *,
        refresh_fraction: float = 0.25,
        max_recent: int = 10000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.refresh_fraction = refresh_fraction
        self.max_recent = max_recent
        self._clock = clock
        # (table, key) -> (server, when written): the write-suppression memory
        self._recent: OrderedDict[tuple[str, bytes], tuple[str, float]] = OrderedDict()

    async def get(self, table: str, key: bytes) -> str | None:
        """The server ``key`` sticks to in ``table``; None if absent, or the store is
        slow or down (waits at most the store's ``timeout``)."""
        value = await self.store.get(stick_key(table, key))
        if value is None:
            return None
        try:
            server = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return server or None

    def set(self, table: str, key: bytes, server: str, ttl: float) -> None:
        """Stick ``key`` to ``server`` for ``ttl`` seconds, in the background."""
        encoded = server.encode("utf-8")
        if not 0 < len(encoded) <= MAX_SERVER_NAME or ttl <= 0:
            return
        now = self._clock()
        ident = (table, key)
        seen = self._recent.get(ident)
        if seen is not None and seen[0] == server and now - seen[1] < ttl * self.refresh_fraction:
            return
        if self.store.submit(lambda: self.store.set(stick_key(table, key), encoded, ttl)):
            self._remember(ident, server, now)

    def _remember(self, ident: tuple[str, bytes], server: str, now: float) -> None:
        self._recent[ident] = (server, now)
        self._recent.move_to_end(ident)
        while len(self._recent) > self.max_recent:
            self._recent.popitem(last=False)

    async def put(self, table: str, key: bytes, server: str, ttl: float) -> bool:
        """Like ``set`` but awaited and never skipped; True if the store took it."""
        encoded = server.encode("utf-8")
        if not 0 < len(encoded) <= MAX_SERVER_NAME:
            return False
        self._remember((table, key), server, self._clock())
        return await self.store.set(stick_key(table, key), encoded, ttl)

    def forget(self, table: str, key: bytes) -> None:
        """Drop an entry (its server left the pool), in the background."""
        self._recent.pop((table, key), None)
        self.store.submit(lambda: self.store.delete(stick_key(table, key)))
