"""Property tests for the schedulers (hypothesis)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.balancing import PoolState, ServerState
from l7lb.config.model import Address, Pool, Scheduler, Server

weights_st = st.lists(st.integers(min_value=1, max_value=10), min_size=1, max_size=8)
ALL = st.sampled_from(list(Scheduler))


def make_pool(
    weights: list[int],
    kind: Scheduler,
    backups: list[int] | None = None,
    names: list[str] | None = None,
) -> PoolState:
    names = names or [f"s{i}" for i in range(len(weights))]
    servers = [
        Server(n, Address(f"10.0.{i // 250}.{i % 250 + 1}", 80), weight=w)
        for i, (n, w) in enumerate(zip(names, weights, strict=True))
    ]
    servers += [
        Server(f"b{i}", Address(f"10.1.0.{i + 1}", 80), weight=w, backup=True)
        for i, w in enumerate(backups or [])
    ]
    return PoolState(Pool("p", tuple(servers), scheduler=kind))


@settings(max_examples=30, deadline=None)
@given(weights_st)
def test_wrr_shares_within_one_percent(weights: list[int]) -> None:
    pool = make_pool(weights, Scheduler.WRR)
    picks = 10_000
    got: Counter[str] = Counter()
    for _ in range(picks):
        s = pool.pick("1.1.1.1", None)
        assert s is not None
        got[s.name] += 1
    total = sum(weights)
    for i, w in enumerate(weights):
        assert abs(got[f"s{i}"] / picks - w / total) <= 0.01


@settings(max_examples=30, deadline=None)
@given(weights_st, st.integers(min_value=1, max_value=30))
def test_wrr_is_evenly_interleaved(weights: list[int], window: int) -> None:
    # smooth wrr: in any run of picks, a server's count differs from its share
    # by less than the number of servers (nginx's interleaving guarantee, loose)
    pool = make_pool(weights, Scheduler.WRR)
    seq = [pool.pick("1.1.1.1", None).name for _ in range(sum(weights) * 3)]  # type: ignore[union-attr]
    total = sum(weights)
    for start in range(0, len(seq) - window):
        got = Counter(seq[start : start + window])
        for i, w in enumerate(weights):
            assert abs(got[f"s{i}"] - window * w / total) < len(weights) + 1


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=8),
    st.lists(st.integers(min_value=0, max_value=3), max_size=3),
    ALL,
    st.data(),
)
def test_pick_respects_weight_zero_backup_down_full_excluded(
    weights: list[int], backups: list[int], kind: Scheduler, data: st.DataObject
) -> None:
    pool = make_pool(weights, kind, backups)
    for s in pool.servers:
        s.up = data.draw(st.booleans(), label=f"{s.name} up")
        s.max_conn = data.draw(st.sampled_from([0, 1, 2]), label=f"{s.name} max_conn")
        s.active = data.draw(st.integers(min_value=0, max_value=2), label=f"{s.name} active")
    exclude = set(data.draw(st.lists(st.sampled_from([s.name for s in pool.servers]), max_size=3)))

    def ok(s: ServerState) -> bool:
        return (
            s.up
            and s.weight > 0
            and s.name not in exclude
            and not (s.max_conn and s.active >= s.max_conn)
        )

    primaries_ok = any(ok(s) for s in pool.servers if not s.server.backup)
    any_ok = any(ok(s) for s in pool.servers)
    for i in range(30):
        got = pool.pick(f"192.0.2.{i}", b"key%d" % i, exclude=exclude)
        if not any_ok:
            assert got is None
            continue
        assert got is not None and ok(got)
        assert got.server.backup == (not primaries_ok)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=8))
def test_lc_picks_a_minimum(actives: list[int]) -> None:
    pool = make_pool([1] * len(actives), Scheduler.LC)
    for s, a in zip(pool.servers, actives, strict=True):
        s.active = a
    for _ in range(len(actives) + 1):
        got = pool.pick("1.1.1.1", None)
        assert got is not None and got.active == min(actives)


@settings(max_examples=30, deadline=None)
@given(weights_st, st.lists(st.ip_addresses(v=4).map(str), min_size=1, max_size=50))
def test_sh_is_deterministic_across_instances(weights: list[int], ips: list[str]) -> None:
    a = make_pool(weights, Scheduler.SH)
    b = make_pool(weights, Scheduler.SH)
    for ip in ips:
        first = a.pick(ip, None)
        assert first is not None
        assert a.pick(ip, None) is first  # same worker, again
        assert b.pick(ip, None).name == first.name  # type: ignore[union-attr]  # another worker


KEYS = [b"/object/%d" % i for i in range(10_000)]


def assignment(pool: PoolState) -> list[str]:
    return [pool.pick("1.1.1.1", k).name for k in KEYS]  # type: ignore[union-attr]


@settings(max_examples=8, deadline=None)
@given(st.integers(min_value=3, max_value=10), st.data())
def test_chash_removing_or_adding_one_server_moves_few_keys(n: int, data: st.DataObject) -> None:
    names = [f"web{i}" for i in range(n)]
    full = make_pool([1] * n, Scheduler.CHASH, names=names)
    before = assignment(full)
    gone = data.draw(st.sampled_from(names))
    # removed from the config: a new pool without it
    smaller = make_pool([1] * (n - 1), Scheduler.CHASH, names=[x for x in names if x != gone])
    after = assignment(smaller)
    moved = sum(1 for b, a in zip(before, after, strict=True) if b != a)
    assert moved == sum(1 for b in before if b == gone)  # only the removed server's keys
    assert moved <= 2 * len(KEYS) / n
    # marked down: the ring walk gives the same answer as removal
    full.mark_down(gone)
    assert assignment(full) == after
    # adding it back to the smaller pool: only keys that go to the new one move
    moved_back = sum(1 for b, a in zip(after, before, strict=True) if b != a)
    assert moved_back <= 2 * len(KEYS) / n


@settings(max_examples=5, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=4), min_size=2, max_size=5))
def test_chash_shares_follow_weights(weights: list[int]) -> None:
    pool = make_pool(weights, Scheduler.CHASH)
    got = Counter(assignment(pool))
    total = sum(weights)
    for i, w in enumerate(weights):
        # 100 points per weight unit: within ~35 % of the ideal share
        assert abs(got[f"s{i}"] - len(KEYS) * w / total) <= 0.35 * len(KEYS) * w / total
