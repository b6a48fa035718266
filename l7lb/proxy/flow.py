"""Flow control: why reading from a connection is paused, and the gate that keeps count.

Reading from a client stops while any reason holds and resumes when the last one is lifted,
so two parts of the engine can each pause the same connection without undoing each other.
"""

from __future__ import annotations

import enum
from typing import Protocol


class Pause(enum.Enum):
    """Why reading from the client is paused."""

    PIPELINE = "too many pipelined requests are queued"
    BACKEND_FULL = "the backend's write buffer is full"
    NO_BACKEND = "request body bytes are buffered while the backend connection is made"
    CLIENT_FULL = "the client's write buffer is full"


class Readable(Protocol):
    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class ReadGate:
    """Pauses ``transport`` while at least one ``Pause`` reason holds."""

    __slots__ = ("_reasons", "transport")

    def __init__(self, transport: Readable | None = None) -> None:
        self.transport = transport
        self._reasons: set[Pause] = set()

    def pause(self, reason: Pause) -> None:
        reasons = self._reasons
        if not reasons and self.transport is not None:
            self.transport.pause_reading()
        reasons.add(reason)

    def resume(self, reason: Pause) -> None:
        reasons = self._reasons
        if reason not in reasons:
            return
        reasons.discard(reason)
        if not reasons and self.transport is not None:
            self.transport.resume_reading()

    def paused(self, reason: Pause | None = None) -> bool:
        return bool(self._reasons) if reason is None else reason in self._reasons
