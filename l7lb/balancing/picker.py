"""The interface every scheduler implements.

A scheduler instance serves one tier of one pool (the primary servers, or the
backups). ``PoolState`` filters the tier down to the eligible servers and hands
that non-empty list, in config order, to ``pick``; the scheduler only chooses.
``scheduler.make_picker`` makes the one a pool's configuration names.
"""

from __future__ import annotations

from l7lb.balancing.server_state import ServerState


class Picker:
    """The base of every scheduler: a base class, not a Protocol, so that compiled callers
    (``PoolState.pick``) reach ``pick`` through a table instead of by name."""

    __slots__ = ()

    def __init__(self, tier: list[ServerState]) -> None:
        pass

    def pick(
        self, candidates: list[ServerState], source_ip: str, hash_value: bytes | None
    ) -> ServerState:
        """Choose one of ``candidates`` (never empty, all eligible)."""
        raise NotImplementedError

    def weights_changed(self) -> None:
        """A server's weight in this tier changed: rebuild derived tables."""
        raise NotImplementedError
