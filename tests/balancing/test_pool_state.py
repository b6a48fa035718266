"""PoolState: eligibility, backups, counters and admin changes; each scheduler's rule."""

from __future__ import annotations

from collections import Counter

import pytest

from l7lb.balancing import HashKey, PoolState
from l7lb.config.model import Address, Pool, Scheduler, Server

ALL = list(Scheduler)


def make_pool(
    weights: list[int],
    scheduler: Scheduler = Scheduler.WRR,
    backups: list[int] | None = None,
    max_conn: int = 0,
) -> PoolState:
    servers = [
        Server(f"s{i}", Address(f"10.0.0.{i + 1}", 80), weight=w, max_conn=max_conn)
        for i, w in enumerate(weights)
    ]
    servers += [
        Server(f"b{i}", Address(f"10.0.1.{i + 1}", 80), weight=w, backup=True)
        for i, w in enumerate(backups or [])
    ]
    return PoolState(Pool("p", tuple(servers), scheduler=scheduler))


def names(pool: PoolState, n: int, **kw: object) -> list[str]:
    out = []
    for i in range(n):
        s = pool.pick(f"192.0.2.{i % 250}", b"k%d" % i, **kw)  # type: ignore[arg-type]
        assert s is not None
        out.append(s.name)
    return out


def test_state_mirrors_config() -> None:
    pool = make_pool([3, 1])
    assert [s.name for s in pool.servers] == ["s0", "s1"]
    assert pool.by_name["s0"].weight == 3
    assert pool.by_name["s0"].up and pool.by_name["s0"].active == 0


def test_rr_cycles_in_order() -> None:
    pool = make_pool([1, 5, 1], Scheduler.RR)  # weights other than 0 are ignored
    assert names(pool, 6) == ["s0", "s1", "s2", "s0", "s1", "s2"]


def test_wrr_is_nginx_smooth_sequence() -> None:
    # the sequence from nginx's commit introducing smooth weighted round robin
    pool = make_pool([5, 1, 1], Scheduler.WRR)
    assert names(pool, 7) == ["s0", "s0", "s1", "s0", "s2", "s0", "s0"]


def test_wrr_weight_change_takes_effect_immediately() -> None:
    pool = make_pool([1, 1], Scheduler.WRR)
    names(pool, 3)
    pool.set_weight("s1", 3)
    got = Counter(names(pool, 400))
    assert got == {"s0": 100, "s1": 300}


def test_lc_picks_least_active_and_rotates_ties() -> None:
    pool = make_pool([1, 1, 1], Scheduler.LC)
    pool.by_name["s0"].active = 2
    pool.by_name["s1"].active = 0
    pool.by_name["s2"].active = 1
    assert names(pool, 3) == ["s1", "s1", "s1"]
    for s in pool.servers:
        s.active = 0
    assert sorted(names(pool, 3)) == ["s0", "s1", "s2"]  # idle pool spreads


def test_lc_follows_acquire_release() -> None:
    pool = make_pool([1, 1], Scheduler.LC)
    first = pool.pick("1.2.3.4", None)
    assert first is not None
    pool.acquire(first)
    second = pool.pick("1.2.3.4", None)
    assert second is not None and second is not first
    pool.acquire(second)
    pool.release(first)
    assert pool.pick("1.2.3.4", None) is first
    assert first.requests == 1 and first.active == 0


def test_wlc_uses_active_per_weight() -> None:
    pool = make_pool([4, 1], Scheduler.WLC)
    pool.by_name["s0"].active = 3  # 0.75 per weight
    pool.by_name["s1"].active = 1  # 1.0
    assert names(pool, 2) == ["s0", "s0"]
    pool.by_name["s0"].active = 8  # 2.0
    assert names(pool, 2) == ["s1", "s1"]


def test_wlc_spreads_under_concurrency_by_weight() -> None:
    pool = make_pool([3, 1], Scheduler.WLC)
    for _ in range(40):  # 40 long requests in flight
        s = pool.pick("1.1.1.1", None)
        assert s is not None
        pool.acquire(s)
    assert pool.by_name["s0"].active == 30 and pool.by_name["s1"].active == 10


def test_sh_is_sticky_and_weighted() -> None:
    pool = make_pool([3, 1], Scheduler.SH)
    first = {
        f"10.9.{i // 250}.{i % 250}": pool.pick(f"10.9.{i // 250}.{i % 250}", None)
        for i in range(4000)
    }
    again = {ip: pool.pick(ip, None) for ip in first}
    assert first == again
    share = Counter(s.name for s in first.values() if s is not None)
    assert 2800 < share["s0"] < 3200


def test_sh_moves_only_the_missing_servers_clients() -> None:
    pool = make_pool([1, 1, 1, 1], Scheduler.SH)
    ips = [f"172.16.{i // 250}.{i % 250}" for i in range(2000)]
    before = {ip: pool.pick(ip, None) for ip in ips}
    pool.mark_down("s2")
    after = {ip: pool.pick(ip, None) for ip in ips}
    for ip in ips:
        b, a = before[ip], after[ip]
        assert b is not None and a is not None
        if b.name != "s2":
            assert a is b
        else:
            assert a.name != "s2"
    moved = Counter(a.name for ip, a in after.items() if before[ip].name == "s2")  # type: ignore[union-attr]
    assert len(moved) == 3  # spread over the three others, not dumped on a neighbour


