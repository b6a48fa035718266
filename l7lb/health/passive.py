"""Passive failure tracking: what the proxy itself sees, sans-IO.

N consecutive connect failures or resets on real traffic mark a server down
for a back-off period; after it, the server is given one trial: a success
clears it, a failure marks it down for another period at once. Times are
passed in (seconds, monotonic).
"""

from __future__ import annotations


class PassiveTracker:
    __slots__ = ("_down_until", "_failures", "_trial", "backoff", "threshold")

    def __init__(self, threshold: int, backoff: float) -> None:
        if threshold < 1 or backoff <= 0:
            raise ValueError("threshold must be >= 1 and backoff > 0")
        self.threshold = threshold
        self.backoff = backoff
        self._failures = 0
        self._down_until: float | None = None
        self._trial = False  # the back-off is over: the next result decides

    def record_failure(self, now: float) -> bool:
        """Count a failure; True when the server must now be marked down."""
        if self._down_until is not None:
            if now < self._down_until:
                return False  # already down: late failures of old requests
            self._trial = True
            self._down_until = None
        self._failures += 1
        if self._trial or self._failures >= self.threshold:
            self._down_until = now + self.backoff
            self._failures = 0
            self._trial = False
            return True
        return False

    def record_success(self) -> None:
        """A request went through: the failure streak and any back-off end."""
        self._failures = 0
        self._down_until = None
        self._trial = False

    def is_down(self, now: float) -> bool:
        """Still inside a back-off period."""
        return self._down_until is not None and now < self._down_until

    @property
    def down_until(self) -> float | None:
        """When the current back-off ends (for the scheduler's timer)."""
        return self._down_until
