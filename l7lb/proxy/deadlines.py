"""Every deadline of a client connection and its exchanges, in one place.

A connection is always in one phase, and each phase has one timeout from ``[timeouts]``:

============  ======================================  =============================  =========
phase         from                                    to                             on expiry
============  ======================================  =============================  =========
HEAD          the first byte of a request head        the head complete              408
KEEPALIVE     a response complete                     the next request's first byte  close
BODY          the request head, while the client      the request complete           408 or 504
              still sends its body
RESPONSE      the request complete                    the response complete          504
QUEUE         every server busy                       a server slot free             503
============  ======================================  =============================  =========

BODY and RESPONSE measure idleness, not total time: bytes in either direction ("progress")
push them back by their whole timeout, checked when the deadline comes (so a connection is
cut between one and two timeouts after it went quiet, and no timer is re-armed per read).
HEAD and QUEUE are hard deadlines. Times are the event loop's clock, in seconds.
"""

from __future__ import annotations

import enum
from typing import Final

from l7lb.config.model import Timeouts

NEVER: Final = float("inf")


class Phase(enum.Enum):
    HEAD = "request head"
    KEEPALIVE = "keep-alive"
    BODY = "request body"
    RESPONSE = "backend response"
    QUEUE = "queue"


class Deadline:
    """One deadline; ``when`` is NEVER while nothing is due."""

    __slots__ = ("_progress", "_timeouts", "phase", "when")

    def __init__(self, timeouts: Timeouts) -> None:
        self._timeouts = timeouts
        self.phase = Phase.KEEPALIVE
        self.when = NEVER
        self._progress = False

    def _timeout(self, phase: Phase) -> float:
        t = self._timeouts
        if phase is Phase.RESPONSE:
            return t.backend_response
        if phase is Phase.BODY:
            return t.client_idle
        if phase is Phase.HEAD:
            return t.request_head
        return t.keepalive

    def start(self, phase: Phase, now: float) -> None:
        """Enter ``phase`` at ``now`` (QUEUE uses ``until`` instead)."""
        self.phase = phase
        self.when = now + self._timeout(phase)
        self._progress = False

    def until(self, phase: Phase, when: float) -> None:
        """Enter ``phase`` with a deadline of its own (a queue's)."""
        self.phase = phase
        self.when = when
        self._progress = False

    def clear(self) -> None:
        self.when = NEVER

    def progress(self) -> None:
        """Bytes moved: an idle timeout (BODY, RESPONSE) starts over when it comes due."""
        self._progress = True

    def due(self, now: float) -> bool:
        """Has the deadline really passed at ``now``? Progress since it was set pushes an
        idle phase back by its timeout instead (and answers False)."""
        if now < self.when:
            return False
        phase = self.phase
        if self._progress and (phase is Phase.BODY or phase is Phase.RESPONSE):
            self._progress = False
            self.when = now + self._timeout(phase)
            return False
        self.when = NEVER
        return True
