"""SNI name → certificate map: exact names beat ``*.`` wildcards.

Sans-IO. A wildcard covers exactly one leftmost label (RFC 6125 §6.4.3):
``*.example.com`` serves ``www.example.com`` but neither ``example.com`` nor
``a.b.example.com``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class SniMap(Generic[T]):
    def __init__(self) -> None:
        self.exact: dict[str, T] = {}
        self.wildcard: dict[str, T] = {}  # "example.com" for "*.example.com"

    def add(self, names: Iterable[str], value: T) -> list[str]:
        """Map ``names`` to ``value``; returns names already taken (first one wins)."""
        clashes = []
        for raw in names:
            name = raw.lower().rstrip(".")
            if name.startswith("*."):
                table, key = self.wildcard, name[2:]
            else:
                table, key = self.exact, name
            if key in table:
                clashes.append(name)
            else:
                table[key] = value
        return clashes

    def lookup(self, server_name: str) -> T | None:
        name = server_name.lower().rstrip(".")
        hit = self.exact.get(name)
        if hit is not None:
            return hit
        _, dot, parent = name.partition(".")
        return self.wildcard.get(parent) if dot and parent else None

    def covers(self, server_name: str) -> bool:
        return self.lookup(server_name) is not None

    def names(self) -> list[str]:
        return sorted(self.exact) + sorted("*." + w for w in self.wildcard)
