"""``GET /metrics``: the director's numbers as Prometheus families, with ``prometheus_client``.

The supervisor sums its workers' snapshots (``aggregate.View``) and adds what it knows itself
(``Director``: health checks, the admin's states and weights, reloads, its own store
connection). ``render`` builds the families from those two, registers them in a registry of
their own and lets ``prometheus_client`` write the text format.

Labels are bounded: ``vip``, ``pool`` and ``server`` take only the names of the running
configuration (a name a report carries that the configuration lacks is never rendered),
``class`` one of ``counters.CLASSES``, ``reason`` one of ``TLS_REASONS`` or
``STORE_REASONS``, and ``worker`` a worker's index. No path, host or client address is ever
a label. Every family is listed in docs/operations.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from l7lb.metrics.aggregate import View, add_into
from l7lb.metrics.counters import CLASSES, RESPONSE_TIME_BUCKETS, STORE_LATENCY_BUCKETS

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Failed TLS handshakes, by the reasons the listener counts (l7lb/tls/listener.py); an
# OpenSSL error is "tls_error" whatever OpenSSL said, anything unforeseen "other".
TLS_REASONS = (
    "bad_client_hello",
    "garbage",
    "handshake_timeout",
    "overload",
    "plain_http",
    "tls_error",
    "truncated",
    "unknown_sni",
    "vanished",
    "other",
)
# Resumed handshakes: by session id (TLS 1.2 session cache, TLS 1.3 stateful PSK) or by
# ticket (stateless, TLS 1.2 or 1.3); l7lb/tls/counters.py names the kinds.
RESUMED_BY_ID = ("session_id", "tls13_stateful")
RESUMED_BY_TICKET = ("ticket", "tls13_ticket")
# Store calls that returned nothing, by why: (label, StoreCounters field) (store/backend.py):
# no answer in time, the engine raised, skipped during an outage, too many in flight.
STORE_REASONS = (
    ("timeout", "timeouts"),
    ("error", "errors"),
    ("skipped", "skipped"),
    ("overloaded", "overloaded"),
)


def tls_reason(reason: str) -> str:
    """The label for a failure reason the TLS counters hold."""
    if reason.startswith("tls_error"):
        return "tls_error"
    return reason if reason in TLS_REASONS else "other"


@dataclass
class ServerInfo:
    """What the supervisor knows of one server (health, the admin's say)."""

    weight: int
    admin: str = "ready"  # "ready" | "drain" | "maint"
    up: bool | None = None  # the health check's verdict; None: no active check
    checks: int = 0
    check_failures: int = 0
    last_check: float = 0.0  # when the last check finished (time.time()); 0: none yet
    check_reason: str = ""  # what it said


@dataclass
class Director:
    """The supervisor's own part of a scrape, and the names labels may take."""

    vips: Sequence[str]
    pools: Mapping[str, Mapping[str, ServerInfo]]  # pool -> server -> info, in config order
    reloads: int = 0
    reload_failures: int = 0
    worker_restarts: int = 0
    store: dict[str, Any] | None = None  # the supervisor's store snapshot, if it has one
    store_up: bool | None = None
    store_name: str = ""  # the store's URL without its password ("" without a [store])


def _num(obj: object, *path: str) -> float:
    """``obj[path[0]][path[1]]...`` if that is a number, else 0."""
    for key in path:
        if not isinstance(obj, dict):
            return 0
        obj = obj.get(key)
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        return obj
    return 0


def _dict(obj: object, *path: str) -> dict[str, Any]:
    for key in path:
        if not isinstance(obj, dict):
            return {}
        obj = obj.get(key)
    return obj if isinstance(obj, dict) else {}


def _buckets(data: object, bounds: Sequence[float]) -> tuple[list[tuple[str, float]], float] | None:
    """Cumulative buckets and the sum of one histogram snapshot, or None if it is not one."""
    counts = data.get("counts") if isinstance(data, dict) else None
    if not isinstance(counts, list) or len(counts) != len(bounds) + 1:
        return None
    out = []
    total = 0.0
    for bound, n in zip((*bounds, float("inf")), counts, strict=True):
        total += n if isinstance(n, int | float) else 0
        out.append(("+Inf" if bound == float("inf") else repr(bound), total))
    return out, _num(data, "sum")


_EMPTY_RESPONSE_TIMES: tuple[list[tuple[str, float]], float] = (
    [(repr(b), 0.0) for b in RESPONSE_TIME_BUCKETS] + [("+Inf", 0.0)],
    0.0,
)


class Scrape(Collector):
    """The families of one scrape (``collect`` is called once, by ``render``)."""

    def __init__(self, view: View, director: Director) -> None:
        self.view = view
        self.d = director

    def collect(self) -> Iterator[Metric]:
        yield from self._vips()
        yield from self._servers()
        yield from self._pools()
        yield from self._tls()
        yield from self._store()
        yield from self._director()

    def _vips(self) -> Iterator[Metric]:
        c, g = self.view.counters, self.view.gauges
        requests = CounterMetricFamily(
            "l7lb_vip_requests",
            "Requests finished on a VIP (answered or given up).",
            labels=["vip"],
        )
        responses = CounterMetricFamily(
            "l7lb_vip_responses",
            "Responses by status class (499: the client left first).",
            labels=["vip", "class"],
        )
        bytes_in = CounterMetricFamily(
            "l7lb_vip_bytes_in", "Request heads and bodies received, bytes.", labels=["vip"]
        )
        bytes_out = CounterMetricFamily(
            "l7lb_vip_bytes_out",
            "Response bytes sent, as the access log counts them.",
            labels=["vip"],
        )
        conns = GaugeMetricFamily(
            "l7lb_vip_connections", "Client connections open now.", labels=["vip"]
        )
        for vip in self.d.vips:
            t = _dict(c, "vips", vip)
            self._traffic(t, [vip], requests, responses, bytes_in, bytes_out)
            conns.add_metric([vip], _num(g, "connections", vip))
        yield from (requests, responses, bytes_in, bytes_out, conns)

    @staticmethod
    def _traffic(
        t: dict[str, Any],
        labels: list[str],
        requests: CounterMetricFamily,
        responses: CounterMetricFamily,
        bytes_in: CounterMetricFamily,
        bytes_out: CounterMetricFamily,
    ) -> None:
        counts = t.get("responses")
        if not isinstance(counts, list) or len(counts) != len(CLASSES):
            counts = [0] * len(CLASSES)
        total = 0.0
        for cls, n in zip(CLASSES, counts, strict=True):
            n = n if isinstance(n, int | float) and not isinstance(n, bool) else 0
            total += n
            responses.add_metric([*labels, cls], n)
        requests.add_metric(labels, total)
        bytes_in.add_metric(labels, _num(t, "bytes_in"))
        bytes_out.add_metric(labels, _num(t, "bytes_out"))

    def _servers(self) -> Iterator[Metric]:
        c, g = self.view.counters, self.view.gauges
        ps = ["pool", "server"]
        requests = CounterMetricFamily(
            "l7lb_server_requests", "Requests sent to a server and finished.", labels=ps
        )
        responses = CounterMetricFamily(
            "l7lb_server_responses", "Responses by status class.", labels=[*ps, "class"]
        )
        bytes_in = CounterMetricFamily(
            "l7lb_server_bytes_in", "Request bytes of requests sent to it.", labels=ps
        )
        bytes_out = CounterMetricFamily(
            "l7lb_server_bytes_out", "Response bytes of its responses.", labels=ps
        )
        active = GaugeMetricFamily(
            "l7lb_server_active_requests", "Requests in flight to the server now.", labels=ps
        )
        up = GaugeMetricFamily(
            "l7lb_server_up",
            "The active health check's verdict: 1 up, 0 down (absent without checks).",
            labels=ps,
        )
        checks = CounterMetricFamily(
            "l7lb_server_health_checks", "Active health checks run.", labels=ps
        )
        failed = CounterMetricFamily(
            "l7lb_server_health_check_failures", "Active health checks that failed.", labels=ps
        )
        weight = GaugeMetricFamily(
            "l7lb_server_weight", "The weight in use (the admin's, else the file's).", labels=ps
        )
        drain = GaugeMetricFamily(
            "l7lb_server_draining", "1 while the admin drains the server.", labels=ps
        )
        maint = GaugeMetricFamily(
            "l7lb_server_maintenance", "1 while the admin holds it in maintenance.", labels=ps
        )
        for pool, servers in self.d.pools.items():
            for server, info in servers.items():
                labels = [pool, server]
                t = _dict(c, "servers", pool, server)
                self._traffic(t, labels, requests, responses, bytes_in, bytes_out)
                active.add_metric(labels, _num(g, "active", pool, server))
                if info.up is not None:
                    up.add_metric(labels, 1 if info.up else 0)
                    checks.add_metric(labels, info.checks)
                    failed.add_metric(labels, info.check_failures)
                weight.add_metric(labels, info.weight)
                drain.add_metric(labels, 1 if info.admin == "drain" else 0)
                maint.add_metric(labels, 1 if info.admin == "maint" else 0)
        yield from (requests, responses, bytes_in, bytes_out, active, up, checks, failed)
        yield from (weight, drain, maint)

    def _pools(self) -> Iterator[Metric]:
        c, g = self.view.counters, self.view.gauges
        p = ["pool"]
        rtime = HistogramMetricFamily(
            "l7lb_pool_response_time_seconds",
            "From the request sent to a server to its response head.",
            labels=p,
        )
        qlen = GaugeMetricFamily(
            "l7lb_pool_queue_length", "Requests waiting for a server slot now.", labels=p
        )
        queued = CounterMetricFamily(
            "l7lb_pool_queued", "Requests that waited for a server slot.", labels=p
        )
        qtime = CounterMetricFamily(
            "l7lb_pool_queue_seconds", "Time those requests waited, summed.", labels=p
        )
        idle = GaugeMetricFamily(
            "l7lb_pool_idle_connections", "Kept-alive connections to its servers, idle.", labels=p
        )
        persistence = {
            key: CounterMetricFamily(f"l7lb_persistence_{name}", doc, labels=p)
            for key, name, doc in (
                ("stuck", "stuck", "Requests sent to the server their client is stuck to."),
                ("new", "new", "Requests of clients not stuck yet (scheduled, then stuck)."),
                (
                    "redispatched",
                    "redispatched",
                    "Stuck requests sent elsewhere: server down, in maintenance or past its "
                    "drain deadline.",
                ),
                ("claim_misses", "claim_misses", "Table keys no worker knew (asked for)."),
            )
        }
        for pool in self.d.pools:
            data = _dict(c, "pools", pool)
            hist = (
                _buckets(data.get("response_time"), RESPONSE_TIME_BUCKETS) or _EMPTY_RESPONSE_TIMES
            )
            rtime.add_metric([pool], hist[0], hist[1])
            qlen.add_metric([pool], _num(g, "queue", pool))
            queued.add_metric([pool], _num(data, "queued"))
            qtime.add_metric([pool], _num(data, "queue_seconds"))
            idle.add_metric([pool], _num(g, "idle", pool))
            for key, fam in persistence.items():
                fam.add_metric([pool], _num(data, key))
        yield from (rtime, qlen, queued, qtime, idle, *persistence.values())

    def _tls(self) -> Iterator[Metric]:
        c = self.view.counters
        tls = _dict(c, "tls")
        full = CounterMetricFamily(
            "l7lb_tls_handshakes_full", "Full TLS handshakes.", labels=["vip"]
        )
        by_id = CounterMetricFamily(
            "l7lb_tls_handshakes_resumed_id",
            "Handshakes resumed from the session cache (TLS 1.2 id, TLS 1.3 stateful).",
            labels=["vip"],
        )
        by_ticket = CounterMetricFamily(
            "l7lb_tls_handshakes_resumed_ticket",
            "Handshakes resumed from a stateless ticket (TLS 1.2 or 1.3).",
            labels=["vip"],
        )
        failed = CounterMetricFamily(
            "l7lb_tls_handshake_failures",
            "Connections closed before or during the handshake, by reason.",
            labels=["vip", "reason"],
        )
        cache_hits = 0.0
        for vip in self.d.vips:
            if vip not in tls:
                continue  # a plain-HTTP VIP
            v = tls[vip]
            full.add_metric([vip], _num(v, "full"))
            resumed = _dict(v, "resumed")
            vip_by_id = sum(_num(resumed, k) for k in RESUMED_BY_ID)
            by_id.add_metric([vip], vip_by_id)
            cache_hits += vip_by_id
            by_ticket.add_metric([vip], sum(_num(resumed, k) for k in RESUMED_BY_TICKET))
            reasons = dict.fromkeys(TLS_REASONS, 0.0)
            for reason, n in _dict(v, "failures").items():
                reasons[tls_reason(reason)] += _num({"n": n}, "n")
            for reason, n in reasons.items():
                failed.add_metric([vip, reason], n)
        # A hit is a stateful resumption, served from OpenSSL's internal cache without a
        # call into l7lb or found by its lookup; a lookup reaches l7lb only on an internal
        # miss, so l7lb's misses are every miss.
        hits = CounterMetricFamily(
            "l7lb_tls_session_cache_hits", "Session lookups found in a cache (a resumption)."
        )
        misses = CounterMetricFamily(
            "l7lb_tls_session_cache_misses", "Session lookups found in no cache."
        )
        hits.add_metric([], cache_hits)
        misses.add_metric([], _num(c, "session_cache", "misses"))
        yield from (full, by_id, by_ticket, failed, hits, misses)

    def _store(self) -> Iterator[Metric]:
        """The shared store, as the workers (TLS sessions) and the supervisor (persistence,
        ticket keys) use it: absent without a [store]."""
        acc: dict[str, Any] = {}
        add_into(acc, _dict(self.view.counters, "store"))
        if self.d.store is not None:
            add_into(acc, self.d.store)
        if not acc and self.d.store_up is None:
            return
        ops = CounterMetricFamily("l7lb_store_operations", "Calls to the shared store.")
        ops.add_metric([], _num(acc, "operations"))
        errors = CounterMetricFamily(
            "l7lb_store_errors", "Calls that got no answer, by reason.", labels=["reason"]
        )
        for label, key in STORE_REASONS:
            errors.add_metric([label], _num(acc, key))
        dropped = CounterMetricFamily(
            "l7lb_store_dropped_writes", "Background writes dropped: too many pending."
        )
        dropped.add_metric([], _num(acc, "dropped_writes"))
        outages = CounterMetricFamily("l7lb_store_outages", "Outages opened (see the error log).")
        outages.add_metric([], _num(acc, "outages"))
        latency = HistogramMetricFamily(
            "l7lb_store_latency_seconds", "Time to an answer from the store (answered calls)."
        )
        hist = _buckets(acc.get("latency"), STORE_LATENCY_BUCKETS)
        if hist is not None:
            latency.add_metric([], hist[0], hist[1])
        up = GaugeMetricFamily("l7lb_store_up", "1 while the supervisor reaches the store.")
        if self.d.store_up is not None:
            up.add_metric([], 1 if self.d.store_up else 0)
        yield from (ops, errors, dropped, outages, latency, up)

    def _director(self) -> Iterator[Metric]:
        reloads = CounterMetricFamily("l7lb_reloads", "Reloads accepted.")
        reloads.add_metric([], self.d.reloads)
        failed = CounterMetricFamily("l7lb_reload_failures", "Reloads rejected.")
        failed.add_metric([], self.d.reload_failures)
        restarts = CounterMetricFamily(
            "l7lb_worker_restarts", "Workers that exited unexpectedly and were replaced."
        )
        restarts.add_metric([], self.d.worker_restarts)
        workers = GaugeMetricFamily("l7lb_workers", "Workers serving now.")
        workers.add_metric([], self.view.workers)
        lag = GaugeMetricFamily(
            "l7lb_worker_event_loop_lag_seconds",
            "The largest delay of the worker's event loop in its last report interval.",
            labels=["worker"],
        )
        for index, value in sorted(self.view.lag.items()):
            lag.add_metric([str(index)], value)
        yield from (reloads, failed, restarts, workers, lag)


def render(view: View, director: Director) -> bytes:
    """The text format of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Scrape(view, director))
    return generate_latest(registry)
