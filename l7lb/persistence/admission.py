"""When a cache of request headers is worth filling.

The cookie policy remembers each Cookie header it has read, because a keep-alive client
sends the same one again and again. When the application's own cookies change on every
request, no header comes twice, and every header remembered costs a hash, a slot and, once
the cache is full, a clear, for nothing. ``Admission`` counts the cache's hits in each
window of misses: while a window has few, only one miss in ``SAMPLE`` is remembered, enough
for headers that start to repeat again to be found and bring the cache back.
"""

from __future__ import annotations

from typing import Final

WINDOW: Final = 256  # misses per judgement
MIN_HITS: Final = 16  # hits in a window that keep every miss remembered
SAMPLE: Final = 16  # while hits are fewer: one miss in this many is remembered


class Admission:
    """Which misses of one header cache to remember (see the module docstring)."""

    __slots__ = ("_every", "_hits", "_misses")

    def __init__(self) -> None:
        self._hits = 0
        self._misses = 0
        self._every = True  # remember every miss (a new cache: nothing known yet)

    def hit(self) -> None:
        self._hits += 1

    def miss(self) -> bool:
        """A header not in the cache was read: True to remember it."""
        m = self._misses + 1
        if m >= WINDOW:
            self._every = self._hits >= MIN_HITS
            self._hits = 0
            m = 0
        self._misses = m
        return self._every or m % SAMPLE == 0

    @property
    def every(self) -> bool:
        """Whether every miss is remembered now (read by the tests)."""
        return self._every
