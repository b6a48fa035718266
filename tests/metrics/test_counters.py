"""The data path's counters: what one finished exchange adds, and nothing else."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from l7lb.metrics.counters import (
    CLASSES,
    RESPONSE_TIME_BUCKETS,
    Histogram,
    PoolCounters,
    WorkerMetrics,
    status_class,
)


def test_status_classes() -> None:
    assert [CLASSES[status_class(s)] for s in (101, 200, 204, 302, 404, 499, 503)] == [
        "1xx",
        "2xx",
        "2xx",
        "3xx",
        "4xx",
        "4xx",
        "5xx",
    ]
    assert CLASSES[status_class(0)] == "other"
    assert CLASSES[status_class(600)] == "other"
    assert CLASSES[status_class(99)] == "other"


def test_histogram_buckets_are_upper_bounds() -> None:
    h = Histogram((0.1, 1.0))
    for v in (0.0, 0.1, 0.5, 1.0, 1.5, 100.0):
        h.observe(v)
    assert h.counts == [2, 2, 2]
    assert h.count == 6
    assert abs(h.sum - 103.1) < 1e-9


@given(st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), max_size=50))
def test_histogram_counts_every_observation_once(values: list[float]) -> None:
    h = Histogram(RESPONSE_TIME_BUCKETS)
    for v in values:
        h.observe(v)
    assert sum(h.counts) == h.count == len(values)
    for i, bound in enumerate(RESPONSE_TIME_BUCKETS):
        assert h.counts[i] == sum(
            1 for v in values if v <= bound and (i == 0 or v > RESPONSE_TIME_BUCKETS[i - 1])
        )


def test_a_proxied_request_counts_for_its_vip_server_and_pool() -> None:
    m = WorkerMetrics(["www"])
    pool = PoolCounters(["s1", "s2"])
    m.finished("www", pool, "s1", 200, 300, 1000, 10.0, 10.004, -1.0, -1.0, 10.01)
    m.finished("www", pool, "s2", 503, 100, 50, 11.0, 11.2, -1.0, -1.0, 11.3)
    v = m.vips["www"]
    assert v.responses == [0, 1, 0, 0, 1, 0]
    assert (v.bytes_in, v.bytes_out) == (400, 1050)
    s1, s2 = pool.servers["s1"], pool.servers["s2"]
    assert s1.responses == [0, 1, 0, 0, 0, 0] and (s1.bytes_in, s1.bytes_out) == (300, 1000)
    assert s2.responses == [0, 0, 0, 0, 1, 0] and (s2.bytes_in, s2.bytes_out) == (100, 50)
    assert pool.response_time.count == 2
    assert pool.response_time.counts[RESPONSE_TIME_BUCKETS.index(0.005)] == 1  # 4 ms
    assert pool.response_time.counts[RESPONSE_TIME_BUCKETS.index(0.25)] == 1  # 200 ms
    assert pool.queued == 0


def test_a_local_answer_counts_for_the_vip_only() -> None:
    m = WorkerMetrics(["www"])
    pool = PoolCounters(["s1"])
    m.finished("www", None, "", 404, 80, 120, -1.0, -1.0, -1.0, -1.0, 1.0)
    m.finished("www", pool, "", 503, 80, 120, -1.0, -1.0, -1.0, -1.0, 1.0)  # no server: 503
    assert m.vips["www"].responses[status_class(404)] == 1
    assert m.vips["www"].responses[status_class(503)] == 1
    assert pool.servers["s1"].responses == [0] * 6
    assert pool.response_time.count == 0  # no response head from a server


def test_queue_time_runs_until_the_slot_or_the_end() -> None:
    m = WorkerMetrics(["www"])
    pool = PoolCounters(["s1"])
    m.finished("www", pool, "s1", 200, 1, 1, 5.0, 5.1, 2.0, 4.5, 6.0)  # waited 2.5 s
    m.finished("www", pool, "", 503, 1, 1, -1.0, -1.0, 3.0, -1.0, 3.5)  # left while queued
    assert pool.queued == 2
    assert abs(pool.queue_seconds - 3.0) < 1e-9


def test_names_the_worker_does_not_have_are_not_counted() -> None:
    m = WorkerMetrics(["www"])
    pool = PoolCounters(["s1"])
    m.finished("other", pool, "gone", 200, 1, 1, -1.0, -1.0, -1.0, -1.0, 0.0)
    assert "other" not in m.vips and "gone" not in pool.servers
