"""The log-linear histogram against exact nearest-rank percentiles of known data."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.bench.histogram import Histogram, bucket_bounds, bucket_index

values = st.lists(st.integers(min_value=0, max_value=10**10), min_size=1, max_size=300)
percentiles = st.floats(min_value=0.01, max_value=99.99)


def exact(data: list[int], p: float) -> int:
    ordered = sorted(data)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def test_small_values_are_exact() -> None:
    hist = Histogram()
    hist.record_many(range(1, 101))
    assert [hist.percentile(p) for p in (50, 90, 99, 99.9, 100)] == [50, 90, 99, 100, 100]
    assert hist.min == 1 and hist.max == 100 and hist.mean == 50.5


def test_empty_histogram_reports_zero() -> None:
    assert Histogram().percentile(99) == 0
    assert Histogram().mean == 0.0


def test_known_latencies_within_one_percent() -> None:
    # 1000 latencies of 1..1000 ms in µs: p99.9 is the 999th value, not the 1000th.
    hist = Histogram()
    hist.record_many(i * 1000 for i in range(1, 1001))
    for p, want in ((50, 500_000), (90, 900_000), (99, 990_000), (99.9, 999_000)):
        got = hist.percentile(p)
        assert want <= got <= want * 1.01, (p, got)
    assert hist.percentile(100) == 1_000_000


@given(st.integers(min_value=0, max_value=2**62))
def test_bucket_contains_value_and_is_narrow(value: int) -> None:
    low, high = bucket_bounds(bucket_index(value))
    assert low <= value <= high
    assert high - low <= low / 128


@given(st.integers(min_value=0, max_value=2**40))
def test_buckets_are_contiguous(value: int) -> None:
    index = bucket_index(value)
    _, high = bucket_bounds(index)
    assert bucket_index(high + 1) == index + 1


@settings(max_examples=200)
@given(values, percentiles)
def test_percentile_within_one_percent_of_exact(data: list[int], p: float) -> None:
    hist = Histogram()
    hist.record_many(data)
    want = exact(data, p)
    got = hist.percentile(p)
    assert want <= got <= want + want / 128


@settings(max_examples=100)
@given(values, values)
def test_merge_equals_recording_everything(a: list[int], b: list[int]) -> None:
    left, right, both = Histogram(), Histogram(), Histogram()
    left.record_many(a)
    right.record_many(b)
    both.record_many(a + b)
    left.merge(right)
    assert left.to_dict() == both.to_dict()


@settings(max_examples=50)
@given(values)
def test_wire_round_trip(data: list[int]) -> None:
    hist = Histogram()
    hist.record_many(data)
    again = Histogram.from_dict(hist.to_dict())
    assert again.to_dict() == hist.to_dict()
    assert again.percentile(99) == hist.percentile(99)
