"""Stick tables: key -> server name, with idle expiry and a size bound.

Used for learned application session ids and for source-address
persistence. Time is an argument (seconds, from the caller's monotonic or
wall clock, non-decreasing), never read here. Entries are kept in
least-recently-used order: because every hit moves an entry to the end and
stamps it with ``now``, the front is also the entry idle for longest, so
expiry pops from the front and costs O(expired), and the size bound evicts
the least recently used entry.

This table is per process. Several workers need the supervisor or the shared
store to agree on entries (see docs/persistence.md).
"""

from __future__ import annotations

import socket
from collections import OrderedDict


class StickTable:
    """A bounded LRU map with idle expiry. ``idle_timeout`` in seconds."""

    __slots__ = ("_entries", "idle_timeout", "max_entries")

    def __init__(self, max_entries: int, idle_timeout: float) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        if idle_timeout <= 0:
            raise ValueError("idle_timeout must be > 0")
        self.max_entries = max_entries
        self.idle_timeout = idle_timeout
        self._entries: OrderedDict[bytes, tuple[str, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes, now: float) -> str | None:
        """The server ``key`` sticks to, refreshing its idle timer; None when
        absent or idle for longer than ``idle_timeout``."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        server, seen = entry
        if now - seen > self.idle_timeout:
            del self._entries[key]
            return None
        self._entries[key] = (server, now)
        self._entries.move_to_end(key)
        return server

    def peek(self, key: bytes, now: float) -> str | None:
        """Like ``get`` without refreshing or reordering (for admin views)."""
        entry = self._entries.get(key)
        if entry is None or now - entry[1] > self.idle_timeout:
            return None
        return entry[0]

    def put(self, key: bytes, server: str, now: float) -> None:
        """Stick ``key`` to ``server`` (replacing any entry), evicting the
        least recently used entries beyond the size bound."""
        self._entries[key] = (server, now)
        self._entries.move_to_end(key)
        self.expire(now)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def delete(self, key: bytes) -> None:
        self._entries.pop(key, None)

    def expire(self, now: float) -> int:
        """Drop entries idle for longer than ``idle_timeout``; how many."""
        entries = self._entries
        dropped = 0
        limit = now - self.idle_timeout
        while entries:
            key, (_, seen) = next(iter(entries.items()))
            if seen >= limit:
                break
            del entries[key]
            dropped += 1
        return dropped

    def forget_server(self, server: str) -> int:
        """Drop every entry of ``server`` (removed from the pool); how many."""
        doomed = [k for k, (s, _) in self._entries.items() if s == server]
        for key in doomed:
            del self._entries[key]
        return len(doomed)

    def items(self, now: float) -> list[tuple[bytes, str]]:
        """Live (key, server) entries, least recently used first (snapshots for
        a new worker)."""
        limit = now - self.idle_timeout
        return [(k, server) for k, (server, seen) in self._entries.items() if seen >= limit]

    def count_by_server(self, now: float) -> dict[str, int]:
        """Live entries per server (``show servers``)."""
        counts: dict[str, int] = {}
        limit = now - self.idle_timeout
        for server, seen in self._entries.values():
            if seen >= limit:
                counts[server] = counts.get(server, 0) + 1
        return counts


def source_key(ip: str, mask_v4: int = 32, mask_v6: int = 128) -> bytes:
    """The stick-table key of a client address under a netmask, like LVS
    ``persistent ... netmask``: 4 bytes for IPv4, 16 for IPv6. IPv4-mapped
    IPv6 addresses (a dual-stack listener's view of IPv4 clients) count as
    IPv4, so one client gets one key whichever socket it came through.
    Raises ValueError for something that is not an address."""
    if not 0 <= mask_v4 <= 32 or not 0 <= mask_v6 <= 128:
        raise ValueError("mask out of range")
    host = ip.partition("%")[0]  # drop an IPv6 zone id
    try:
        if ":" not in host:
            return _mask(socket.inet_pton(socket.AF_INET, host), mask_v4)
        packed = socket.inet_pton(socket.AF_INET6, host)
    except OSError:
        raise ValueError(f"not an IP address: {ip!r}") from None
    if packed[:12] == b"\x00" * 10 + b"\xff\xff":
        return _mask(packed[12:], mask_v4)
    return _mask(packed, mask_v6)


def _mask(packed: bytes, bits: int) -> bytes:
    width = len(packed) * 8
    if bits == width:
        return packed
    value = int.from_bytes(packed, "big") & (((1 << bits) - 1) << (width - bits))
    return value.to_bytes(len(packed), "big")
