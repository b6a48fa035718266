"""Requests in a sliding window, from two fixed windows.

Time is cut into fixed windows of ``length`` seconds aligned on multiples of ``length`` of
wall-clock time (window ``i`` is ``[i * length, (i + 1) * length)``), so that every worker
and every director numbers them alike. A counter keeps the count of the current window and
of the one before. At a position ``pos`` (0 <= pos < 1) into the current window, the sliding
window of ``length`` seconds that ends now covers the current window so far and the last
``1 - pos`` of the previous one; with the previous window's requests taken as evenly spread,
its count is::

    estimate = current + previous * (1 - pos)

(the approximation Cloudflare's and nginx-style limiters use). It is exact for evenly
spread traffic, always between ``current`` and ``current + previous``, and a limiter that
admits only while ``estimate < limit`` admits at most ``limit`` requests in any fixed window
and at most ``2 * limit`` in any ``length`` seconds. It needs two counters per client.
"""

from __future__ import annotations

import math


def position(wall: float, length: float) -> tuple[int, float]:
    """The window ``wall`` falls in and how far into it (0 <= pos < 1)."""
    t = wall / length
    index = math.floor(t)
    pos = t - index
    if pos >= 1.0:  # float rounding at a boundary
        return index + 1, 0.0
    return index, pos


def estimate(current: float, previous: float, pos: float) -> float:
    return current + previous * (1.0 - pos)


def wait(current: float, previous: float, pos: float, limit: float, length: float) -> float:
    """Seconds from ``pos`` until ``estimate`` falls under ``limit`` with no new request
    (0 if it is under already). Requests other clients' windows add later are not foreseen."""
    if current < limit:
        if previous <= 0 or current + previous * (1.0 - pos) < limit:
            return 0.0
        # previous * (1 - p) < limit - current  <=>  p > 1 - (limit - current) / previous
        # (never below 0: at a boundary, rounding can leave -5e-324)
        return max(0.0, (1.0 - (limit - current) / previous - pos) * length)
    # over it within this window alone: wait for the next one, where today's count becomes
    # the previous window's and fades as that window goes on
    return max(0.0, (1.0 - pos + 1.0 - limit / current) * length)


def retry_after(seconds: float) -> int:
    """A Retry-After value: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(seconds))


class SlidingCounter:
    """The two windows' counts (see the module docstring)."""

    __slots__ = ("current", "index", "previous")

    def __init__(self, index: int = 0) -> None:
        self.index = index  # the current window
        self.current = 0
        self.previous = 0

    def roll(self, index: int) -> None:
        """Move on to window ``index`` (never back)."""
        if index == self.index + 1:
            self.previous = self.current
            self.current = 0
            self.index = index
        elif index > self.index:
            self.previous = 0
            self.current = 0
            self.index = index

    def add(self, index: int, n: int) -> None:
        """Count ``n`` requests of window ``index``: the current or the previous one (a
        later one moves the counter on; an older one no longer matters)."""
        if index > self.index:
            self.roll(index)
        if index == self.index:
            self.current += n
        elif index == self.index - 1:
            self.previous += n

    def estimate(self, wall: float, length: float) -> float:
        index, pos = position(wall, length)
        self.roll(index)
        return estimate(self.current, self.previous, pos)
