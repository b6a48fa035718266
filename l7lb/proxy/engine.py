"""What the asyncio glue drives: a client connection's sans-IO engine.

``h1.H1Connection`` is one; an HTTP/2 connection is another. The glue (``client.py``) feeds
it bytes, time and the ends of things, carries out the commands it queues in ``out`` after
every call, and keeps one timer at ``next_deadline()``.
"""

from __future__ import annotations

from typing import Protocol

from l7lb.proxy.commands import Command


class Engine(Protocol):
    out: list[Command]

    def receive(self, data: bytes, now: float) -> None:
        """Bytes from the client."""

    def receive_eof(self, now: float) -> bool:
        """The client half-closed; True keeps the connection open to answer."""

    def lost(self, now: float) -> None:
        """The connection is gone."""

    def client_full(self, full: bool) -> None:
        """The client's write buffer crossed its high-water mark, or came back under it."""

    def tunnel_closed(self) -> None:
        """The backend side of a tunnel (after a 101) closed."""

    def next_deadline(self) -> float:
        """The loop time of the next deadline (``deadlines.NEVER`` for none)."""

    def on_timer(self, now: float) -> None:
        """``next_deadline()`` came."""
