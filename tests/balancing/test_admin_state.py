"""The admin state of a server: drain and maint, next to weight and health."""

from __future__ import annotations

import pytest

from l7lb.balancing.pool_state import PoolState
from l7lb.config.model import Address, Pool, Scheduler, Server


def pool(*names: str, backup: tuple[str, ...] = ()) -> PoolState:
    servers = [Server(n, Address(f"10.0.0.{i + 1}", 80)) for i, n in enumerate(names)]
    servers += [
        Server(n, Address(f"10.0.1.{i + 1}", 80), backup=True) for i, n in enumerate(backup)
    ]
    return PoolState(Pool("p", tuple(servers), scheduler=Scheduler.RR))


def picks(state: PoolState, n: int = 12) -> set[str]:
    out = set()
    for _ in range(n):
        s = state.pick("192.0.2.1", None)
        out.add(s.name if s is not None else "-")
    return out


def test_drain_and_maint_take_a_server_out_of_scheduling() -> None:
    state = pool("a", "b", "c")
    assert state.servers[0].admin == "ready"
    state.set_admin("a", "drain")
    state.set_admin("b", "maint")
    assert picks(state) == {"c"}
    state.set_admin("a", "ready")
    assert picks(state) == {"a", "c"}


def test_all_primaries_drained_falls_to_backup_then_nothing() -> None:
    state = pool("a", backup=("x",))
    state.set_admin("a", "drain")
    assert picks(state) == {"x"}
    state.set_admin("x", "maint")
    assert picks(state) == {"-"}


def test_sticky_state() -> None:
    state = pool("a")
    a = state.servers[0]
    assert state.sticky_state(a, 0.0) == "ok"
    state.set_admin("a", "drain")
    state.set_weight("a", 0)
    assert state.sticky_state(a, 0.0) == "ok"  # draining keeps its sticky clients
    state.mark_down("a")
    assert state.sticky_state(a, 0.0) == "down"
    state.set_admin("a", "maint")
    assert state.sticky_state(a, 0.0) == "maint"


def test_set_admin_rejects_unknown_values_and_servers() -> None:
    state = pool("a")
    with pytest.raises(ValueError, match="admin state"):
        state.set_admin("a", "sleep")
    with pytest.raises(KeyError):
        state.set_admin("zz", "drain")
    assert state.servers[0].admin == "ready"


def test_reload_keeps_admin_state() -> None:
    old = pool("a", "b")
    old.set_admin("a", "maint")
    new = pool("a", "b")
    new.inherit(old)
    assert [s.admin for s in new.servers] == ["maint", "ready"]
    assert "admin='maint'" in repr(new.servers[0])
