"""The supervisor's board (limits.board): what goes to the store and what comes back, the
top talkers, and memory bounded against address floods."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.config.model import VipLimits
from l7lb.limits.board import KEEP, LimitBoard
from l7lb.limits.deltas import SourceDelta
from l7lb.limits.window import position

T0 = 1_000_000.0
W = position(T0, 10.0)[0]  # the window T0 is in
LIMITS = VipLimits(rate_per_source=2.0, rate_window=10.0)  # 20 requests per window


def board(limits: VipLimits = LIMITS) -> LimitBoard:
    return LimitBoard("www", limits)


def test_only_addresses_with_a_tenth_of_the_limit_go_to_the_store() -> None:
    b = board()
    b.apply(0, (SourceDelta("192.0.2.1", W, 1), SourceDelta("192.0.2.2", W, 2)), T0, 10.0)
    assert b.store_plan(T0, 10) == [("192.0.2.2", W, 2)]  # 2 >= 20 * 10 %
    b.apply(1, (SourceDelta("192.0.2.1", W, 1),), T0, 10.0)
    assert sorted(b.store_plan(T0, 10)) == [("192.0.2.1", W, 2), ("192.0.2.2", W, 2)]


def test_the_plan_is_busiest_first_and_capped() -> None:
    b = board()
    b.apply(0, tuple(SourceDelta(f"10.0.0.{n}", W, n) for n in range(2, 30)), T0, 10.0)
    plan = b.store_plan(T0, 5)
    assert [n for _, _, n in plan] == [29, 28, 27, 26, 25]


def test_what_was_added_is_not_added_again_and_the_rest_is_learned() -> None:
    b = board()
    b.apply(0, (SourceDelta("192.0.2.7", W, 5),), T0, 10.0)
    ((key, window, n),) = b.store_plan(T0, 10)
    # the store's total: our 5 and 7 another director added
    learned = b.store_result(key, window, n, 12)
    assert learned == SourceDelta("192.0.2.7", W, 7)
    assert b.store_plan(T0, 10) == []  # nothing new here
    b.apply(0, (SourceDelta("192.0.2.7", W, 3),), T0 + 1, 10.0)
    ((_, _, n),) = b.store_plan(T0 + 1, 10)
    assert n == 3
    assert b.store_result("192.0.2.7", W, 3, 15) is None  # the others added nothing
    assert b.top(T0 + 1, 1)[0].requests == 15
    # a failed add (the store did not answer) leaves the counts to be added next time
    b.apply(0, (SourceDelta("192.0.2.7", W, 4),), T0 + 2, 10.0)
    assert b.store_plan(T0 + 2, 10) == [("192.0.2.7", W, 4)]
    assert b.store_plan(T0 + 2, 10) == [("192.0.2.7", W, 4)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 10)), min_size=1, max_size=60))
def test_a_director_learns_the_cluster_total_when_it_adds_its_own(
    adds: list[tuple[int, int]],
) -> None:
    """Three directors' boards flush in turn to a counter per key, as the store keeps it
    (INCRBY answers the new total): each learns everything added before its own add, so the
    last one knows the cluster's total. (A director learns only when it has something to
    add: one that sees no more requests from the address has no decision to make.)"""
    boards = [board(VipLimits(rate_per_source=0.1, rate_window=10.0)) for _ in range(3)]
    store: dict[tuple[str, int, str], int] = {}
    for director, n in adds:
        boards[director].apply(0, (SourceDelta("192.0.2.7", W, n),), T0, 10.0)
    added_so_far = 0
    for i, b in enumerate(boards):
        for key, window, n in b.store_plan(T0, 10):
            k = ("www", window, key)
            store[k] = store.get(k, 0) + n
            b.store_result(key, window, n, store[k])
        added_so_far += sum(n for director, n in adds if director == i)
        rows = b.top(T0, 1)
        if rows:
            assert rows[0].requests == added_so_far
    assert store[("www", W, "192.0.2.7")] == sum(n for _, n in adds)


def test_a_report_in_another_window_length_counts_only_connections() -> None:
    b = board()
    relay = b.apply(0, (SourceDelta("192.0.2.7", W, 5, 2, 1, 0),), T0, 5.0)
    assert relay == [SourceDelta("192.0.2.7", W, 0, 2)]
    row = b.top(T0, 1)[0]
    assert (row.requests, row.connections, row.refused) == (0, 2, 1)


def test_old_windows_are_not_counted() -> None:
    b = board()
    assert b.apply(0, (SourceDelta("192.0.2.7", W - 2, 5),), T0, 10.0) == []
    assert b.top(T0, 5) == []


def test_top_orders_by_requests_then_connections() -> None:
    b = board()
    b.apply(
        0,
        (
            SourceDelta("10.0.0.1", W, 3),
            SourceDelta("10.0.0.2", W, 9),
            SourceDelta("10.0.0.3", W, 0, 4),
            SourceDelta("10.0.0.4", W, 0, 0, 0, 2),
        ),
        T0,
        10.0,
    )
    rows = b.top(T0 + 5, 10)
    assert [r.source for r in rows] == ["10.0.0.2", "10.0.0.1", "10.0.0.3", "10.0.0.4"]
    assert rows[0].rate == 0.9 and rows[0].requests == 9
    assert b.top(T0 + 5, 2) == rows[:2]


def test_quiet_addresses_are_forgotten_busy_ones_kept() -> None:
    b = board()
    b.apply(0, (SourceDelta("10.0.0.1", W, 3), SourceDelta("10.0.0.2", W, 0, 1)), T0, 10.0)
    b.sweep(T0 + KEEP - 1)
    assert set(b.sources) == {"10.0.0.1", "10.0.0.2"}
    b.sweep(T0 + KEEP + 1)
    assert set(b.sources) == {"10.0.0.2"}  # a connection is open
    b.apply(0, b.worker_gone(0), T0 + KEEP + 2, 10.0)
    b.sweep(T0 + 2 * KEEP + 3)
    assert b.sources == {}


def test_an_address_flood_keeps_the_board_bounded() -> None:
    b = board(VipLimits(max_conn_per_source=5, max_sources=100))
    b.apply(1, (SourceDelta("192.0.2.7", W, 0, 3),), T0, 10.0)
    for i in range(3000):
        b.apply(0, (SourceDelta(f"10.{i // 256}.{i % 256}.1", W, 1),), T0 + i * 0.001, 10.0)
        assert len(b.sources) <= 100
    assert b.sources["192.0.2.7"].connections() == 3  # connections open: kept
