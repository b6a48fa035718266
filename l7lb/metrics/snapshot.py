"""A worker's numbers as one JSON-able object, for the supervisor (``control.Metrics``).

Two halves, summed differently by the supervisor (``metrics.aggregate``):

``counters``
    only grow for the life of the worker (requests, bytes, handshakes, store calls, histogram
    buckets). When the worker ends (a reload, a restart) its last counters are kept and added
    to its successors', so the director's sums never go back.
``gauges``
    what is true now (open connections, idle backend connections, requests in flight and in
    the queue, the event loop's lag). A worker that ends takes its gauges with it.

The object is plain dicts, lists and numbers, and every name in it is a VIP, pool or server
name of the worker's configuration, a status class or a reason from a fixed list: the
supervisor checks all of that again before it renders anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from l7lb.metrics.counters import Histogram, Traffic
from l7lb.proxy.runtime import WorkerRuntime

VERSION = 1


class HandshakeCounters(Protocol):
    """``l7lb.tls.counters.TlsCounters``, as far as it is read here."""

    def snapshot(self) -> dict[str, object]: ...


class CacheCounters(Protocol):
    """``l7lb.tls.sessions.SessionCache``: its lookups from OpenSSL."""

    hits: int
    misses: int


class StoreCounters(Protocol):
    """``l7lb.store.backend.SharedStore``: its counters, latency and state."""

    @property
    def latency(self) -> Histogram: ...

    @property
    def reachable(self) -> bool: ...

    @property
    def counters(self) -> Any: ...


def histogram(h: Histogram) -> dict[str, Any]:
    return {"counts": list(h.counts), "sum": h.sum}


def traffic(t: Traffic) -> dict[str, Any]:
    return {"responses": list(t.responses), "bytes_in": t.bytes_in, "bytes_out": t.bytes_out}


def take(
    rt: WorkerRuntime,
    *,
    tls: Mapping[str, HandshakeCounters],
    session_cache: CacheCounters | None,
    store: StoreCounters | None,
    lag: float,
) -> dict[str, Any]:
    """The snapshot of one worker now; ``lag`` is the event loop's largest delay (seconds)
    since the previous snapshot."""
    counters: dict[str, Any] = {}
    gauges: dict[str, Any] = {"lag": lag}
    m = rt.metrics
    if m is not None:
        counters["vips"] = {name: traffic(t) for name, t in m.vips.items()}
    servers: dict[str, Any] = {}
    pools: dict[str, Any] = {}
    idle: dict[str, int] = {}
    queue: dict[str, int] = {}
    active: dict[str, dict[str, int]] = {}
    for name, p in rt.pools.items():
        c = p.counters
        if m is not None:
            servers[name] = {s: traffic(t) for s, t in c.servers.items()}
            pools[name] = {
                "response_time": histogram(c.response_time),
                "queued": c.queued,
                "queue_seconds": c.queue_seconds,
                "stuck": c.stuck,
                "new": c.new,
                "redispatched": c.redispatched,
                "claim_misses": c.claim_misses,
            }
        idle[name] = p.stock.count()
        queue[name] = sum(1 for ex, _ in p.waiters if ex.waiting and not ex.done)
        active[name] = {s.name: s.active for s in p.state.servers}
    if m is not None:
        counters["servers"] = servers
        counters["pools"] = pools
    connections: dict[str, int] = dict.fromkeys(rt.vips, 0)
    for conn in rt.connections:
        vip_name = getattr(getattr(conn, "vip", None), "name", None)
        if isinstance(vip_name, str) and vip_name in connections:
            connections[vip_name] += 1
    gauges.update(connections=connections, idle=idle, queue=queue, active=active)
    counters["tls"] = {name: c.snapshot() for name, c in tls.items()}
    if session_cache is not None:
        counters["session_cache"] = {"hits": session_cache.hits, "misses": session_cache.misses}
    if store is not None:
        counters["store"] = store_snapshot(store)
        gauges["store_up"] = 1 if store.reachable else 0
    return {"v": VERSION, "counters": counters, "gauges": gauges}


def store_snapshot(store: StoreCounters) -> dict[str, Any]:
    """A shared store's counters and latency histogram (workers' and the supervisor's)."""
    out: dict[str, Any] = dict(store.counters.snapshot())
    out["latency"] = histogram(store.latency)
    return out
