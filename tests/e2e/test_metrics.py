"""End-to-end: GET /metrics on a real l7lb with two workers, real backends and real clients.

A scrape, a known load (N requests of known sizes and statuses, M TLS handshakes of known
kinds), a second scrape: the deltas must be exact. Counters must survive a worker's death
and a reload (Prometheus reads a counter that goes back as a reset).
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import ssl
import sys
import threading
import time
from pathlib import Path

import pytest
from procs import Backend, Proxy, free_port, start_proxy, wait_port
from prometheus_client.parser import text_string_to_metric_families

from l7lb.tls.certtool import certs_main

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(admin: int) -> Samples:
    c = http.client.HTTPConnection("127.0.0.1", admin, timeout=10)
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        assert r.status == 200
        assert r.getheader("Content-Type", "").startswith("text/plain; version=")
        text = r.read().decode()
    finally:
        c.close()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(s: Samples, name: str, **labels: str) -> float:
    return s.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(a: Samples, b: Samples, name: str, **labels: str) -> float:
    return value(b, name, **labels) - value(a, name, **labels)


def make_cert(tmp: Path) -> tuple[str, str]:
    out = tmp / "www.example.com"
    args = ["new", "--cn", "www.example.com", "--key", "ec", "--self-signed", "--out", str(out)]
    assert certs_main(args) == 0
    return f"{out}.pem", f"{out}.key"


def config(port: int, tls_port: int, admin: int, backends: list[Backend], tmp: Path) -> str:
    cert, key = make_cert(tmp)
    servers = "".join(
        f'[[pool.web.server]]\nname = "{b.name}"\naddress = "{b.address}"\n' for b in backends
    )
    return f"""
