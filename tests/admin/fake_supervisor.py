"""A supervisor stand-in for the admin tests: commands change real PoolStates."""

from __future__ import annotations

import math
from typing import Any

from l7lb.admin.commands import ReloadVerdict, ServerRow, UnknownServer
from l7lb.balancing.pool_state import PoolState
from l7lb.config.model import Address, Pool, Server
from l7lb.limits.board import LimitRow


class FakeSupervisor:
    """Applies commands to real PoolStates, like the supervisor would."""

    def __init__(self) -> None:
        pool = Pool(
            "web",
            (
                Server("s1", Address("10.0.0.1", 80)),
                Server("s2", Address("10.0.0.2", 80), weight=3),
                Server("b1", Address("10.0.0.9", 80), backup=True),
            ),
        )
        self.pools = {"web": PoolState(pool)}
        self.calls: list[tuple[str, ...]] = []
        self.draining = False
        self.state = "ok"  # or "starting"
        # what the next reload answers: accepted, or rejected with these errors
        self.reload_errors: tuple[str, ...] = ()
        self.generation = 1

    def _state(self, pool: str, server: str) -> PoolState:
        state = self.pools.get(pool)
        if state is None:
            raise UnknownServer(f"no pool named {pool!r}")
        if server not in state.by_name:
            raise UnknownServer(f"pool {pool!r} has no server {server!r}")
        return state

    async def servers(self) -> list[ServerRow]:
        return [
            ServerRow.from_state(name, s, entries=2 if s.name == "s2" else 0, now=0.0)
            for name, p in self.pools.items()
            for s in p.servers
        ]

    async def set_weight(self, pool: str, server: str, weight: int) -> str:
        self._state(pool, server).set_weight(server, weight)
        self.calls.append(("set-weight", pool, server, str(weight)))
        return f"{pool}/{server}: weight {weight}"

    async def set_state(self, pool: str, server: str, state: str, deadline: float = 0.0) -> str:
        self._state(pool, server).set_admin(server, state, deadline or math.inf)
        if deadline:
            self.calls.append((state, pool, server, f"deadline {deadline:g}"))
            return f"{pool}/{server}: {state}, sticky clients move in {deadline:g}s"
        self.calls.append((state, pool, server))
        return f"{pool}/{server}: {state}"

    async def tls_counters(self) -> dict[str, dict[str, Any]]:
        return {}

    async def limits(self) -> list[LimitRow]:
        return [LimitRow("www", "192.0.2.7", 3, 12.5, 125.0, 4, 17)]

    async def reload_config(self) -> ReloadVerdict:
        self.calls.append(("reload",))
        if not self.reload_errors:
            self.generation += 1
        return ReloadVerdict(
            not self.reload_errors, self.generation, "/etc/l7lb.toml", self.reload_errors
        )

    def request_stop(self) -> int:
        self.calls.append(("stop",))
        self.draining = True
        return 4242

    def health_state(self) -> str:
        return "draining" if self.draining else self.state
