"""CLI surface: JSON document, several URLs with rounds, option errors, plot, self-test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from l7lb.bench import plot
from l7lb.bench.cli import main

pytestmark = pytest.mark.timeout(60)


def test_json_has_every_figure_and_the_options(tmp_path: Path, start_server: Any) -> None:
    server = start_server()
    out = tmp_path / "r.json"
    argv = [server.url(), "-n", "10", "-c", "2", "-p", "1", "--json", str(out)]
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    assert doc["argv"] == argv
    assert doc["options"]["requests"] == 10 and doc["options"]["tls_resume"] == "ticket"
    s = doc["runs"][0]["summary"]
    for key in (
        "requests", "requests_per_s", "bytes_in", "bytes_in_per_s", "latency_ms", "connect_ms",
        "errors", "error_ratio", "handshakes", "backends", "stickiness", "timeline",
    ):  # fmt: skip
        assert key in s
    assert set(s["latency_ms"]) >= {"p50", "p90", "p99", "p99.9", "max"}
    assert s["latency_ms"]["p50"] <= s["latency_ms"]["p99"] <= s["latency_ms"]["max"]
    assert s["bytes_in"] > 10 * len(b"ok")


def test_several_urls_alternate_and_compare(tmp_path: Path, start_server: Any, capsys: Any) -> None:
    a, b = start_server(), start_server()
    out = tmp_path / "r.json"
    argv = [a.url(), b.url(), "-n", "5", "-c", "1", "-p", "1", "--rounds", "2", "--json", str(out)]
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    assert [(r["url"], r["round"]) for r in doc["runs"]] == [
        (a.url(), 1), (b.url(), 1), (a.url(), 2), (b.url(), 2),
    ]  # fmt: skip
    assert len(a.events("request")) == len(b.events("request")) == 10
    assert doc["comparison"][0]["requests_per_s_ratio"] == 1.0
    assert "comparison" in capsys.readouterr().out


def test_bad_options_exit_2(capsys: Any) -> None:
    assert main(["ftp://x/"]) == 2
    assert "scheme" in capsys.readouterr().err
    assert main(["http://x/", "--path", "nope"]) == 2


def test_plot_writes_a_png(tmp_path: Path, start_server: Any) -> None:
    server = start_server()
    out = tmp_path / "latency.png"
    assert main([server.url(), "-n", "200", "-c", "2", "-p", "1", "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_plot_without_matplotlib_says_so(capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plot, "available", lambda: False)
    assert main(["http://127.0.0.1:9/", "--plot", "x.png"]) == 2
    assert "matplotlib" in capsys.readouterr().err


def test_self_test_measures_the_ceiling(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "l7lb.bench", "--self-test", "-n", "3000", "-c", "4", "-p", "2",
         "--json", str(out)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "client ceiling" in proc.stdout
    s = json.loads(out.read_text())["runs"][0]["summary"]
    assert s["responses"] == 3000 and s["errors"] == {}


def test_progress_ticker_goes_to_stderr(start_server: Any) -> None:
    server = start_server("--stall")
    proc = subprocess.run(
        [sys.executable, "-m", "l7lb.bench", server.url(), "-d", "1.5", "-c", "1", "-p", "1",
         "--progress", "--timeout", "5"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0
    assert "req/s" in proc.stderr and "errors" in proc.stderr
