"""HTTP/2 through the demo's HTTPS VIP with real clients: curl --http2 and h2load (Debian
nghttp2-client), cookie persistence across 50 streams of one connection and across new
connections."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "demo"))

from demoproc import Demo

pytestmark = pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("h2load") is None,
    reason="needs curl and h2load (Debian: curl nghttp2-client)",
)


@pytest.fixture
def demo(tmp_path: Path) -> Any:
    d = Demo(tmp_path, "--workers", "1")
    try:
        d.wait_for("Ctrl-C stops everything")
        d.wait_listening(8443)
        yield d
    finally:
        d.kill_everything()


def log_lines(demo: Any, needle: str, count: int, timeout: float = 10.0) -> list[str]:
    """Access-log lines holding ``needle``, once ``count`` of them are written (the log is
    flushed every 200 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [ln for ln in demo.output().splitlines() if needle in ln]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def curl(*args: str, timeout: float = 60) -> str:
    out = subprocess.run(
        ["curl", "-sk", "--http2", *args], capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_curl_http2_sticks_across_50_streams_and_new_connections(demo: Any, tmp_path) -> None:
    url = f"https://localhost:{8443 + demo.offset}/"
    jar = str(tmp_path / "jar")
    first = curl("-c", jar, "-w", " %{http_version}", url)
    server, version = first.split()
    assert re.fullmatch(r"realserver_[123]", server) and version == "2", first

    # 50 streams multiplexed on one connection, each with the cookie
    bodies = tmp_path / "bodies"
    bodies.mkdir()
    out = curl(
        "-b", jar, "-Z", "--parallel-max", "50", "-o", f"{bodies}/#1",
        "-w", "%{num_connects} %{http_version}\n", url + "[1-50]",
    )  # fmt: skip
    lines = out.split()
    assert len(lines) == 100 and set(lines[1::2]) == {"2"}
    assert sum(int(n) for n in lines[0::2]) == 1, "more than one connection"
    assert {p.read_text().strip() for p in bodies.iterdir()} == {server}
    assert len(list(bodies.iterdir())) == 50

    # new connections, same server
    for _ in range(3):
        assert curl("-b", jar, url).strip() == server
    # without the cookie requests rotate (wrr 2:1:1), so the above means something
    assert len({curl(url).strip() for _ in range(8)}) > 1

    # the access log says HTTP/2.0, with the server
    lines = log_lines(demo, '"curl/', 50 + 1 + 3 + 8)
    assert len(lines) == 50 + 1 + 3 + 8
    assert all(' HTTP/2.0" 200 ' in ln for ln in lines), lines[0]


def test_h2load_with_the_cookie_lands_on_one_server(demo: Any, tmp_path) -> None:
    url = f"https://localhost:{8443 + demo.offset}/"
    jar = str(tmp_path / "jar")
    server = curl("-c", jar, url).strip()
    cookie = next(
        line.split("\t")[-1] for line in Path(jar).read_text().splitlines() if "\tL7LB\t" in line
    )
    out = subprocess.run(
        ["h2load", "-n", "600", "-c", "6", "-m", "10", "-H", f"cookie: L7LB={cookie}", url],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert re.search(r"600 succeeded, 0 failed, 0 errored", out.stdout), out.stdout
    assert "Application protocol: h2" in out.stdout
    agent = log_lines(demo, '"h2load', 600)
    assert len(agent) == 600
    assert Counter(re.search(r"server=(\S+)", ln)[1] for ln in agent) == Counter(
        {"demo-" + server[-1]: 600}
    )
    assert all("HTTP/2.0" in ln for ln in agent)