def test_chash_uses_hash_value_and_falls_back_to_source() -> None:
    pool = make_pool([1, 1, 1], Scheduler.CHASH)
    by_key = {k: pool.pick("1.1.1.1", b"/path/%d" % k) for k in range(300)}
    assert len({s.name for s in by_key.values() if s is not None}) == 3
    assert all(pool.pick("9.9.9.9", b"/path/%d" % k) is s for k, s in by_key.items())
    assert pool.pick("10.0.0.9", None) is pool.pick("10.0.0.9", b"10.0.0.9")


@pytest.mark.parametrize("kind", ALL)
def test_weight_zero_never_picked(kind: Scheduler) -> None:
    pool = make_pool([1, 0, 2], kind)
    assert "s1" not in names(pool, 300)
    pool.set_weight("s0", 0)
    assert set(names(pool, 300)) == {"s2"}


@pytest.mark.parametrize("kind", ALL)
def test_backup_only_when_no_primary_is_eligible(kind: Scheduler) -> None:
    pool = make_pool([1, 1], kind, backups=[1, 1])
    assert not {n for n in names(pool, 100) if n.startswith("b")}
    pool.mark_down("s0")
    pool.set_weight("s1", 0)
    assert {n[0] for n in names(pool, 100)} == {"b"}
    pool.mark_up("s0")
    assert set(names(pool, 50)) == {"s0"}


@pytest.mark.parametrize("kind", ALL)
def test_none_when_nothing_is_eligible(kind: Scheduler) -> None:
    pool = make_pool([1, 1], kind, backups=[1])
    pool.mark_down("s0")
    pool.mark_down("s1")
    assert pool.pick("1.1.1.1", b"k", exclude={"b0"}) is None
    assert make_pool([], kind).pick("1.1.1.1", None) is None


@pytest.mark.parametrize("kind", ALL)
def test_exclude_and_max_conn(kind: Scheduler) -> None:
    pool = make_pool([1, 1, 1], kind, max_conn=1)
    assert "s1" not in names(pool, 100, exclude=frozenset({"s1"}))
    pool.acquire(pool.by_name["s0"])  # s0 is now full
    assert set(names(pool, 100, exclude={"s1"})) == {"s2"}
    pool.release(pool.by_name["s0"])
    assert "s0" in names(pool, 100, exclude={"s1"})


def test_passive_backoff_uses_callers_clock() -> None:
    pool = make_pool([1, 1], Scheduler.RR)
    pool.mark_down("s0", until=100.0)
    assert set(names(pool, 10, now=99.0)) == {"s1"}
    assert set(names(pool, 10, now=100.0)) == {"s0", "s1"}
    assert pool.by_name["s0"].up  # back-off is not a health verdict
    pool.mark_down("s0", until=200.0)
    pool.mark_up("s0")
    assert set(names(pool, 10, now=150.0)) == {"s0", "s1"}


def test_release_never_goes_negative_and_counts_requests() -> None:
    pool = make_pool([1])
    s = pool.by_name["s0"]
    pool.acquire(s)
    pool.acquire(s)
    pool.release(s)
    pool.release(s)
    pool.release(s)
    assert s.active == 0 and s.requests == 2


def test_set_weight_validates() -> None:
    pool = make_pool([1])
    with pytest.raises(ValueError):
        pool.set_weight("s0", 257)
    with pytest.raises(KeyError):
        pool.set_weight("nope", 1)


def test_chash_drain_and_return_keeps_everyone_elses_keys() -> None:
    pool = make_pool([1, 1, 1, 1], Scheduler.CHASH)
    keys = [b"/k/%d" % i for i in range(2000)]
    before = {k: pool.pick("1.1.1.1", k) for k in keys}
    pool.set_weight("s1", 0)
    during = {k: pool.pick("1.1.1.1", k) for k in keys}
    pool.set_weight("s1", 1)
    after = {k: pool.pick("1.1.1.1", k) for k in keys}
    assert after == before
    assert all(during[k] is before[k] for k in keys if before[k].name != "s1")  # type: ignore[union-attr]


def test_inherit_keeps_runtime_state_of_unchanged_servers() -> None:
    old = make_pool([1, 1])
    old.acquire(old.by_name["s0"])
    old.mark_down("s1")
    new = make_pool([2, 2])
    new.inherit(old)
    assert new.by_name["s0"].active == 1 and new.by_name["s0"].requests == 1
    assert not new.by_name["s1"].up
    assert new.by_name["s0"].weight == 2  # the new config's weight


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("path", b"/a"),
        ("uri", b"/a?q=1"),
        ("host", b"example.com"),
        ("source", None),
        ("header:X-User", b"alice"),
        ("header:x-missing", None),
    ],
)
def test_hash_key(spec: str, expected: bytes | None) -> None:
    headers = [(b"host", b"Example.com:80"), (b"x-user", b"alice")]
    assert HashKey(spec).value(b"/a", b"q=1", b"Example.com:80", headers) == expected


def test_hash_key_rejects_unknown() -> None:
    with pytest.raises(ValueError):
        HashKey("cookie")
