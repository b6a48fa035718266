"""One pool's servers at run time, and the choice of a server for a request.

A server is eligible when it is up, ready (not drained nor in maintenance by
the admin), not in passive back-off, has weight > 0,
is not full (``max_conn`` reached) and is not excluded (servers a retry already
tried). Backup servers are eligible only when no primary server is: each tier
has its own scheduler instance, so a backup tier's rotation or ring is
undisturbed by the primaries. Nothing here reads a clock: the caller passes
``now`` (the event loop's time) for back-off deadlines.
"""

from __future__ import annotations

import math
from collections.abc import Set
from typing import Final

from l7lb.balancing.drain import DrainWatch
from l7lb.balancing.scheduler import make_picker
from l7lb.balancing.server_state import ADMIN_STATES, ServerState
from l7lb.config.model import Pool

MAX_WEIGHT: Final = 256


def _eligible(tier: list[ServerState], exclude: Set[str], now: float) -> list[ServerState]:
    return [
        s
        for s in tier
        if s.up
        and s.admin == "ready"
        and s.weight > 0
        and s.down_until <= now
        and (s.max_conn == 0 or s.active < s.max_conn)
        and s.name not in exclude
    ]


class PoolState:
    __slots__ = (
        "_backup",
        "_backup_picker",
        "_primary",
        "_primary_picker",
        "by_name",
        "pool",
        "servers",
    )

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.servers = [ServerState(s) for s in pool.servers]
        self.by_name = {s.name: s for s in self.servers}
        self._primary = [s for s in self.servers if not s.server.backup]
        self._backup = [s for s in self.servers if s.server.backup]
        self._primary_picker = make_picker(pool.scheduler, self._primary)
        self._backup_picker = make_picker(pool.scheduler, self._backup)

    def pick(
        self,
        source_ip: str,
        hash_value: bytes | None,
        exclude: Set[str] = frozenset(),
        now: float = math.inf,
    ) -> ServerState | None:
        """The server for the next request, or None when no server is eligible.

        ``hash_value`` is the chash key (see ``HashKey``), ignored by the other
        schedulers. ``now`` (the event loop's time) is compared with back-off
        deadlines set by ``mark_down(name, until)``; left out, back-off is
        ignored rather than keeping a server out for ever. The caller then
        ``acquire``s the server.
        """
        candidates = _eligible(self._primary, exclude, now)
        if candidates:
            return self._primary_picker.pick(candidates, source_ip, hash_value)
        candidates = _eligible(self._backup, exclude, now)
        if candidates:
            return self._backup_picker.pick(candidates, source_ip, hash_value)
        return None

    def acquire(self, s: ServerState) -> None:
        """A request was sent to ``s``."""
        s.active += 1
        s.requests += 1

    def release(self, s: ServerState) -> None:
        """The request on ``s`` finished (successfully or not)."""
        if s.active > 0:
            s.active -= 1

    def set_weight(self, name: str, weight: int) -> None:
        """Change a server's effective weight (0 drains it). KeyError if unknown."""
        if not 0 <= weight <= MAX_WEIGHT:
            raise ValueError(f"weight must be 0..{MAX_WEIGHT}, not {weight}")
        s = self.by_name[name]
        if s.weight == weight:
            return
        s.weight = weight
        (self._backup_picker if s.server.backup else self._primary_picker).weights_changed()

    def set_admin(self, name: str, state: str, deadline: float = math.inf) -> None:
        """The admin's state for a server: "ready", "drain" (sticky clients
        only, until ``deadline``, on the loop's clock) or "maint" (nobody).
        KeyError if unknown, ValueError if bad."""
        if state not in ADMIN_STATES:
            raise ValueError(f"admin state must be one of {', '.join(ADMIN_STATES)}, not {state!r}")
        s = self.by_name[name]
        s.admin = state  # narrowed to AdminState by the check
        if state != "drain":
            s.drain = None
        elif s.drain is None:
            s.drain = DrainWatch(deadline)
        else:
            s.drain.until = deadline  # a new deadline; the clients seen stay counted

    def sticky_state(self, s: ServerState, now: float) -> str:
        """Whether a server a client is stuck to can take its request:
        "ok", "maint", "down" (health or passive back-off), "expired" (its
        drain deadline has passed: move the client) or "full".

        Weight 0 and "drain" do not matter here: a draining server keeps
        its persistent clients until their persistence expires, or until
        the drain's deadline.
        """
        if s.admin == "maint":
            return "maint"
        if not s.up or s.down_until > now:
            return "down"
        drain = s.drain
        if drain is not None and now >= drain.until:
            return "expired"
        if s.max_conn and s.active >= s.max_conn:
            return "full"
        return "ok"

    def mark_down(self, name: str, until: float | None = None) -> None:
        """Take a server out of rotation.

        ``until=None``: down until ``mark_up`` (a failed health check, the
        admin). A number: passive back-off after a connect error or timeout,
        eligible again once ``now`` passed to ``pick`` reaches it, or sooner
        on ``mark_up``.
        """
        s = self.by_name[name]
        if until is None:
            s.up = False
        else:
            s.down_until = until

    def mark_up(self, name: str) -> None:
        """Back in rotation: clears both the down state and any back-off."""
        s = self.by_name[name]
        s.up = True
        s.down_until = 0.0

    def inherit(self, old: PoolState) -> None:
        """After a reload: keep the run-time state of servers that kept their
        name and address (in-flight counts, health, back-off, counters, the
        admin's drain/maint). The weight comes from the new config."""
        for s in self.servers:
            prev = old.by_name.get(s.name)
            if prev is None or prev.server.address != s.server.address:
                continue
            s.active = prev.active
            s.up = prev.up
            s.down_until = prev.down_until
            s.requests = prev.requests
            s.admin = prev.admin
            s.drain = prev.drain