[admin]
listen = "127.0.0.1:{admin}"
[metrics]
interval = "200ms"
[[vip]]
name = "www"
listen = ["127.0.0.1:{port}"]
[[vip.route]]
pool = "web"
[[vip]]
name = "secure"
listen = ["127.0.0.1:{tls_port}"]
tls = {{ certificates = [{{ cert = "{cert}", key = "{key}" }}] }}
[[vip.route]]
pool = "web"
[pool.web]
scheduler = "rr"
{servers}"""


def plain_request(port: int, path: str) -> tuple[int, int, int]:
    """One request of known bytes on its own connection: (status, request bytes, body bytes)."""
    raw = f"GET {path} HTTP/1.1\r\nHost: metrics.test\r\nConnection: close\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        r = http.client.HTTPResponse(s)
        r.begin()
        body = r.read()
    return r.status, len(raw), len(body)


def tls_request(
    port: int, ctx: ssl.SSLContext, session: ssl.SSLSession | None = None
) -> tuple[bool, ssl.SSLSession | None]:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="www.example.com", session=session) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n")
        r = http.client.HTTPResponse(s)  # type: ignore[arg-type]
        r.begin()
        r.read()
        assert r.status == 200
        return s.session_reused, s.session


def tls12_ctx() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_TICKET  # resume by session id
    return ctx


@pytest.fixture
def proxy(tmp_path: Path, backends: list[Backend]):
    port, tls_port, admin = free_port(), free_port(), free_port()
    p = start_proxy(tmp_path, config(port, tls_port, admin, backends[:2], tmp_path), port, 2)
    p.extra_ports = [tls_port, admin]
    wait_port(admin)
    yield p
    p.stop()


def test_deltas_after_a_known_load_are_exact(proxy: Proxy) -> None:
    port = proxy.port
    tls_port, admin = proxy.extra_ports
    before = scrape(admin)

    # N = 30 plain requests: 20 answered 200, 4 404, 6 503 (by the realservers)
    sent = body = 0
    statuses = []
    for path in ["/"] * 20 + ["/status?code=404"] * 4 + ["/status?code=503"] * 6:
        status, n_req, n_body = plain_request(port, path)
        statuses.append(status)
        sent += n_req
        body += n_body
    assert statuses.count(200) == 20 and statuses.count(404) == 4 and statuses.count(503) == 6

    # M = 5 handshakes: 3 full, then 2 resumed by session id; and 1 plain-HTTP refusal
    ctx = tls12_ctx()
    session = None
    for fresh in (tls12_ctx(), tls12_ctx(), ctx):  # a session belongs to its context
        reused, session = tls_request(tls_port, fresh)
        assert not reused
    for _ in range(2):
        reused, _ = tls_request(tls_port, ctx, session)
        assert reused
    assert plain_request(tls_port, "/")[0] == 400  # l7lb's own "this port speaks HTTPS"

    after = scrape(admin)
    www = {"vip": "www"}
    assert delta(before, after, "l7lb_vip_requests_total", **www) == 30
    assert delta(before, after, "l7lb_vip_responses_total", **www, **{"class": "2xx"}) == 20
    assert delta(before, after, "l7lb_vip_responses_total", **www, **{"class": "4xx"}) == 4
    assert delta(before, after, "l7lb_vip_responses_total", **www, **{"class": "5xx"}) == 6
    assert delta(before, after, "l7lb_vip_bytes_in_total", **www) == sent
    assert delta(before, after, "l7lb_vip_bytes_out_total", **www) == body
    secure = {"vip": "secure"}
    assert delta(before, after, "l7lb_vip_requests_total", **secure) == 5
    assert delta(before, after, "l7lb_tls_handshakes_full_total", **secure) == 3
    assert delta(before, after, "l7lb_tls_handshakes_resumed_id_total", **secure) == 2
    assert delta(before, after, "l7lb_tls_handshakes_resumed_ticket_total", **secure) == 0
    failures = {"vip": "secure", "reason": "plain_http"}
    assert delta(before, after, "l7lb_tls_handshake_failures_total", **failures) == 1
    assert delta(before, after, "l7lb_tls_session_cache_hits_total") == 2
    # every one of the 35 proxied requests went to b1 or b2, and was timed
    per_server = [
        delta(before, after, "l7lb_server_requests_total", pool="web", server=b)
        for b in ("b1", "b2")
    ]
    assert sum(per_server) == 35 and min(per_server) > 0
    five = sum(
        delta(
            before, after, "l7lb_server_responses_total", pool="web", server=b, **{"class": "5xx"}
        )
        for b in ("b1", "b2")
    )
    assert five == 6
    assert delta(before, after, "l7lb_pool_response_time_seconds_count", pool="web") == 35
    assert value(after, "l7lb_workers") == 2
    assert {k[1] for k in after if k[0] == "l7lb_worker_event_loop_lag_seconds"} == {
        (("worker", "0"),),
        (("worker", "1"),),
    }


def test_counters_survive_a_worker_death_and_a_reload(proxy: Proxy) -> None:
    port = proxy.port
    _, admin = proxy.extra_ports
    for _ in range(10):
        assert plain_request(port, "/")[0] == 200
    first = scrape(admin)
    requests = value(first, "l7lb_vip_requests_total", vip="www")
    assert requests >= 10

    victim = proxy.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pids = proxy.worker_pids()
        if victim not in pids and len(pids) == 2:
            break
        time.sleep(0.1)
    second = scrape(admin)
    while value(second, "l7lb_workers") < 2 and time.monotonic() < deadline:
        time.sleep(0.2)  # the new worker starts, then reports
        second = scrape(admin)
    assert value(second, "l7lb_workers") == 2
    assert value(second, "l7lb_vip_requests_total", vip="www") == requests
    assert delta(first, second, "l7lb_worker_restarts_total") == 1

    proxy.reload()  # SIGHUP: a new generation, the old one drains and exits
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if "reload: done" in proxy.error_log():
            break
        time.sleep(0.1)
    assert "reload: done" in proxy.error_log()
    for _ in range(3):
        assert plain_request(port, "/")[0] == 200
    third = scrape(admin)
    assert value(third, "l7lb_vip_requests_total", vip="www") == requests + 3
    assert delta(second, third, "l7lb_reloads_total") == 1


def test_queue_families_count_the_requests_that_waited(
    tmp_path: Path, backends: list[Backend]
) -> None:
    port, admin = free_port(), free_port()
    b = backends[0]
    cfg = f"""
