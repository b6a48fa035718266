"""Two directors on a Redis Sentinel store survive a master failover under load (issue 17, 4).

A Redis master, one replica and three sentinels (Debian ``redis-sentinel``), two l7lb
instances sharing the store, and ``l7lb bench --share-sessions`` alternating between them
with a new connection per request that offers the session of the previous one. The VIP keeps
sessions in its session cache (``tickets = false``: session-ID resumption, no stateless
tickets) and the client speaks TLS 1.3, where every handshake issues a fresh session: so
every connection after a slot's first offers a session the *other* director just issued,
which it can only find in the store. (With TLS 1.2 a resumed session keeps its id, both
directors soon hold it in their local cache, and the store is no longer asked: the failover
would go unseen.) The master is killed mid-run. What must hold:

- no client error, ever (a dead store costs a full handshake, never a failed request);
- resumption back above 99 % within 15 s of the promotion, with no restart of l7lb;
- the outage and the switch to the new master logged once each, per process.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from procs import ROOT, STARTED, free_port, start_backend, start_proxy
from test_shared_state import director_config
from test_tls_proxy import make_cert

sys.path.insert(0, str(Path(__file__).parent.parent / "store"))
from engines import SentinelGroup

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

NAME = "www.example.com"
RUN_S = 30  # bench duration: ~4 s before the kill, the failover, then 15 s and more after it
KILL_AFTER_S = 4.0
# Requests per second in total, on a fixed schedule over 8 connection slots: each slot comes
# back every 160 ms. A new session is written to the store in the background right after its
# handshake, which on this busy 2-core machine (load average 9 while others build) can take
# tens of ms; a client that reconnects to the other director sooner than that gets a full
# handshake for that reason alone (a closed loop with 4 slots: 0.2-0.6 % of connections),
# which is not what this test is about.
SLOTS = 8
RATE = 50


def ratio(seconds: list[dict[str, int]]) -> tuple[float, int]:
    resumed = sum(t["handshakes_resumed"] for t in seconds)
    total = resumed + sum(t["handshakes_full"] for t in seconds)
    return (resumed / total if total else 0.0), total


def test_master_failover_under_load(tmp_path: Path) -> None:
    if shutil.which("redis-sentinel") is None:
        pytest.skip("redis-sentinel is not installed (CI installs it with apt)")
    group = SentinelGroup(tmp_path / "redis")
    proxies = []
    backend = None
    bench = None
    try:
        group.start()
        old_master, new_master = group.master.port, group.replica.port
        backend = start_backend("b1")
        cert = make_cert(tmp_path, NAME)
        namespace = "sf" + uuid.uuid4().hex[:8]
        ports = []
        for name in ("A", "B"):
            folder = tmp_path / name
            folder.mkdir()
            vip_ports = {"id": free_port(), "tk": free_port(), "plain": free_port()}
            ports.append(vip_ports["id"])
            config = director_config(
                group.url,
                namespace,
                vip_ports,
                cert,
                [backend],
                '  mode = "none"',  # sessions are the point here, not stickiness
                # the supervisor refreshes the ticket ring every second, so it meets the
                # outage and the new master too, not only the worker
                rotation="4s",
                # generous: a busy 2-core machine must not turn a slow lookup into an outage
                store_timeout="200ms",
            )
            proxies.append(start_proxy(folder, config, vip_ports["plain"], workers=1))

        out = tmp_path / "bench.json"
        argv = [
            sys.executable, "-m", "l7lb", "bench",
            *(f"https://127.0.0.1:{port}/" for port in ports),
            "--share-sessions", "--new-conn", "--tls-resume", "id", "--tls-version", "1.3",
            "--sni", NAME, "-k", "-c", str(SLOTS), "-p", "1", "-d", str(RUN_S), "--rate", str(RATE),
            "--json", str(out),
        ]  # fmt: skip
        bench = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        STARTED.append(bench)
        time.sleep(KILL_AFTER_S)
        group.master.stop()  # SIGKILL
        killed_at = time.time()
        promoted_at = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if group.master_port() == new_master:
                promoted_at = time.time()
                break
            time.sleep(0.1)
        assert promoted_at is not None, "the sentinels did not promote the replica"
        output = bench.communicate(timeout=RUN_S + 60)[0].decode(errors="replace")
        assert bench.returncode == 0, output

        s = json.loads(out.read_text())["runs"][0]["summary"]
        assert s["error_count"] == 0, s["errors"]
        assert s["requests"] >= 100, s["requests"]
        start = s["started_at"]
        timeline = s["timeline"]
        last = math.floor(s["elapsed_s"])  # the last second is cut short by the end of the run
        whole = [t for t in timeline if t["second"] < last]

        # Before the kill: the store works, so nearly every connection resumes the session
        # the other director issued.
        before = [t for t in whole if t["second"] >= 1 and start + t["second"] + 1 < killed_at]
        before_ratio, before_n = ratio(before)
        assert before_n >= 20 and before_ratio >= 0.99, (before_ratio, before_n)

        # After the promotion: the first second from which the ratio stays above 99 % for the
        # rest of the run, at most 15 s after the promotion.
        first = math.floor(promoted_at - start)
        recovered = None
        for second in range(first, last):
            rest = [t for t in whole if t["second"] >= second]
            rest_ratio, rest_n = ratio(rest)
            if rest_n and rest_ratio > 0.99:
                recovered = second
                break
        assert recovered is not None, timeline
        assert start + recovered - promoted_at <= 15, (recovered, promoted_at - start, timeline)
        tail_ratio, tail_n = ratio([t for t in whole if t["second"] >= recovered])
        assert tail_n >= 5 * RATE, tail_n  # enough handshakes after it to mean something
        # While the master is dead (whole seconds between the kill and the promotion), the
        # store cannot answer: those connections are full handshakes, and still no error.
        during = [t for t in whole if killed_at <= start + t["second"] < promoted_at - 1]
        during_ratio, during_n = ratio(during)
        if during_n:
            assert during_ratio < 0.5, during  # the store is on the path: its outage shows
        print(
            f"kill at {killed_at - start:.1f} s, promotion at {promoted_at - start:.1f} s; "
            f"resumed: {before_ratio:.1%} of {before_n} before, {during_ratio:.1%} of "
            f"{during_n} during the outage, above 99 % from {recovered} s "
            f"({tail_ratio:.2%} of {tail_n})"
        )

        # Logged once each, per process (supervisor and worker of each director), not per
        # request; the outage line names the master that died, the switch line both.
        for proxy in proxies:
            text = proxy.error_log()
            assert "Traceback" not in text, text
            roles = set(re.findall(r"l7lb\[(\d+)\] (supervisor|worker \d+):", text))
            assert len(roles) == 2, roles
            for pid, role in roles:
                mine = [line for line in text.splitlines() if f"l7lb[{pid}] {role}:" in line]
                down = [line for line in mine if "WARNING" in line and "unreachable" in line]
                moved = [line for line in mine if "WARNING" in line and "moved from" in line]
                assert len(down) == 1 and f"127.0.0.1:{old_master}" in down[0], (role, mine)
                assert len(moved) == 1, (role, mine)
                assert f"127.0.0.1:{old_master} to 127.0.0.1:{new_master}" in moved[0]
            # l7lb was not restarted: one supervisor, the same one, still serving
            assert proxy.proc.poll() is None
    finally:
        if bench is not None and bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)
            bench.wait()
        for proxy in proxies:
            proxy.stop()
        if backend is not None:
            backend.stop()
        group.stop()
