"""The rise/fall state machine of one server, sans-IO."""

from __future__ import annotations

from l7lb.health.target import InitialState


class HealthState:
    """Consecutive check results move a server between up and down.

    An up server goes down after ``fall`` consecutive failures, a down one
    comes up after ``rise`` consecutive successes; a result that agrees with
    the current state resets the opposite count (HAProxy's rule), so a flapping
    server does not accumulate its way across.
    """

    __slots__ = ("_streak", "fall", "pending", "rise", "up")

    def __init__(self, rise: int, fall: int, initial: InitialState) -> None:
        self.rise = rise
        self.fall = fall
        self.up = initial is InitialState.UP
        self.pending = initial is InitialState.FIRST_CHECK  # treated as down
        self._streak = 0  # consecutive results disagreeing with ``up``

    def record(self, ok: bool) -> bool | None:
        """Apply one result; the new state when it changed (or, while
        pending, was decided), else None."""
        if self.pending:
            self.pending = False
            self.up = ok
            self._streak = 0
            return ok
        if ok == self.up:
            self._streak = 0
            return None
        self._streak += 1
        if self._streak < (self.rise if ok else self.fall):
            return None
        self.up = ok
        self._streak = 0
        return ok
