"""The header caches' admission: every miss while the cache earns hits, one in SAMPLE
while it does not, and back to every miss once headers repeat again."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.persistence.admission import MIN_HITS, SAMPLE, WINDOW, Admission


def test_a_new_cache_remembers_every_miss_for_a_whole_window() -> None:
    a = Admission()
    assert all(a.miss() for _ in range(WINDOW - 1))
    assert a.every


def test_a_window_without_hits_lets_in_one_miss_in_sample() -> None:
    a = Admission()
    for _ in range(WINDOW):
        a.miss()
    assert not a.every
    admitted = [a.miss() for _ in range(WINDOW - 1)]
    assert sum(admitted) == (WINDOW - 1) // SAMPLE
    assert admitted.index(True) == SAMPLE - 1  # the 16th miss of the window


def test_hits_in_a_window_bring_every_miss_back() -> None:
    a = Admission()
    for _ in range(WINDOW):
        a.miss()
    assert not a.every
    for _ in range(MIN_HITS):
        a.hit()
    for _ in range(WINDOW):
        a.miss()
    assert a.every
    # one hit short keeps the sampling
    for _ in range(MIN_HITS - 1):
        a.hit()
    for _ in range(WINDOW):
        a.miss()
    assert not a.every


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), max_size=2000))
def test_at_least_one_miss_in_sample_is_always_remembered(events: list[bool]) -> None:
    # whatever came before, a run of SAMPLE misses holds one remembered
    a = Admission()
    for hit in events:
        if hit:
            a.hit()
        else:
            a.miss()
    assert any(a.miss() for _ in range(SAMPLE))
