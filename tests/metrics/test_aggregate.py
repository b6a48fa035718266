"""The supervisor's sum of its workers' snapshots: counters never go back."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from l7lb.metrics.aggregate import DirectorMetrics, add_into


def snap(requests: int, connections: int = 0, lag: float = 0.0) -> dict[str, Any]:
    return {
        "v": 1,
        "counters": {"vips": {"www": {"responses": [0, requests, 0, 0, 0, 0], "bytes_in": 10}}},
        "gauges": {"connections": {"www": connections}, "lag": lag},
    }


def requests(d: DirectorMetrics) -> int:
    return int(d.view().counters["vips"]["www"]["responses"][1])


def test_add_into_adds_numbers_lists_and_dicts() -> None:
    acc: dict[str, Any] = {"a": 1, "l": [1, 2], "d": {"x": 1.5}}
    add_into(acc, {"a": 2, "l": [10, 20], "d": {"x": 1, "y": 3}, "new": [1, 1]})
    assert acc == {"a": 3, "l": [11, 22], "d": {"x": 2.5, "y": 3}, "new": [1, 1]}


def test_add_into_skips_what_does_not_fit() -> None:
    acc: dict[str, Any] = {"a": 1, "l": [1, 2], "d": {"x": 1}}
    add_into(acc, {"a": "x", "l": [1, 2, 3], "d": 5, "b": True, "s": "text", "m": [1, "x"]})
    assert acc == {"a": 1, "l": [1, 2], "d": {"x": 1}}


def test_counters_sum_over_workers_and_gauges_too() -> None:
    d = DirectorMetrics()
    assert d.report("w0", 0, snap(5, connections=2, lag=0.01))
    assert d.report("w1", 1, snap(7, connections=3, lag=0.2))
    v = d.view()
    assert v.counters["vips"]["www"]["responses"][1] == 12
    assert v.gauges["connections"]["www"] == 5
    assert v.lag == {0: 0.01, 1: 0.2}
    assert v.workers == 2


def test_a_later_report_replaces_the_earlier() -> None:
    d = DirectorMetrics()
    d.report("w0", 0, snap(5))
    d.report("w0", 0, snap(9))
    assert requests(d) == 9


def test_a_worker_that_ends_keeps_its_counters_not_its_gauges() -> None:
    d = DirectorMetrics()
    d.report("w0", 0, snap(5, connections=4))
    d.report("w1", 1, snap(7, connections=1))
    d.gone("w0")
    d.report("w2", 0, snap(0))  # its replacement starts at 0
    v = d.view()
    assert v.counters["vips"]["www"]["responses"][1] == 12
    assert v.gauges["connections"]["www"] == 1
    assert v.lag == {0: 0.0, 1: 0.0}
    d.gone("w0")  # twice: nothing more
    assert requests(d) == 12


def test_reports_of_another_shape_are_refused() -> None:
    d = DirectorMetrics()
    for bad in (None, [], {"v": 2, "counters": {}, "gauges": {}}, {"v": 1, "counters": []}):
        assert not d.report("w", 0, bad)
    assert d.view().counters == {}


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 100), st.booleans()), max_size=40))
def test_the_sum_never_goes_back(events: list[tuple[int, int, bool]]) -> None:
    """Workers report growing counts and sometimes end; the director's sum only grows."""
    d = DirectorMetrics()
    counts: dict[int, int] = {}
    generation: dict[int, int] = {}
    last = 0
    for worker, more, ends in events:
        key = (worker, generation.get(worker, 0))
        counts[worker] = counts.get(worker, 0) + more
        d.report(key, worker, snap(counts[worker]))
        if ends:
            d.gone(key)
            generation[worker] = generation.get(worker, 0) + 1
            counts[worker] = 0
        total = requests(d) if d.view().counters else 0
        assert total >= last
        last = total
