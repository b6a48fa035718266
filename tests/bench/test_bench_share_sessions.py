"""--share-sessions: one run over several URLs, each connection offered the TLS session of the
previous one wherever it came from; checked against the servers' own handshake logs.

Two "directors" that share their session cache are one test server listening on two ports
with one TLS context; two that do not are two server processes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from l7lb.bench.cli import main

pytestmark = pytest.mark.timeout(60)


def run(tmp_path: Path, *argv: str) -> dict[str, Any]:
    out = tmp_path / "result.json"
    assert main([*argv, "--json", str(out)]) == 0
    runs = json.loads(out.read_text())["runs"]
    assert len(runs) == 1  # one run over all the URLs, not one per URL
    return runs[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_sessions_resume_on_the_other_url(
    tmp_path: Path, start_server: Any, certificate: Any, capsys: Any, version: str
) -> None:
    cert, key = certificate
    server = start_server("--cert", str(cert), "--key", str(key), "--two-ports")
    a = server.url(scheme="https")
    b = server.url(scheme="https", port=server.port2)
    started = time.time()
    result = run(
        tmp_path, a, b, "--share-sessions", "-n", "12", "-c", "3", "-p", "1", "--new-conn",
        "--tls-resume", "id", "--tls-version", version, "--cafile", str(cert),
    )  # fmt: skip
    s = result["summary"]
    assert result["url"] == f"{a} + {b}"
    assert s["errors"] == {} and s["requests"] == 12
    handshakes = server.events("handshake")
    assert len(handshakes) == 12
    # Each of the 3 slots does one full handshake; every later connection resumes the slot's
    # session, on whichever port it goes to.
    full = [h for h in handshakes if not h["reused"]]
    assert len(full) == 3
    assert (s["handshakes"]["full"], s["handshakes"]["resumed"]) == (3, 9)
    assert s["handshakes"]["resumed_ratio"] == 0.75
    # Connections alternate: both ports served, and resumed there.
    on = {
        port: [h for h in handshakes if h["port"] == port] for port in (server.port, server.port2)
    }
    assert all(sum(h["reused"] for h in hs) >= 3 for hs in on.values()), on
    # The per-URL figures are what each port saw.
    for url, port in ((a, server.port), (b, server.port2)):
        assert s["by_url"][url] == {
            "connections": len(on[port]),
            "full": sum(not h["reused"] for h in on[port]),
            "resumed": sum(bool(h["reused"]) for h in on[port]),
            "resumed_ratio": round(sum(h["reused"] for h in on[port]) / len(on[port]), 6),
        }
    if version == "1.2":
        # TLS 1.2 keeps the session id on resumption: each session was issued on one port
        # and resumed on the other.
        ports_of: dict[str, set[int]] = {}
        for h in handshakes:
            ports_of.setdefault(h["session"], set()).add(h["port"])
        assert len(ports_of) == 3 and all(p == set(on) for p in ports_of.values()), ports_of
    # The timeline carries the handshakes of each second; the start is wall-clock time.
    assert sum(t["handshakes_full"] for t in s["timeline"]) == 3
    assert sum(t["handshakes_resumed"] for t in s["timeline"]) == 9
    assert started - 1 <= s["started_at"] <= time.time()
    out = capsys.readouterr().out
    assert "resumed ratio 75.0%" in out and f"    {b}  full" in out


def test_servers_that_do_not_share_never_resume(
    tmp_path: Path, start_server: Any, certificate: Any
) -> None:
    """Two servers with their own caches: a session from one is offered to the other and
    refused every time, and bench says so (it reports what the servers did)."""
    cert, key = certificate
    one = start_server("--cert", str(cert), "--key", str(key))
    two = start_server("--cert", str(cert), "--key", str(key))
    s = run(
        tmp_path, one.url(scheme="https"), two.url(scheme="https"), "--share-sessions",
        "-n", "8", "-c", "2", "-p", "1", "--new-conn", "--tls-resume", "id",
        "--tls-version", "1.2", "-k",
    )["summary"]  # fmt: skip
    assert s["errors"] == {}
    assert (s["handshakes"]["full"], s["handshakes"]["resumed"]) == (8, 0)
    assert len(one.events("handshake")) == len(two.events("handshake")) == 4
    assert not any(h["reused"] for h in one.events("handshake") + two.events("handshake"))


def test_without_sharing_each_url_keeps_its_own_sessions(
    tmp_path: Path, start_server: Any, certificate: Any
) -> None:
    """The default: URLs run one after the other, each with its own sessions."""
    cert, key = certificate
    server = start_server("--cert", str(cert), "--key", str(key), "--two-ports")
    out = tmp_path / "r.json"
    argv = [
        server.url(scheme="https"), server.url(scheme="https", port=server.port2),
        "-n", "6", "-c", "2", "-p", "1", "--new-conn", "--tls-resume", "id", "-k",
        "--json", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    runs = json.loads(out.read_text())["runs"]
    assert [r["summary"]["handshakes"]["full"] for r in runs] == [2, 2]
    assert all(r["summary"]["by_url"] == {} for r in runs)


@pytest.mark.parametrize(
    "urls",
    [
        ["https://127.0.0.1:1/"],
        ["https://127.0.0.1:1/", "http://127.0.0.1:2/"],
    ],
)
def test_share_sessions_needs_two_https_urls(urls: list[str], capsys: Any) -> None:
    assert main([*urls, "--share-sessions"]) == 2
    assert "two or more https:// URLs" in capsys.readouterr().err
