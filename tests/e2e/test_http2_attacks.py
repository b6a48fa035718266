"""HTTP/2 attacks against a real l7lb, each from a raw-frame client, with the outcome the
issue names: GOAWAY, bounded work, no backend connection left open, other clients served."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import hpack
import pytest
from h2client import Raw, Session
from h2wire import (
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    ENHANCE_YOUR_CALM,
    GOAWAY,
    HEADERS,
    PING,
    frame,
    ping,
)
from procs import free_port, start_backend, start_proxy

from l7lb.tls.certtool import certs_main

HERE = Path(__file__).resolve().parent


@pytest.fixture
def backend():
    b = start_backend("b1")
    yield b
    b.stop()


def tls_proxy(tmp: Path, backend, extra: str = "", workers: int = 1):
    assert certs_main(["new", "--cn", "localhost", "--self-signed", "--out", str(tmp / "c")]) == 0
    port = free_port()
    config = f"""
[log]
access = "{tmp / "access.log"}"
{extra}
[[vip]]
name = "tls"
listen = ["127.0.0.1:{port}"]
tls = {{ certificates = [{{ cert = "{tmp / "c.pem"}", key = "{tmp / "c.key"}" }}] }}
  [[vip.route]]
  pool = "web"
[pool.web]
idle_timeout = "1s"
  [[pool.web.server]]
  address = "{backend.address}"
"""
    return start_proxy(tmp, config, port, workers=workers)


def backend_connections(backend_port: int) -> int:
    """Established TCP connections to the backend's port (from l7lb)."""
    out = subprocess.run(
        ["ss", "-tnH", "state", "established", f"( dport = :{backend_port} )"],
        capture_output=True,
        text=True,
    ).stdout
    return len([ln for ln in out.splitlines() if ln.strip()])


def wait_no_backend_connections(port: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    n = backend_connections(port)
    while n and time.monotonic() < deadline:
        time.sleep(0.2)
        n = backend_connections(port)
    return n


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98]


