"""The bench CLI end to end against the test server subprocess: counts, errors, cookies."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import pytest

from l7lb.bench.cli import main

pytestmark = pytest.mark.timeout(60)


def run(tmp_path: Path, *argv: str) -> dict[str, Any]:
    out = tmp_path / "result.json"
    assert main([*argv, "--json", str(out)]) == 0
    document = json.loads(out.read_text())
    return document["runs"][0]["summary"]  # type: ignore[no-any-return]


def test_request_count_is_exact_across_processes(tmp_path: Path, start_server: Any) -> None:
    server = start_server()
    s = run(tmp_path, server.url("/hello"), "-n", "37", "-c", "3", "-p", "2", "--keepalive", "4")
    requests = server.events("request")
    assert len(requests) == 37
    assert s["requests"] == s["responses"] == 37
    assert s["status_classes"] == {"2xx": 37}
    assert s["errors"] == {}
    assert s["connections"] == len(server.events("connection"))
    # No connection carried more than --keepalive requests.
    assert max(collections.Counter(r["conn"] for r in requests).values()) <= 4
    assert {r["path"] for r in requests} == {"/hello"}


def test_new_conn_opens_one_connection_per_request(tmp_path: Path, start_server: Any) -> None:
    server = start_server()
    s = run(tmp_path, server.url(), "-n", "12", "-c", "2", "-p", "1", "--new-conn")
    assert s["connections"] == 12 == len(server.events("connection"))
    assert all(r["headers"]["connection"] == "close" for r in server.events("request"))


def test_resetting_server_shows_half_errors_as_resets(tmp_path: Path, start_server: Any) -> None:
    server = start_server("--reset-every", "2")
    s = run(tmp_path, server.url(), "-n", "40", "-c", "2", "-p", "1", "--new-conn")
    assert s["requests"] == 40
    assert s["errors"] == {"reset": 20}
    assert s["error_ratio"] == 0.5
    assert s["responses"] == 20 == len(server.events("request"))


def test_http_status_classes_are_errors(tmp_path: Path, start_server: Any) -> None:
    server = start_server()
    s = run(
        tmp_path, server.url(), "-n", "6", "-c", "1", "-p", "1",
        "--path", "/status/503", "--path", "/status/404", "--path", "/ok",
    )  # fmt: skip
    assert s["errors"] == {"http_4xx": 2, "http_5xx": 2}
    assert s["status_classes"] == {"2xx": 2, "4xx": 2, "5xx": 2}


def test_connect_errors_are_counted(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = run(tmp_path, f"http://127.0.0.1:{port}/", "-n", "5", "-c", "1", "-p", "1")
    assert s["errors"] == {"connect": 5}
    assert s["responses"] == 0


def test_timeouts_are_counted(tmp_path: Path, start_server: Any) -> None:
    server = start_server("--stall")
    s = run(tmp_path, server.url(), "-n", "2", "-c", "2", "-p", "1", "--timeout", "0.3")
    assert s["errors"] == {"timeout": 2}


def test_request_shape(tmp_path: Path, start_server: Any) -> None:
    server = start_server()
    body = tmp_path / "body.bin"
    body.write_bytes(b"x" * 1000)
    run(
        tmp_path, server.url(), "-n", "8", "-c", "1", "-p", "1", "-m", "post",
        "--body-file", str(body), "-H", "X-Test: yes", "--host", "site.example",
        "--path", "/a:3", "--path", "/b",
    )  # fmt: skip
    requests = server.events("request")
    assert collections.Counter(r["path"] for r in requests) == {"/a": 6, "/b": 2}
    for r in requests:
        assert r["method"] == "POST" and r["body"] == 1000
        assert r["headers"]["host"] == "site.example"
        assert r["headers"]["x-test"] == "yes"


def test_head_responses_end_at_their_head(tmp_path: Path, start_server: Any) -> None:
    server = start_server()
    s = run(tmp_path, server.url(), "-n", "6", "-c", "1", "-p", "1", "-m", "HEAD", "--timeout", "2")
    assert s["responses"] == 6 and s["errors"] == {}
    assert s["connections"] == 1


def cookie_cids(requests: list[dict[str, Any]]) -> collections.Counter[str]:
    cookies = (r["headers"].get("cookie", "") for r in requests)
    return collections.Counter(
        c.split("cid=")[1].split(";")[0] if "cid=" in c else "" for c in cookies
    )


def test_cookie_jars_send_cookies_back(tmp_path: Path, start_server: Any) -> None:
    server = start_server("--sticky")
    # One connection, one process: the 5 clients take strict turns, 4 requests each.
    run(tmp_path, server.url(), "-n", "20", "-c", "1", "-p", "1", "--clients", "5")
    assert cookie_cids(server.events("request")) == {"": 5, "1": 3, "2": 3, "3": 3, "4": 3, "5": 3}


def test_cookie_jars_across_processes(tmp_path: Path, start_server: Any) -> None:
    server = start_server("--sticky")
    s = run(tmp_path, server.url(), "-n", "40", "-c", "3", "-p", "2", "--clients", "5")
    cids = cookie_cids(server.events("request"))
    # Each client asks once without a cookie and is never given a second one; how the 40
    # requests fall on clients depends on scheduling, so only the cookie set is exact.
    assert cids.pop("") == 5
    assert set(cids) <= {"1", "2", "3", "4", "5"}
    assert s["requests"] == 40


def test_sticky_check_reports_the_flipping_client(tmp_path: Path, start_server: Any) -> None:
    server = start_server("--sticky")
    s = run(
        tmp_path, server.url(), "-n", "40", "-c", "2", "-p", "2", "--clients", "4",
        "--check-sticky", "header:X-Backend",
    )  # fmt: skip
    st = s["stickiness"]
    assert st["clients"] == 4
    # Only client cid=1 flips between b0 and b1; all its responses are counted as switches.
    assert st["violations"] == 1
    assert next(iter(st["violation_samples"].values())) in (["b0", "b1"], ["b1", "b0"])
    assert sum(st["spread"].values()) == 4
    assert sum(s["backends"].values()) == 40


def test_sticky_check_by_cookie(tmp_path: Path, start_server: Any) -> None:
    server = start_server("--sticky")
    s = run(
        tmp_path, server.url(), "-n", "30", "-c", "3", "-p", "1", "--clients", "3",
        "--check-sticky", "cookie:srv",
    )  # fmt: skip
    assert s["stickiness"]["clients"] == 3
    assert s["stickiness"]["violations"] == 1


def test_open_loop_rate_sends_on_schedule(tmp_path: Path, start_server: Any) -> None:
    server = start_server()
    s = run(tmp_path, server.url(), "--rate", "200", "-n", "40", "-c", "4", "-p", "1")
    assert s["requests"] == 40 == len(server.events("request"))
    # 40 requests at 200/s are scheduled over 0.195 s; the run cannot be shorter.
    assert s["elapsed_s"] >= 0.19
    assert s["latency_ms"]["min"] > 0


def test_open_loop_charges_queueing_to_latency(tmp_path: Path, start_server: Any) -> None:
    """No coordinated omission: at 100/s on one connection to a 50 ms server, request i is
    scheduled at 10·i ms but cannot finish before 50·(i+1) ms, so its latency is at least
    50 + 40·i ms, although each response took only about 50 ms to serve."""
    server = start_server()
    s = run(tmp_path, server.url("/sleep/50"), "--rate", "100", "-n", "10", "-c", "1", "-p", "1")
    assert s["responses"] == 10
    assert s["latency_ms"]["max"] >= 410
    assert s["latency_ms"]["p50"] >= 210
    closed = run(tmp_path, server.url("/sleep/50"), "-n", "4", "-c", "1", "-p", "1")
    assert closed["latency_ms"]["max"] < 400


def test_duration_mode_runs_for_the_duration(tmp_path: Path, start_server: Any) -> None:
    server = start_server()
    s = run(tmp_path, server.url(), "-d", "0.5", "-c", "2", "-p", "2")
    assert s["requests"] > 0
    assert s["requests"] <= len(server.events("request"))
    # The loop timer may fire a fraction of a millisecond early.
    assert 0.49 <= s["elapsed_s"] < 1.5
    assert s["timeline"][0]["second"] == 0
