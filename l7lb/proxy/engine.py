"""What the asyncio glue drives: a client connection's sans-IO engine.

``h1.H1Connection`` is one; an HTTP/2 connection is another. The glue (``client.py``) feeds
it bytes, time and the ends of things, carries out the commands it queues in ``out`` after
every call, and keeps one timer at ``next_deadline()``.
"""

from __future__ import annotations

from mypy_extensions import trait

from l7lb.proxy.commands import Command


@trait
class Engine:
    """(A trait, not a Protocol: the glue's calls go through a table, not by name.)"""

    out: list[Command]

    def receive(self, data: bytes, now: float) -> None:
        """Bytes from the client."""
        raise NotImplementedError

    def receive_eof(self, now: float) -> bool:
        """The client half-closed; True keeps the connection open to answer."""
        raise NotImplementedError

    def lost(self, now: float) -> None:
        """The connection is gone."""
        raise NotImplementedError

    def client_full(self, full: bool) -> None:
        """The client's write buffer crossed its high-water mark, or came back under it."""
        raise NotImplementedError

    def tunnel_closed(self) -> None:
        """The backend side of a tunnel (after a 101) closed."""
        raise NotImplementedError

    def next_deadline(self) -> float:
        """The loop time of the next deadline (``deadlines.NEVER`` for none)."""
        raise NotImplementedError

    def on_timer(self, now: float) -> None:
        """``next_deadline()`` came."""
        raise NotImplementedError
