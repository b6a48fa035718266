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

An idle timeout alone lets a client trickle a body forever (one byte every few seconds is
progress), so a request body also has a ``BodyWatch`` of its own, whatever the phase:
a minimum rate over a sliding window (``body_min_rate``, ``body_rate_window``) and an
optional total deadline (``body_deadline``). Its verdict answers 408 (see ``BodyWatch``).
"""

from __future__ import annotations

import enum
from typing import Final

from l7lb.config.model import Timeouts
from l7lb.proxy.flow import Pause

NEVER: Final = float("inf")
# A rate window is checked at each fifth of it: the window slides in steps of window / 5.
SLOTS: Final = 5


class Phase(enum.Enum):
    HEAD = "request head"
    KEEPALIVE = "keep-alive"
    BODY = "request body"
    RESPONSE = "backend response"
    QUEUE = "queue"


class BodyWatch:
    """How fast a request body arrives: a sans-IO verdict with explicit times.

    The rate rule, with W = ``window`` and R = ``min_rate``: time runs from the clock's
    origin (the request head complete) in steps of W/5; at every step from the fifth on
    (W after the origin, then every W/5) the client must have sent at least R * W body
    bytes during the W just ended, or the body is too slow. So the first W is a grace
    period and each check covers exactly the preceding W, measured by byte counts taken at
    the step boundaries (taken lazily, when bytes or the timer come, which is exact: no
    byte arrives between two events).

    l7lb's own pauses do not count against the client: while reading is paused (the
    backend is not connected yet, or is not taking the body) nothing is checked, and once
    reading resumes the clock starts again at the client's next byte, with a whole W of
    grace. A request that asked ``Expect: 100-continue`` starts the same way: its clock
    starts at the first body byte, since the client waits for the 100 before sending.

    The total deadline (``total`` seconds after the head, if set) holds whatever happens.

    ``when`` is the loop time of the next check (or the deadline); ``expire(now)`` at or
    after it answers whether the body broke a rule, and ``violation`` then says which.
    """

    __slots__ = (
        "end",
        "marks",
        "min_bytes",
        "min_rate",
        "next_step",
        "origin",
        "pauses",
        "received",
        "step",
        "stopped",
        "total",
        "violation",
        "when",
        "window",
    )

    def __init__(
        self, min_rate: int, window: float, total: float, now: float, waiting: bool = False
    ) -> None:
        self.min_rate = min_rate  # bytes per second; 0 = no rate rule
        self.window = window
        self.min_bytes = min_rate * window  # per window
        self.step = window / SLOTS
        self.total = total
        self.end = now + total if total > 0 else NEVER
        self.received = 0  # body bytes since the head
        # received at each of the last SLOTS step boundaries: marks[k % SLOTS] is the count
        # at boundary k until boundary k + SLOTS replaces it
        self.marks = [0] * SLOTS
        self.origin = now
        self.next_step = 1  # the first boundary not yet taken
        self.pauses: set[Pause] | None = None  # why l7lb is not reading the body
        self.stopped = waiting  # the clock waits for the next byte
        self.violation = ""
        self.when = NEVER
        self._schedule()

    def _schedule(self) -> None:
        when = self.end
        if not self.stopped and self.min_bytes > 0:
            check = self.origin + max(self.next_step, SLOTS) * self.step
            if check < when:
                when = check
        self.when = when

    def _restart(self, now: float) -> None:
        self.stopped = False
        self.origin = now
        self.next_step = 1
        received = self.received
        marks = self.marks
        for i in range(SLOTS):
            marks[i] = received

    def _advance(self, now: float) -> bool:
        """Take the step boundaries up to ``now``, checking those past the grace; False
        (and ``violation`` set) at the first window that was too slow."""
        if self.stopped or self.min_bytes <= 0:
            return True
        step = self.step
        origin = self.origin
        marks = self.marks
        received = self.received
        k = self.next_step
        while origin + k * step <= now:
            slot = k % SLOTS
            if k >= SLOTS and received - marks[slot] < self.min_bytes:
                got = received - marks[slot]
                self.violation = (
                    f"request body too slow: {got} bytes in {self.window:g}s, "
                    f"under body_min_rate ({self.min_rate} bytes/s)"
                )
                self.next_step = k + 1
                return False
            marks[slot] = received
            k += 1
        self.next_step = k
        return True

    def add(self, n: int, now: float) -> None:
        """``n`` body bytes arrived at ``now``."""
        if self.stopped:
            if self.pauses:
                self.received += n
                return
            self._restart(now)
        elif not self._advance(now):
            self.when = now  # due at once: the timer reports it
            return
        self.received += n
        self._schedule()

    def pause(self, reason: Pause) -> None:
        """l7lb stopped reading the body for ``reason``: no check until it resumes."""
        pauses = self.pauses
        if pauses is None:
            pauses = self.pauses = set()
        pauses.add(reason)
        self.stopped = True
        self._schedule()

    def resume(self, reason: Pause) -> None:
        """Reading resumed for ``reason``; the clock restarts at the next byte."""
        if self.pauses is not None:
            self.pauses.discard(reason)

    def expire(self, now: float) -> bool:
        """At or after ``when``: True if the body broke a rule (``violation`` says which),
        else False with ``when`` moved on."""
        if self.violation:
            return True
        if now >= self.end:
            self.violation = f"request body not complete within body_deadline ({self.total:g}s)"
            return True
        if not self._advance(now):
            return True
        self._schedule()
        return False


class Deadline:
    """One deadline; ``when`` is NEVER while nothing is due. With a ``body`` watch,
    ``when`` is the earlier of the phase's deadline and the watch's."""

    __slots__ = ("_phase_when", "_progress", "_timeouts", "body", "phase", "when")

    def __init__(self, timeouts: Timeouts) -> None:
        self._timeouts = timeouts
        self.phase = Phase.KEEPALIVE
        self.when = NEVER
        self._phase_when = NEVER
        self._progress = False
        self.body: BodyWatch | None = None

    def _timeout(self, phase: Phase) -> float:
        t = self._timeouts
        if phase is Phase.RESPONSE:
            return t.backend_response
        if phase is Phase.BODY:
            return t.client_idle
        if phase is Phase.HEAD:
            return t.request_head
        return t.keepalive

    def _set(self, when: float) -> None:
        self._phase_when = when
        body = self.body
        if body is not None and body.when < when:
            when = body.when
        self.when = when

    # start, until and clear are _set written out: every request calls them a few times

    def start(self, phase: Phase, now: float) -> None:
        """Enter ``phase`` at ``now`` (QUEUE uses ``until`` instead)."""
        self.phase = phase
        self._progress = False
        when = now + self._timeout(phase)
        self._phase_when = when
        body = self.body
        self.when = when if body is None or body.when >= when else body.when

    def until(self, phase: Phase, when: float) -> None:
        """Enter ``phase`` with a deadline of its own (a queue's)."""
        self.phase = phase
        self._progress = False
        self._phase_when = when
        body = self.body
        self.when = when if body is None or body.when >= when else body.when

    def clear(self) -> None:
        """No phase deadline (a body watch, if any, keeps its own)."""
        self._phase_when = NEVER
        body = self.body
        self.when = NEVER if body is None else body.when

    def progress(self) -> None:
        """Bytes moved: an idle timeout (BODY, RESPONSE) starts over when it comes due."""
        self._progress = True

    # ---- the request body ----------------------------------------------------------------

    def watch_body(self, watch: BodyWatch) -> None:
        self.body = watch
        self._set(self._phase_when)

    def watch_request_body(self, now: float, expect_continue: bool) -> None:
        """A request body follows the head that came at ``now``: watch its rate and total
        time (``body_min_rate``, ``body_rate_window``, ``body_deadline``)."""
        t = self._timeouts
        self.watch_body(
            BodyWatch(t.body_min_rate, t.body_rate_window, t.body_deadline, now, expect_continue)
        )

    def body_done(self) -> None:
        """The request body is complete: its watch ends."""
        if self.body is not None:
            self.body = None
            self._set(self._phase_when)

    def body_progress(self, n: int, now: float) -> None:
        """``n`` request body bytes came at ``now``: progress, and the watch counts them."""
        self._progress = True
        body = self.body
        if body is not None:
            body.add(n, now)
            if body.when < self.when:
                self.when = body.when

    def pause_body(self, reason: Pause) -> None:
        body = self.body
        if body is not None:
            body.pause(reason)
            self._set(self._phase_when)

    def resume_body(self, reason: Pause) -> None:
        body = self.body
        if body is not None:
            body.resume(reason)

    def body_paused(self, reason: Pause, paused: bool) -> None:
        """l7lb stopped (or resumed) reading the body for ``reason``."""
        if paused:
            self.pause_body(reason)
        else:
            self.resume_body(reason)

    def body_violation(self) -> str:
        """Why the body watch expired ("" if it did not)."""
        body = self.body
        return body.violation if body is not None else ""

    # ---- expiry ----------------------------------------------------------------------------

    def due(self, now: float) -> bool:
        """Has the deadline really passed at ``now``? Progress since it was set pushes an
        idle phase back by its timeout instead (and answers False). A body watch that
        expires makes it due too (``body_violation`` says why)."""
        if now < self.when:
            return False
        body = self.body
        if body is not None and now >= body.when and body.expire(now):
            self.when = NEVER
            return True
        if now < self._phase_when:
            self._set(self._phase_when)  # only the watch moved
            return False
        phase = self.phase
        if self._progress and (phase is Phase.BODY or phase is Phase.RESPONSE):
            self._progress = False
            self._set(now + self._timeout(phase))
            return False
        self._set(NEVER)
        return True