def latencies(session: Session, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = session.get("/")
        out.append(time.perf_counter() - t)
        assert r.status == 200 and r.body == b"b1\n"
    return out


def test_rapid_reset(tmp_path, backend) -> None:
    """10,000 HEADERS+RST_STREAM pairs written at once, on one connection after another
    for 8 s: each connection gets GOAWAY ENHANCE_YOUR_CALM after about a hundred of its
    streams (the rest are never read), no backend connection stays open, and a second
    client's p99 latency during the attack is within twice its p99 before (with a 10 ms
    floor under the baseline: on a busy 2-core machine a p99 of a few milliseconds moves by
    more than that on its own)."""
    p = tls_proxy(tmp_path, backend)
    try:
        [worker] = p.worker_pids()
        good = Session(p.port)
        latencies(good, 20)  # warm up
        before = latencies(good, 200)
        cpu0 = cpu_seconds(worker)
        attack = subprocess.Popen(
            [sys.executable, str(HERE / "h2attack.py"), "rapid-reset", str(p.port), "10000", "8"],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.5)  # under way
        during = []
        while attack.poll() is None and len(during) < 400:
            during += latencies(good, 10)
        out, _ = attack.communicate(timeout=120)
        cpu = cpu_seconds(worker) - cpu0
        result = json.loads(out)
        good.close()
        conns = result["connections"]
        # l7lb closes with thousands of the client's bytes unread: the kernel then resets
        # the connection, which can destroy the GOAWAY in the client's receive buffer
        # before it is read (in CI 609 of 953 arrived, in other runs over 80 %). So the
        # client's count only shows the code; l7lb's own log counts every GOAWAY it sent
        # (the last connection may end at the attack's 8 s before its limit)
        assert conns >= 2 and result["goaway"], result
        assert set(result["goaway"]) == {ENHANCE_YOUR_CALM}, result
        calmed = p.error_log().count("GOAWAY ENHANCE_YOUR_CALM, connection closed")
        assert conns - 1 <= calmed <= conns, (calmed, conns)
        assert all(n <= 101 for n in result["taken"]), result
        # the access log has one 499 line per stream that reached an exchange: about a
        # hundred per connection, of the 10,000 each one wrote
        time.sleep(0.5)  # the log is flushed every 200 ms
        reset = p.access_log().count('" 499 ')
        assert reset <= 101 * conns, (reset, conns)
        assert len(during) >= 50
        assert cpu / conns < 0.05  # a TLS handshake and ~100 streams each, no more
        print(f"\nrapid reset: {conns} connections of 10,000 pairs, {reset} streams processed; "
              f"worker CPU {cpu:.2f} s; p99 before {p99(before) * 1000:.1f} ms, during "
              f"{p99(during) * 1000:.1f} ms ({len(during)} requests)")  # fmt: skip
        assert p99(during) <= 2 * max(p99(before), 0.010)
        assert wait_no_backend_connections(backend.port) == 0
    finally:
        p.stop()


def test_a_continuation_flood_is_closed_before_64_kib(tmp_path, backend) -> None:
    p = tls_proxy(tmp_path, backend)
    try:
        raw = Raw(p.port)
        sent = 0
        raw.send(frame(HEADERS, 0, 1, b"\x82\x87"))
        while not raw.closed and sent < 1_000_000:
            if not raw.send(frame(CONTINUATION, 0, 1, b"\x00" * 4000)):
                break
            sent += 4000
            raw.read(0.01)
        frames = raw.wait_closed()
        goaway = [f for f in frames if f.kind == GOAWAY]
        assert goaway and goaway[0].error_code() == ENHANCE_YOUR_CALM
        # closed at the 17th CONTINUATION (16 allowed): 64,000 bytes is the most the
        # server read of the block; what the client wrote after that was discarded
        assert raw.closed and sent < 65536 + 16 * 4000, sent
        s = Session(p.port)  # the worker serves on
        assert s.get("/").status == 200
        s.close()
    finally:
        p.stop()


def test_an_hpack_bomb_is_refused(tmp_path, backend) -> None:
    p = tls_proxy(tmp_path, backend)
    try:
        [worker] = p.worker_pids()
        rss0 = rss_kib(worker)
        raw = Raw(p.port)
        enc = hpack.Encoder()
        req = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"localhost")]
        first = enc.encode([*req, (b":path", b"/"), (b"x-big", b"b" * 4000)])
        raw.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, first))
        # 16,000 one-byte references to the 4 KB entry: 64 MB if materialised
        bomb = enc.encode([*req, (b":path", b"/")]) + b"\xbe" * 16000
        raw.send(
            frame(HEADERS, 0, 3, bomb[:16000]) + frame(CONTINUATION, END_HEADERS, 3, bomb[16000:])
        )
        # both answers, then a PING's ACK: l7lb read on past the bomb and serves on (the
        # test once simply read for 3 s)
        deadline = time.monotonic() + 10
        while {f.sid for f in raw.frames if f.kind == HEADERS} != {1, 3}:
            if raw.closed or time.monotonic() > deadline:
                break
            raw.read(0.2)
        raw.send(ping(b"afterbmb"))
        while not any(f.kind == PING and f.payload == b"afterbmb" for f in raw.frames):
            if raw.closed or time.monotonic() > deadline:
                break
            raw.read(0.2)
        frames = raw.frames
        heads = [f for f in frames if f.kind == HEADERS and f.sid == 3]
        assert heads, frames
        assert any(f.kind == PING and f.payload == b"afterbmb" for f in frames), frames
        dec = hpack.Decoder()
        statuses = [
            dict(dec.decode(f.payload, raw=True))[b":status"] for f in frames if f.kind == HEADERS
        ]
        assert sorted(statuses) == [b"200", b"431"]
        assert not raw.closed  # refused, and the connection serves on
        assert rss_kib(worker) - rss0 < 20_000
        raw.close()
    finally:
        p.stop()


def test_a_window_held_at_zero_is_timed_out_and_nothing_leaks(tmp_path, backend) -> None:
    """The default is 60 s ([timeouts] client_idle, checked twice: 60 to 120 s); the test
    shortens it to 2 s to stay bounded."""
    p = tls_proxy(tmp_path, backend, extra='[timeouts]\nclient_idle = "2s"')
    try:
        raw = Raw(p.port, initial_window_size=0)
        block = b"\x82\x87\x01\x09localhost" + b"\x04\x11/big?size=9000000"
        raw.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, block))
        t0 = time.monotonic()
        frames = raw.wait_closed(15.0)
        elapsed = time.monotonic() - t0
        assert raw.closed and 2.0 <= elapsed < 8.0, elapsed
        assert [f.kind for f in frames if f.kind in (HEADERS, DATA)] == [HEADERS]
        assert frames[-1].kind == GOAWAY
        assert wait_no_backend_connections(backend.port) == 0
        s = Session(p.port)
        assert s.get("/").status == 200
        s.close()
    finally:
        p.stop()


def test_a_ping_flood_gets_goaway(tmp_path, backend) -> None:
    p = tls_proxy(tmp_path, backend)
    try:
        raw = Raw(p.port)
        raw.send(b"".join(ping(b"%08d" % i) for i in range(1000)))
        frames = raw.wait_closed()
        acks = [f for f in frames if f.kind == PING]
        assert 100 <= len(acks) <= 101
        assert frames[-1].kind == GOAWAY and frames[-1].error_code() == ENHANCE_YOUR_CALM
    finally:
        p.stop()
