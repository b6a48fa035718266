"""The sliding-window estimate (limits.window): its bounds, what a limiter built on it
admits, and the Retry-After it computes."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from l7lb.limits.window import SlidingCounter, estimate, position, retry_after, wait


def test_position_is_aligned_on_wall_clock_multiples() -> None:
    assert position(1000.0, 10.0) == (100, 0.0)
    index, pos = position(1007.5, 10.0)
    assert index == 100 and pos == pytest.approx(0.75)
    assert position(0.0, 0.5) == (0, 0.0)


@given(st.floats(0, 2e9), st.sampled_from([0.1, 1.0, 2.0, 10.0, 60.0, 3600.0]))
def test_position_is_in_range(wall: float, length: float) -> None:
    index, pos = position(wall, length)
    assert 0.0 <= pos < 1.0
    assert index * length <= wall + 1e-6 * max(1.0, wall)


def test_estimate_weights_the_previous_window_by_what_is_left_of_it() -> None:
    assert estimate(0, 100, 0.0) == 100
    assert estimate(0, 100, 0.25) == 75
    assert estimate(30, 100, 0.5) == 80


def test_counter_rolls_forward_only() -> None:
    c = SlidingCounter(5)
    c.add(5, 3)
    c.roll(6)
    assert (c.previous, c.current) == (3, 0)
    c.add(5, 2)  # late news of the previous window
    c.add(4, 100)  # too old to matter
    c.add(7, 1)  # from a clock a little ahead: moves on
    assert (c.index, c.previous, c.current) == (7, 0, 1)
    c.roll(3)
    assert c.index == 7
    c.roll(20)
    assert (c.previous, c.current) == (0, 0)


def _limiter(times: list[float], limit: float, length: float) -> list[float]:
    """What a limiter on SlidingCounter admits (admit while estimate < limit)."""
    c = SlidingCounter(0)
    admitted = []
    for t in times:
        if c.estimate(t, length) < limit:
            index, _ = position(t, length)
            c.add(index, 1)
            admitted.append(t)
    return admitted


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(0.0, 100.0), min_size=1, max_size=300).map(sorted),
    st.integers(1, 30),
    st.sampled_from([1.0, 2.0, 10.0]),
)
def test_admitted_requests_are_bounded(times: list[float], limit: int, length: float) -> None:
    """At most ``limit`` in a fixed window, at most 2 * limit in any window of ``length``."""
    admitted = _limiter(times, limit, length)
    by_window: dict[int, int] = {}
    for t in admitted:
        index = position(t, length)[0]
        by_window[index] = by_window.get(index, 0) + 1
    assert max(by_window.values(), default=0) <= limit
    for i, t in enumerate(admitted):
        inside = sum(1 for u in admitted[i:] if u < t + length)
        assert inside <= 2 * limit


@settings(max_examples=200, deadline=None)
@given(st.integers(3, 40), st.sampled_from([1.0, 10.0]), st.floats(0.0, 1.0))
def test_a_steady_client_under_the_limit_is_never_refused(
    per_window: int, length: float, phase: float
) -> None:
    """Requests evenly spaced, ``per_window`` of them per window, with a limit of
    per_window + 2: every one is admitted, whatever the alignment."""
    spacing = length / per_window
    times = [phase * spacing + i * spacing for i in range(per_window * 6)]
    assert _limiter(times, per_window + 2, length) == times


@settings(max_examples=200, deadline=None)
@given(st.integers(5, 40), st.sampled_from([1.0, 10.0]))
def test_a_client_at_twice_the_limit_gets_about_the_limit(limit: int, length: float) -> None:
    spacing = length / (2 * limit)
    times = [i * spacing for i in range(2 * limit * 10)]
    admitted = _limiter(times, limit, length)
    # over ten windows: between the limit per window and the limit plus the first window's
    # free run (the previous window is empty at the start)
    assert 9 * limit <= len(admitted) <= 11 * limit


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 200),
    st.integers(0, 200),
    st.floats(0.0, 0.999),
    st.integers(1, 100),
    st.sampled_from([1.0, 10.0]),
)
@example(0, 1, 5e-324, 1, 1.0)  # found in CI: rounding made the wait -5e-324
def test_wait_is_when_the_estimate_falls_under_the_limit(
    current: int, previous: int, pos: float, limit: int, length: float
) -> None:
    """Nothing new arrives: just after ``wait`` the estimate is under the limit (and a
    hair before it, it was not)."""
    w = wait(current, previous, pos, limit, length)
    if estimate(current, previous, pos) < limit:
        assert w == 0.0
        return
    assert w >= 0  # 0 at a boundary: under the limit a moment later

    def at(seconds: float) -> float:
        t = pos + seconds / length
        if t < 1.0:
            return estimate(current, previous, t)
        return estimate(0, current, t - 1.0) if t < 2.0 else 0.0

    assert at(w + 1e-6 * length) < limit
    assume(w > 1e-3)
    assert at(w - 1e-3 * length) >= limit - 1e-6


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after(0.001) == 1
    assert retry_after(1.0) == 1
    assert retry_after(1.2) == 2
    assert retry_after(9.9) == 10
    assert retry_after(math.pi * 10) == 32
