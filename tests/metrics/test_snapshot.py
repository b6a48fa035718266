"""A worker's snapshot: what a runtime has counted, as plain JSON-able data."""

from __future__ import annotations

import json

from l7lb.config.load import parse_config
from l7lb.metrics import snapshot
from l7lb.metrics.aggregate import DirectorMetrics
from l7lb.metrics.counters import STORE_LATENCY_BUCKETS, Histogram
from l7lb.proxy.runtime import WorkerRuntime
from l7lb.store.backend import StoreCounters
from l7lb.tls.counters import TlsCounters
from l7lb.tls.sessions import SessionCache

CONFIG = """
[[vip]]
name = "www"
listen = ["127.0.0.1:18080"]
[[vip.route]]
pool = "web"
[[pool.web.server]]
name = "s1"
address = "127.0.0.1:19001"
"""


class FakeStore:
    def __init__(self) -> None:
        self.counters = StoreCounters(operations=4, timeouts=1)
        self.latency = Histogram(STORE_LATENCY_BUCKETS)
        self.latency.observe(0.0002)
        self.reachable = False


def test_a_snapshot_is_json_and_the_supervisor_takes_it() -> None:
    rt = WorkerRuntime(parse_config(CONFIG), lambda f: None)
    assert rt.metrics is not None
    pool = rt.pools["web"]
    rt.metrics.finished("www", pool.counters, "s1", 200, 10, 20, 1.0, 1.001, -1.0, -1.0, 1.01)
    pool.counters.stuck += 2
    pool.state.by_name["s1"].active = 3
    tls = TlsCounters()
    tls.full = 2
    tls.resumed["ticket"] += 1
    cache = SessionCache()
    cache.put_local(b"k", b"blob")
    assert cache.lookup(b"k") == b"blob" and cache.lookup(b"nope") is None
    snap = snapshot.take(rt, tls={"www": tls}, session_cache=cache, store=FakeStore(), lag=0.25)
    assert json.loads(json.dumps(snap)) == snap
    c, g = snap["counters"], snap["gauges"]
    assert c["vips"]["www"] == {"responses": [0, 1, 0, 0, 0, 0], "bytes_in": 10, "bytes_out": 20}
    assert c["servers"]["web"]["s1"]["bytes_out"] == 20
    assert c["pools"]["web"]["stuck"] == 2
    assert sum(c["pools"]["web"]["response_time"]["counts"]) == 1
    assert c["tls"]["www"]["full"] == 2
    assert c["session_cache"] == {"hits": 1, "misses": 1}
    assert c["store"]["operations"] == 4 and c["store"]["latency"]["counts"][1] == 1
    assert g == {
        "lag": 0.25,
        "connections": {"www": 0},
        "idle": {"web": 0},
        "queue": {"web": 0},
        "active": {"web": {"s1": 3}},
        "store_up": 0,
    }
    agg = DirectorMetrics()
    assert agg.report("w", 0, snap)


def test_with_metrics_off_only_gauges_and_tls_are_reported() -> None:
    rt = WorkerRuntime(parse_config("[metrics]\nenabled = false\n" + CONFIG), lambda f: None)
    snap = snapshot.take(rt, tls={}, session_cache=None, store=None, lag=0.0)
    assert set(snap["counters"]) == {"tls"}
    assert snap["gauges"]["active"] == {"web": {"s1": 0}}