[admin]
listen = "127.0.0.1:{admin}"
[[vip]]
name = "www"
listen = ["127.0.0.1:{port}"]
[[vip.route]]
pool = "web"
[pool.web]
queue_timeout = "10s"
[[pool.web.server]]
name = "{b.name}"
address = "{b.address}"
max_conn = 1
"""
    proxy = start_proxy(tmp_path, cfg, port, workers=1)
    try:
        wait_port(admin)
        before = scrape(admin)
        # three at once on a server that takes one: two of them wait (0.5 s, then 1 s)
        results: list[int] = []
        threads = [
            threading.Thread(
                target=lambda: results.append(plain_request(port, "/slow?delay=0.5")[0])
            )
            for _ in range(3)
        ]
        for t in threads:
            t.start()
        time.sleep(0.25)
        during = scrape(admin)
        for t in threads:
            t.join(30)
        after = scrape(admin)
        assert results == [200, 200, 200]
        assert value(during, "l7lb_pool_queue_length", pool="web") == 2
        assert value(during, "l7lb_server_active_requests", pool="web", server=b.name) == 1
        assert delta(before, after, "l7lb_pool_queued_total", pool="web") == 2
        waited = delta(before, after, "l7lb_pool_queue_seconds_total", pool="web")
        assert 1.2 <= waited <= 5.0, waited
        assert value(after, "l7lb_pool_queue_length", pool="web") == 0
    finally:
        proxy.stop()


def test_store_families_follow_a_real_redis(tmp_path: Path, backends: list[Backend]) -> None:
    sys.path.insert(0, str(Path(__file__).parent.parent / "store"))
    from engines import ServerProc

    redis = ServerProc("redis", tmp_path)
    redis.start()
    port, tls_port, admin = free_port(), free_port(), free_port()
    cert, key = make_cert(tmp_path)
    cfg = f"""
[admin]
listen = "127.0.0.1:{admin}"
[metrics]
interval = "200ms"
[store]
url = "{redis.url}"
session_key = "{"22" * 32}"
timeout = "100ms"
[[vip]]
name = "www"
listen = ["127.0.0.1:{port}"]
[[vip.route]]
pool = "web"
[[vip]]
name = "secure"
listen = ["127.0.0.1:{tls_port}"]
tls = {{ certificates = [{{ cert = "{cert}", key = "{key}" }}], tickets = false }}
[[vip.route]]
pool = "web"
[[pool.web.server]]
address = "{backends[0].address}"
"""
    proxy = start_proxy(tmp_path, cfg, port, workers=1)
    try:
        wait_port(admin)
        for _ in range(3):  # full handshakes: each new session goes to the store
            assert not tls_request(tls_port, tls12_ctx())[0]
        time.sleep(1.0)  # the background writes, then a report
        up = scrape(admin)
        assert value(up, "l7lb_store_operations_total") >= 3
        assert value(up, "l7lb_store_latency_seconds_count") >= 3
        assert value(up, "l7lb_store_outages_total") == 0
        assert value(up, "l7lb_store_up") == 1

        redis.stop()
        for _ in range(3):
            assert not tls_request(tls_port, tls12_ctx())[0]  # a dead store costs nothing
        time.sleep(1.0)
        down = scrape(admin)
        failed = sum(
            delta(up, down, "l7lb_store_errors_total", reason=r)
            for r in ("timeout", "error", "skipped", "overloaded")
        )
        assert failed >= 3
        assert delta(up, down, "l7lb_store_outages_total") >= 1
    finally:
        proxy.stop()
        redis.stop()
