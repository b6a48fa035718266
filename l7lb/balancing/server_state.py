"""Runtime state of one server inside one worker.

The config's ``Server`` is immutable; what changes at run time (admin weight,
health, passive back-off, in-flight count) lives here and nowhere else, so a
scheduler reads one object per server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from l7lb.balancing.drain import DrainWatch
from l7lb.config.model import Server

# The operator's say, independent of health: "drain" keeps the clients already
# stuck to the server but sends it no new ones (the reference chapter's
# graceful shutdown by weight 0); "maint" takes it out for everyone.
AdminState = Literal["ready", "drain", "maint"]
ADMIN_STATES: tuple[AdminState, ...] = ("ready", "drain", "maint")


# eq=False: identity comparison and hashing, so ``s in candidates`` is cheap and
# two servers with equal counters are never confused.
@dataclass(slots=True, eq=False)
class ServerState:
    server: Server
    name: str = field(init=False)
    weight: int = field(init=False)  # effective weight; the admin may change it
    max_conn: int = field(init=False)  # copied from ``server``: read on every pick
    active: int = 0  # requests in flight to this server
    up: bool = True  # health state: False after a failed check or ``mark_down``
    down_until: float = 0.0  # passive back-off: ineligible while ``now`` < this
    requests: int = 0  # requests sent since start (admin and stats)
    admin: AdminState = "ready"  # set by ``l7lb admin drain|maint|ready``
    drain: DrainWatch | None = None  # while ``admin`` is "drain": its deadline, its clients
    current: int = 0  # smooth weighted round robin running weight (scheduler scratch)

    def __post_init__(self) -> None:
        self.name = self.server.name
        self.weight = self.server.weight
        self.max_conn = self.server.max_conn

    def __repr__(self) -> str:
        return (
            f"ServerState({self.name!r}, weight={self.weight}, active={self.active}, "
            f"up={self.up}, down_until={self.down_until}, admin={self.admin!r})"
        )
