"""Drain with a deadline: stuck clients keep their server until it, then move."""

from __future__ import annotations

import math

from l7lb.balancing.drain import MAX_CLIENTS, WINDOW, DrainWatch
from l7lb.balancing.pool_state import PoolState
from l7lb.config.model import Address, Pool, Server


def pool() -> PoolState:
    return PoolState(
        Pool("web", (Server("s1", Address("10.0.0.1", 80)), Server("s2", Address("10.0.0.2", 80))))
    )


def test_a_stuck_client_keeps_a_draining_server_until_the_deadline() -> None:
    p = pool()
    s1 = p.by_name["s1"]
    p.set_admin("s1", "drain", 100.0)
    assert p.sticky_state(s1, 99.9) == "ok"
    assert p.sticky_state(s1, 100.0) == "expired"
    assert p.pick("10.0.0.9", None, now=50.0) is p.by_name["s2"]  # no new clients before it


def test_drain_without_a_deadline_never_expires() -> None:
    p = pool()
    p.set_admin("s1", "drain")
    assert p.sticky_state(p.by_name["s1"], 1e12) == "ok"


def test_down_and_maint_come_before_expired() -> None:
    p = pool()
    s1 = p.by_name["s1"]
    p.set_admin("s1", "drain", 10.0)
    p.mark_down("s1")
    assert p.sticky_state(s1, 20.0) == "down"
    p.set_admin("s1", "maint")
    assert s1.drain is None and p.sticky_state(s1, 20.0) == "maint"


def test_ready_ends_the_drain_and_a_new_deadline_replaces_the_old() -> None:
    p = pool()
    s1 = p.by_name["s1"]
    p.set_admin("s1", "drain", 10.0)
    assert s1.drain is not None
    s1.drain.saw("10.0.0.9", 1, 5.0)
    p.set_admin("s1", "drain", 50.0)
    assert s1.drain.until == 50.0 and s1.drain.clients(6.0) == 1  # clients seen kept
    assert p.sticky_state(s1, 20.0) == "ok"
    p.set_admin("s1", "ready")
    assert s1.drain is None and p.sticky_state(s1, 100.0) == "ok"


def test_clients_seen_within_the_window() -> None:
    d = DrainWatch(math.inf)
    d.saw("10.0.0.1", 1700000000, 0.0)
    d.saw("10.0.0.1", 1700000000, 1.0)  # the same client again
    d.saw("10.0.0.1", 1700000001, 2.0)  # a cookie of another second
    d.saw("10.0.0.2", b"session-id", 3.0)
    assert d.clients(3.0) == 3
    assert d.clients(1.0 + WINDOW + 0.5) == 2  # the first went quiet
    assert d.clients(10.0 + WINDOW) == 0


def test_no_client_is_left_after_the_deadline() -> None:
    d = DrainWatch(10.0)
    d.saw("10.0.0.1", 1, 9.0)
    assert d.clients(9.5) == 1
    assert d.clients(10.0) == 0


def test_clients_are_bounded() -> None:
    d = DrainWatch()
    for i in range(MAX_CLIENTS + 10):
        d.saw("10.0.0.1", i, 0.0)
    assert d.clients(0.0) == MAX_CLIENTS
    d.saw("10.0.0.2", 1, WINDOW + 1)  # room again once the old ones are stale
    assert d.clients(WINDOW + 1) == 1
