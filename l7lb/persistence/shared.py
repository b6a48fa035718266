"""Stick tables shared by the workers of one director, and the updates they exchange.

A worker sticks a key (a session id, a masked client address) to a server in its own
``StickTables``; what it learns travels as ``StickUpdate`` values through the supervisor to
the other workers (and, with a ``[store]``, to the other directors), which ``apply`` them.
Sans-IO: the caller moves the updates.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass

from l7lb.persistence.table import StickTable

# A worker re-announces an entry it keeps using once this fraction of the idle
# timeout has passed, so the copies in other workers do not expire while the
# client is busy on this one (cf. cookie ``refresh_due``).
ANNOUNCE_FRACTION = 4


@dataclass(frozen=True, slots=True)
class StickUpdate:
    """A stick-table entry learned by one worker, for all the others."""

    table: str
    key: bytes
    server: str

    def to_dict(self) -> dict[str, str]:
        return {
            "table": self.table,
            "key": base64.b64encode(self.key).decode("ascii"),
            "server": self.server,
        }

    @classmethod
    def from_dict(cls, obj: object) -> StickUpdate:
        """The inverse of ``to_dict``; ValueError for anything malformed."""
        if not isinstance(obj, dict):
            raise ValueError("stick update: expected an object")
        table, key, server = obj.get("table"), obj.get("key"), obj.get("server")
        if not (isinstance(table, str) and isinstance(key, str) and isinstance(server, str)):
            raise ValueError("stick update: table, key and server must be strings")
        try:
            raw = base64.b64decode(key, validate=True)
        except binascii.Error:
            raise ValueError("stick update: key is not base64") from None
        return cls(table, raw, server)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> StickUpdate:
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValueError("stick update: not JSON") from None
        return cls.from_dict(obj)


class StickTables:
    """One worker's stick tables by name. Pools (and so VIPs) giving the same
    ``table`` share one, e.g. the http and https pools of one site. Keep one
    instance for the worker's life and pass it to each new runtime on reload,
    so persistence survives a reload."""

    __slots__ = ("_announced", "_tables")

    def __init__(self) -> None:
        self._tables: dict[str, StickTable] = {}
        # key -> server of entries this worker announced (or heard) recently
        self._announced: dict[str, StickTable] = {}

    def table(self, name: str, max_entries: int, idle_timeout: float) -> StickTable:
        """The table ``name``, created or resized (entries are kept)."""
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = StickTable(max_entries, idle_timeout)
            self._announced[name] = StickTable(
                max_entries, max(idle_timeout / ANNOUNCE_FRACTION, 1e-3)
            )
        else:
            table.max_entries = max_entries
            table.idle_timeout = idle_timeout
            shadow = self._announced[name]
            shadow.max_entries = max_entries
            shadow.idle_timeout = max(idle_timeout / ANNOUNCE_FRACTION, 1e-3)
        return table

    def get(self, name: str) -> StickTable | None:
        return self._tables.get(name)

    def names(self) -> list[str]:
        return list(self._tables)

    def record(self, name: str, key: bytes, server: str, now: float) -> list[StickUpdate]:
        """Stick ``key`` to ``server`` here; the update to broadcast when the
        other workers do not know it yet (or have not heard of it lately)."""
        table = self._tables[name]
        shadow = self._announced[name]
        if table.peek(key, now) == server and shadow.peek(key, now) == server:
            table.get(key, now)  # refresh the idle timer only
            return []
        table.put(key, server, now)
        shadow.put(key, server, now)
        return [StickUpdate(name, key, server)]

    def apply(self, update: StickUpdate, now: float) -> bool:
        """An entry another worker learned; False for a table this worker
        does not have (a reload in between)."""
        table = self._tables.get(update.table)
        if table is None:
            return False
        table.put(update.key, update.server, now)
        # heard just now: no need to announce it back
        self._announced[update.table].put(update.key, update.server, now)
        return True

    def retain(self, names: Iterable[str]) -> None:
        """After a reload: drop the tables no pool uses any more."""
        keep = set(names)
        for name in list(self._tables):
            if name not in keep:
                del self._tables[name]
                del self._announced[name]

    def expire(self, now: float) -> int:
        """Drop idle entries everywhere (call it from a periodic sweep)."""
        dropped = 0
        for name, table in self._tables.items():
            dropped += table.expire(now)
            self._announced[name].expire(now)
        return dropped
