"""/metrics as Prometheus reads it: parsed back with prometheus_client.parser."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from l7lb.metrics.aggregate import DirectorMetrics, View
from l7lb.metrics.exposition import Director, ServerInfo, render, tls_reason

LABELS = {"vip", "pool", "server", "class", "reason", "worker", "le"}


def director(**kw: Any) -> Director:
    return Director(
        vips=["www", "tls"],
        pools={
            "web": {
                "s1": ServerInfo(2, up=True, checks=5, check_failures=1),
                "s2": ServerInfo(1, "drain"),
            }
        },
        **kw,
    )


def worker_snapshot() -> dict[str, Any]:
    return {
        "v": 1,
        "counters": {
            "vips": {
                "www": {"responses": [0, 7, 1, 2, 3, 0], "bytes_in": 700, "bytes_out": 900},
                "intruder": {"responses": [0, 1, 0, 0, 0, 0]},
            },
            "servers": {
                "web": {
                    "s1": {"responses": [0, 5, 0, 0, 1, 0], "bytes_in": 5, "bytes_out": 6},
                    'evil"name': {"responses": [0, 1, 0, 0, 0, 0]},
                }
            },
            "pools": {
                "web": {
                    "response_time": {"counts": [1] + [0] * 13 + [2], "sum": 30.5},
                    "queued": 2,
                    "queue_seconds": 1.5,
                    "stuck": 4,
                    "new": 3,
                    "redispatched": 1,
                    "claim_misses": 0,
                }
            },
            "tls": {
                "tls": {
                    "full": 3,
                    "resumed": {"session_id": 2, "ticket": 1, "tls13_ticket": 4},
                    "failures": {"tls_error:wrong_version_number": 1, "plain_http": 2, "??": 1},
                }
            },
            "session_cache": {"hits": 2, "misses": 1},
        },
        "gauges": {"connections": {"www": 3}, "active": {"web": {"s1": 1}}, "lag": 0.05},
    }


def scrape(view: View, d: Director) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = render(view, d).decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            out.setdefault(sample.name, {})[key] = sample.value
    return out


def test_families_labels_and_values() -> None:
    agg = DirectorMetrics()
    agg.report("w0", 0, worker_snapshot())
    s = scrape(agg.view(), director(reloads=2, reload_failures=1, worker_restarts=1))
    www = (("vip", "www"),)
    assert s["l7lb_vip_requests_total"][www] == 13
    assert s["l7lb_vip_responses_total"][(("class", "5xx"), ("vip", "www"))] == 3
    assert s["l7lb_vip_bytes_in_total"][www] == 700
    assert s["l7lb_vip_bytes_out_total"][www] == 900
    assert s["l7lb_vip_connections"][www] == 3
    s1 = (("pool", "web"), ("server", "s1"))
    assert s["l7lb_server_requests_total"][s1] == 6
    assert s["l7lb_server_responses_total"][(("class", "5xx"), *s1)] == 1
    assert s["l7lb_server_active_requests"][s1] == 1
    assert s["l7lb_server_up"][s1] == 1
    assert s["l7lb_server_health_checks_total"][s1] == 5
    assert s["l7lb_server_health_check_failures_total"][s1] == 1
    assert s["l7lb_server_weight"][s1] == 2
    assert s["l7lb_server_draining"][(("pool", "web"), ("server", "s2"))] == 1
    web = (("pool", "web"),)
    assert s["l7lb_pool_response_time_seconds_count"][web] == 3
    assert s["l7lb_pool_response_time_seconds_sum"][web] == 30.5
    assert s["l7lb_pool_response_time_seconds_bucket"][(("le", "0.0005"), *web)] == 1
    assert s["l7lb_pool_response_time_seconds_bucket"][(("le", "10.0"), *web)] == 1
    assert s["l7lb_pool_response_time_seconds_bucket"][(("le", "+Inf"), *web)] == 3
    assert s["l7lb_pool_queued_total"][web] == 2
    assert s["l7lb_pool_queue_seconds_total"][web] == 1.5
    assert s["l7lb_persistence_stuck_total"][web] == 4
    assert s["l7lb_persistence_new_total"][web] == 3
    assert s["l7lb_persistence_redispatched_total"][web] == 1
    tls = (("vip", "tls"),)
    assert s["l7lb_tls_handshakes_full_total"][tls] == 3
    assert s["l7lb_tls_handshakes_resumed_id_total"][tls] == 2
    assert s["l7lb_tls_handshakes_resumed_ticket_total"][tls] == 5
    assert s["l7lb_tls_handshake_failures_total"][(("reason", "tls_error"), *tls)] == 1
    assert s["l7lb_tls_handshake_failures_total"][(("reason", "plain_http"), *tls)] == 2
    assert s["l7lb_tls_handshake_failures_total"][(("reason", "other"), *tls)] == 1
    assert s["l7lb_tls_session_cache_hits_total"][()] == 2
    assert s["l7lb_tls_session_cache_misses_total"][()] == 1
    assert s["l7lb_reloads_total"][()] == 2
    assert s["l7lb_reload_failures_total"][()] == 1
    assert s["l7lb_worker_restarts_total"][()] == 1
    assert s["l7lb_worker_event_loop_lag_seconds"][(("worker", "0"),)] == 0.05
    assert "l7lb_store_operations_total" not in s  # no [store]


def test_labels_are_bounded_to_the_configuration() -> None:
    agg = DirectorMetrics()
    agg.report("w0", 0, worker_snapshot())
    text = render(agg.view(), director()).decode()
    assert "intruder" not in text and "evil" not in text
    for family in text_string_to_metric_families(text):
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples)
        for sample in family.samples:
            assert set(sample.labels) <= LABELS, sample
            if "class" in sample.labels:
                assert sample.labels["class"] in ("1xx", "2xx", "3xx", "4xx", "5xx", "other")
            if "server" in sample.labels:
                assert sample.labels["server"] in ("s1", "s2")


def test_an_empty_director_renders_every_family_with_zeros() -> None:
    s = scrape(View(), director())
    assert s["l7lb_vip_requests_total"][(("vip", "www"),)] == 0
    assert s["l7lb_pool_response_time_seconds_count"][(("pool", "web"),)] == 0
    assert s["l7lb_workers"][()] == 0


def test_store_families_with_a_store() -> None:
    store = {
        "operations": 10,
        "timeouts": 2,
        "errors": 1,
        "outages": 1,
        "latency": {"counts": [3] + [0] * 12, "sum": 0.0003},
    }
    s = scrape(View(), director(store=store, store_up=False, store_name="redis://r:6379/0"))
    assert s["l7lb_store_operations_total"][()] == 10
    assert s["l7lb_store_errors_total"][(("reason", "timeout"),)] == 2
    assert s["l7lb_store_errors_total"][(("reason", "error"),)] == 1
    assert s["l7lb_store_outages_total"][()] == 1
    assert s["l7lb_store_up"][()] == 0
    assert s["l7lb_store_latency_seconds_count"][()] == 3


def test_tls_reasons() -> None:
    assert tls_reason("tls_error:wrong_version_number") == "tls_error"
    assert tls_reason("unknown_sni") == "unknown_sni"
    assert tls_reason("anything else") == "other"
