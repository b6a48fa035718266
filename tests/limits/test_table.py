"""A worker's per-address counters (limits.table) and the supervisor's sum (limits.board):
connection and rate limits, what travels between workers, memory bounded against floods."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.config.model import VipLimits
from l7lb.limits.board import LOG_INTERVAL, LimitBoard
from l7lb.limits.deltas import SourceDelta
from l7lb.limits.source import source_name
from l7lb.limits.table import SourceTable

T0 = 1_000_000.0  # wall clock, a multiple of every window used here


def table(**kw: object) -> SourceTable:
    return SourceTable("www", VipLimits(**kw))  # type: ignore[arg-type]


# ---- source keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "mask", "mask6", "key"),
    [
        ("192.0.2.7", 32, 64, "192.0.2.7"),
        ("192.0.2.7", 24, 64, "192.0.2.0/24"),
        ("2001:db8:1:2:3:4:5:6", 32, 64, "2001:db8:1:2::/64"),
        ("2001:db8:1:2:3:4:5:6", 32, 128, "2001:db8:1:2:3:4:5:6"),
        ("::ffff:192.0.2.7", 32, 64, "192.0.2.7"),
        ("fe80::1%eth0", 32, 128, "fe80::1"),
        ("-", 32, 64, "-"),
    ],
)
def test_source_names(peer: str, mask: int, mask6: int, key: str) -> None:
    assert source_name(peer, mask, mask6) == key


# ---- connections ---------------------------------------------------------------------------


def test_connections_over_the_limit_are_refused_and_counted() -> None:
    t = table(max_conn_per_source=2)
    a = t.open("192.0.2.7", T0)
    b = t.open("192.0.2.7", T0)
    assert a is not None and a is b
    assert t.open("192.0.2.7", T0) is None
    assert t.open("192.0.2.7", T0 + 1) is None
    assert t.open("192.0.2.8", T0) is not None  # another address is not concerned
    assert t.open("192.0.2.7", T0 + 2) is None
    a.close()
    assert t.open("192.0.2.7", T0 + 61) is not None
    deltas = {d.source: d for d in t.collect()}
    assert deltas["192.0.2.7"].conns == 2  # 2 + 1 - 1 open in all
    assert deltas["192.0.2.7"].refused == 3
    assert t.collect() == []  # reported once


def test_other_workers_connections_count() -> None:
    t = table(max_conn_per_source=3)
    t.apply([SourceDelta("192.0.2.7", 0, 0, 2)], T0, 10.0)
    assert t.open("192.0.2.7", T0) is not None
    assert t.open("192.0.2.7", T0) is None
    t.apply([SourceDelta("192.0.2.7", 0, 0, -2)], T0, 10.0)
    assert t.open("192.0.2.7", T0) is not None


def test_masked_addresses_share_a_count() -> None:
    t = table(max_conn_per_source=1, mask=24)
    assert t.open("192.0.2.7", T0) is not None
    assert t.open("192.0.2.200", T0) is None
    assert t.open("192.0.3.1", T0) is not None


# ---- request rate --------------------------------------------------------------------------


def test_rate_limit_answers_wait_and_does_not_count_refusals() -> None:
    t = table(rate_per_source=1, rate_window=10.0)  # 10 requests per 10 s
    e = t.open("192.0.2.7", T0)
    assert e is not None
    for i in range(10):
        assert e.request(T0 + i * 0.1) == 0.0
    wait = e.request(T0 + 1.0)
    # 10 in the current window: wait for the next one (9 s) and then for the count to fade
    # under the limit: 10 * (1 - x) < 10 as soon as x > 0
    assert wait == pytest.approx(9.0)
    assert e.request(T0 + 2.0) > 0
    assert e.rate.current == 10  # refusals are not counted
    assert e.request(T0 + 10.5) == 0.0  # 10 * 0.95 = 9.5 < 10
    deltas = t.collect()
    by_window = {d.window: d for d in deltas}
    assert by_window[100_000].requests == 10
    assert by_window[100_001].requests == 1
    assert sum(d.limited for d in deltas) == 2


def test_other_workers_requests_count() -> None:
    t = table(rate_per_source=1, rate_window=10.0)
    e = t.open("192.0.2.7", T0)
    assert e is not None
    t.apply([SourceDelta("192.0.2.7", 100_000, 9)], T0, 10.0)
    assert e.request(T0 + 0.1) == 0.0
    assert e.request(T0 + 0.2) > 0
    # a report in another window length (a worker of the previous configuration): its
    # requests are not mixed in, its connections are
    t.apply([SourceDelta("192.0.2.8", 100_000, 50, 1)], T0, 5.0)
    other = t.entries["192.0.2.8"]
    assert other.rate.current == 0 and other.remote_conns == 1


def test_pending_requests_follow_the_window_they_were_made_in() -> None:
    t = table(rate_per_source=100, rate_window=1.0)
    e = t.open("192.0.2.7", T0)
    assert e is not None
    e.request(T0 + 0.5)
    e.request(T0 + 1.5)
    e.request(T0 + 1.6)
    deltas = sorted(t.collect(), key=lambda d: d.window)
    assert [(d.window, d.requests) for d in deltas] == [(1_000_000, 1), (1_000_001, 2)]


def test_no_rate_limit_counts_no_requests() -> None:
    t = table(max_conn_per_source=5)
    e = t.open("192.0.2.7", T0)
    assert e is not None
    t.collect()
    assert e.request(T0) == 0.0
    assert t.collect() == []


# ---- memory --------------------------------------------------------------------------------


def test_an_address_flood_keeps_the_table_bounded() -> None:
    t = table(rate_per_source=10, max_sources=100)
    held = [t.open(f"10.0.0.{i}", T0) for i in range(5)]  # connections stay open
    for i in range(5000):
        e = t.open(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", T0 + i * 0.001)
        assert e is not None
        e.request(T0 + i * 0.001)
        e.close()
        if i % 50 == 0:
            t.collect()  # reported: no longer pinned
    assert len(t.entries) <= 100 + 50 + 5
    for e in held:
        assert e is not None and t.entries.get(e.key) is e  # in use: never dropped


def test_sweep_drops_only_what_has_nothing_left() -> None:
    t = table(rate_per_source=10, rate_window=10.0)
    quiet = t.open("192.0.2.1", T0)
    busy = t.open("192.0.2.2", T0)
    assert quiet is not None and busy is not None
    quiet.request(T0)
    quiet.close()
    t.collect()
    t.sweep(T0 + 15)  # the previous window still counts
    assert "192.0.2.1" in t.entries
    t.sweep(T0 + 40)
    assert "192.0.2.1" not in t.entries
    assert "192.0.2.2" in t.entries  # a connection is open


# ---- several workers and the supervisor -------------------------------------------------------


class Cluster:
    """Worker tables wired through a board, as the supervisor relays (synchronously)."""

    def __init__(self, workers: int, limits: VipLimits) -> None:
        self.tables = [SourceTable("www", limits) for _ in range(workers)]
        self.board = LimitBoard("www", limits)

    def sync(self, wall: float) -> None:
        for i, t in enumerate(self.tables):
            relay = self.board.apply(i, tuple(t.collect()), wall, t.length)
            for j, other in enumerate(self.tables):
                if j != i:
                    other.apply(relay, wall, t.length)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), st.booleans()), min_size=1, max_size=200),
    st.integers(1, 6),
)
def test_connection_counts_agree_across_workers(ops: list[tuple[int, bool]], limit: int) -> None:
    """Opens and closes on three workers, synced after each: no worker ever lets the
    address hold more than the limit, and every count matches the truth."""
    c = Cluster(3, VipLimits(max_conn_per_source=limit))
    held: list[list[object]] = [[], [], []]
    for worker, opening in ops:
        t = c.tables[worker]
        if opening:
            e = t.open("192.0.2.7", T0)
            if e is not None:
                held[worker].append(e)
        elif held[worker]:
            held[worker].pop().close()  # type: ignore[attr-defined]
        c.sync(T0)
        total = sum(len(h) for h in held)
        assert total <= limit
        for i, t in enumerate(c.tables):
            e = t.entries.get("192.0.2.7")
            if e is not None:
                assert e.conns == len(held[i])
                assert e.conns + e.remote_conns == total
        row = c.board.top(T0, 1)
        assert (row[0].connections if row else 0) == total


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2), min_size=1, max_size=300), st.integers(1, 20))
def test_rate_is_shared_across_workers(workers: list[int], limit: int) -> None:
    """Requests spread over three workers, synced after each: as many are admitted in one
    window as a single worker would admit."""
    c = Cluster(3, VipLimits(rate_per_source=limit / 10.0, rate_window=10.0))
    entries = [t.open("192.0.2.7", T0) for t in c.tables]
    admitted = 0
    for i, worker in enumerate(workers):
        e = entries[worker]
        assert e is not None
        if e.request(T0 + i * 0.001) == 0.0:
            admitted += 1
        c.sync(T0 + i * 0.001)
    assert admitted == min(limit, len(workers))
    assert c.board.top(T0 + 1, 1)[0].requests == pytest.approx(admitted)


def test_a_worker_that_exits_takes_its_connections_with_it() -> None:
    c = Cluster(2, VipLimits(max_conn_per_source=2))
    assert c.tables[0].open("192.0.2.7", T0) is not None
    assert c.tables[0].open("192.0.2.7", T0) is not None
    c.sync(T0)
    assert c.tables[1].open("192.0.2.7", T0) is None
    relay = c.board.worker_gone(0)
    c.tables[1].apply(relay, T0, 10.0)
    assert c.tables[1].open("192.0.2.7", T0) is not None


def test_a_new_worker_starts_from_the_snapshot() -> None:
    c = Cluster(1, VipLimits(max_conn_per_source=2, rate_per_source=0.5, rate_window=10.0))
    e = c.tables[0].open("192.0.2.7", T0)
    assert e is not None
    for _ in range(5):
        assert e.request(T0 + 1) == 0.0
    c.sync(T0 + 1)
    fresh = SourceTable("www", c.board.limits)
    fresh.apply(c.board.snapshot(T0 + 2), T0 + 2, 10.0)
    mine = fresh.open("192.0.2.7", T0 + 2)
    assert mine is not None
    assert mine.request(T0 + 2) > 0  # 5 of 5 used, in the other worker
    assert fresh.open("192.0.2.7", T0 + 2) is None  # 1 there + 1 here = 2


def test_the_supervisor_logs_refusals_once_a_minute_per_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    c = Cluster(2, VipLimits(max_conn_per_source=1, rate_per_source=0.1, rate_window=10.0))
    caplog.set_level(logging.WARNING, "l7lb.limits")
    for worker in (0, 1, 0, 1):
        e = c.tables[worker].open("192.0.2.7", T0)
        if e is not None:
            e.request(T0)
            e.request(T0)
        c.sync(T0)
    refused = [r for r in caplog.records if "max_conn_per_source" in r.message]
    limited = [r for r in caplog.records if "rate_per_source" in r.message]
    assert len(refused) == 1 and "192.0.2.7" in refused[0].message  # both workers refused
    assert len(limited) == 1 and "answered 429" in limited[0].message
    c.tables[1].open("192.0.2.7", T0 + LOG_INTERVAL)
    c.sync(T0 + LOG_INTERVAL)
    assert len([r for r in caplog.records if "max_conn_per_source" in r.message]) == 2
    row = c.board.top(T0 + LOG_INTERVAL, 5)[0]
    assert (row.source, row.refused, row.limited) == ("192.0.2.7", 4, 1)
