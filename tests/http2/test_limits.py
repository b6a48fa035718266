"""The reset and flood budgets of one HTTP/2 connection, with explicit times."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from l7lb.config.http2 import Http2Settings
from l7lb.http2.limits import RESET_SHARE, RESETS, SHARE_AFTER, Bucket, Guard


def test_a_bucket_gives_its_burst_then_its_rate() -> None:
    b = Bucket(3, 2.0, now=0.0)
    assert [b.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert not b.take(0.4)  # 0.8 of a token
    assert b.take(0.5)  # 1.0
    assert not b.take(0.5)
    assert [b.take(100.0) for _ in range(4)] == [True, True, True, False]  # never above burst


def test_earned_tokens_are_capped_at_the_burst() -> None:
    b = Bucket(2, 0.0, now=0.0)
    b.take(0.0)
    b.take(0.0)
    b.earn(10)
    assert [b.take(0.0) for _ in range(3)] == [True, True, False]


@given(st.lists(st.floats(0.0, 2.0), min_size=1, max_size=300))
def test_a_bucket_never_allows_more_than_burst_plus_rate_times_time(gaps: list[float]) -> None:
    b = Bucket(10, 5.0, now=0.0)
    now = 0.0
    allowed = 0
    for gap in gaps:
        now += gap
        allowed += b.take(now)
    assert allowed <= 10 + 5.0 * now + 1e-9


def test_two_hundred_resets_at_once_then_twenty_a_second() -> None:
    g = Guard(Http2Settings(), now=0.0)
    for _ in range(200):
        assert g.client_reset(early=False, now=0.0) is None
    assert g.client_reset(early=False, now=0.0) == RESETS
    assert g.client_reset(early=False, now=0.04) == RESETS  # 0.8 of a token
    assert g.client_reset(early=False, now=0.1) is None  # 2 tokens: one left
    assert g.server_reset(now=0.1) is None  # l7lb's resets come from the same bucket
    assert g.server_reset(now=0.1) == RESETS


def test_the_early_reset_share_counts_from_the_hundredth_stream() -> None:
    g = Guard(Http2Settings(reset_burst=10_000), now=0.0)
    for _ in range(SHARE_AFTER - 1):
        g.stream_opened()
        assert g.client_reset(early=True, now=0.0) is None  # 99 of 99: too few to judge
    g.stream_opened()
    assert g.client_reset(early=True, now=0.0) == RESET_SHARE
    # resets after the response began do not count toward the share
    g = Guard(Http2Settings(reset_burst=10_000), now=0.0)
    for _ in range(1000):
        g.stream_opened()
        assert g.client_reset(early=False, now=0.0) is None
    # nor does a browser's occasional cancel among many streams
    g = Guard(Http2Settings(reset_burst=10_000), now=0.0)
    for i in range(1000):
        g.stream_opened()
        if i % 3 == 0:
            assert g.client_reset(early=True, now=0.0) is None


def test_window_updates_are_earned_by_streams_and_data() -> None:
    g = Guard(Http2Settings(flood_burst=2, flood_rate=0.0), now=0.0)
    assert g.window_update(0.0) is None and g.window_update(0.0) is None
    assert g.window_update(0.0) is not None
    g.data_sent()
    assert g.window_update(0.0) is None and g.window_update(0.0) is None
    g.stream_opened()
    assert g.window_update(0.0) is None and g.other_frame(0.0) is None


def test_a_limit_is_logged_once_per_connection() -> None:
    g = Guard(Http2Settings(), now=0.0)
    assert g.first("x") and not g.first("x") and g.first("y")
