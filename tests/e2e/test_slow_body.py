"""Slow request bodies end to end (issue 15, section 3): a trickled body gets 408 and its
backend connection is closed; the total body deadline; l7lb's own pauses are not held
against a fast client; and 800 slow-POST connections leave a normal client served."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from procs import HERE, STARTED, free_port, start_backend, start_proxy

pytestmark = pytest.mark.timeout(120)


class RecordingBackend:
    """A realserver on a real socket that keeps what each connection sent and when the
    proxy closed it; ``hold`` seconds before it reads anything (a backend slow to take a
    body), then it answers 200 once the whole body (Content-Length) is in."""

    def __init__(self, hold: float = 0.0) -> None:
        self.hold = hold
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received: list[bytes] = []
        self.closed_at: list[float] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        index = len(self.received)
        self.received.append(b"")
        time.sleep(self.hold)
        data = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    self.closed_at.append(time.monotonic())
                    return
                data += chunk
                self.received[index] = data
                head, sep, body = data.partition(b"\r\n\r\n")
                if sep:
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    if len(body) >= length:
                        answer = b"%d" % len(body)
                        conn.sendall(
                            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                            % (len(answer), answer)
                        )
                        data = b""

    def stop(self) -> None:
        self.listener.close()


def read_response(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the proxy sends until it closes the connection, and when it closed."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data, -1.0
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return data, time.monotonic()
        data += chunk


def proxy_config(port: int, backend: RecordingBackend, timeouts: str) -> str:
    return f"""
[timeouts]
{timeouts}
[[vip]]
name = "test"
listen = ["127.0.0.1:{port}"]
  [[vip.route]]
  pool = "web"
[pool.web]
  [[pool.web.server]]
  address = "{backend.address}"
"""


def test_a_trickled_body_gets_408_and_its_backend_connection_is_closed(tmp_path: Path) -> None:
    backend = RecordingBackend()
    port = free_port()
    proxy = start_proxy(
        tmp_path,
        proxy_config(port, backend, 'body_min_rate = 1024\nbody_rate_window = "1s"'),
        port,
    )
    try:
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        t0 = time.monotonic()
        # one byte every 0.3 s: an idle timer sees progress every time and never fires
        s.settimeout(0.3)
        data = b""
        while time.monotonic() - t0 < 5:
            try:
                s.sendall(b"x")
                chunk = s.recv(65536)
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                break
            if not chunk:
                break
            data += chunk
        closed = time.monotonic() - t0
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), data
        assert b"connection: close" in head.lower()
        assert b"request body too slow" in body
        # the first check comes one window (1 s) after the head
        assert 0.9 <= closed < 3.0, closed
        deadline = time.monotonic() + 3
        while not backend.closed_at and time.monotonic() < deadline:
            time.sleep(0.02)
        assert backend.closed_at, "the backend connection that got part of the body stays open"
        assert backend.received[0].startswith(b"POST /upload HTTP/1.1\r\n")
        assert backend.received[0].endswith(b"x")  # part of the body reached it
        time.sleep(0.3)  # the access log flushes every 200 ms
        assert " 408 " in proxy.access_log()
        assert "request body too slow" in proxy.error_log()
    finally:
        proxy.stop()
        backend.stop()


def test_the_total_body_deadline_cuts_a_fast_endless_body(tmp_path: Path) -> None:
    backend = RecordingBackend()
    port = free_port()
    proxy = start_proxy(
        tmp_path,
        proxy_config(port, backend, 'body_min_rate = 0\nbody_deadline = "1s"'),
        port,
    )
    try:
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n")
        t0 = time.monotonic()
        s.settimeout(0.05)
        data = b""
        while time.monotonic() - t0 < 5:
            try:
                s.sendall(b"y" * 20_000)  # 400 KB/s: fast, but never done
                data += s.recv(65536)
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                break
            if data.endswith(b"\n") and b"\r\n\r\n" in data:
                break
        elapsed = time.monotonic() - t0
        s.close()
        assert data.startswith(b"HTTP/1.1 408 "), data[:200]
        assert b"body_deadline (1s)" in data
        assert 0.9 <= elapsed < 3.0
    finally:
        proxy.stop()
        backend.stop()


def test_a_fast_upload_to_a_slow_backend_is_not_cut(tmp_path: Path) -> None:
    """The backend reads nothing for 3 s (3 windows): l7lb stops reading the body (its
    buffers fill) and does not hold that pause against the client, who sent at full speed."""
    backend = RecordingBackend(hold=3.0)
    port = free_port()
    proxy = start_proxy(
        tmp_path,
        proxy_config(port, backend, 'body_min_rate = "1MiB/s"\nbody_rate_window = "1s"'),
        port,
    )
    try:
        size = 8 * 1024 * 1024
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        t0 = time.monotonic()
        s.sendall(b"z" * size)  # blocks while l7lb does not read: that is the point
        data, _ = read_response(s, 15.0)
        s.close()
        assert time.monotonic() - t0 > 2.5  # it did wait for the backend
        assert data.startswith(b"HTTP/1.1 200 OK"), data[:200]
        assert data.endswith(b"%d" % size)
    finally:
        proxy.stop()
        backend.stop()


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _timed_get(port: int) -> float:
    """One request on a new connection, as a browser's first request: seconds it took."""
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: normal\r\nConnection: close\r\n\r\n")
        data, _ = read_response(s, 5.0)
    took = time.perf_counter() - t0
    assert data.startswith(b"HTTP/1.1 200 OK"), data[:200]
    return took


@pytest.mark.slow
def test_800_slow_posts_leave_normal_clients_served(tmp_path: Path) -> None:
    """800 connections POST bodies at one byte a second, with the default body rules (at
    least 1 KiB/s over 10 s windows), reconnecting as soon as they are cut; meanwhile one
    normal client makes requests, one new connection each. The uploads go to one realserver,
    the normal requests to another, as on a real site with an upload service.

    The bound: the issue asks for p99 under 50 ms. On this 2-core machine, shared with
    other work, the normal client's own p99 without any attack varies from a few
    milliseconds to tens, so the test measures it first, then during the attack (which
    includes the wave of 800 cuts and reconnects), and allows the larger of 50 ms and 3 x
    the p99 before: the attack may cost the proxy some CPU, it must not make a normal client
    wait an order of magnitude longer. The attack is checked to be real (800 open at once)
    and to be cut by the body rate: every first attacker connection gets its 408 about 10 s
    after its head; without the rule none would, ever."""
    uploads, web = start_backend("uploads"), start_backend("web")
    port = free_port()
    text = f"""
[log]
access = "off"
[[vip]]
name = "test"
listen = ["127.0.0.1:{port}"]
  [[vip.route]]
  path_prefix = "/upload"
  pool = "uploads"
  [[vip.route]]
  pool = "web"
[pool.uploads]
  [[pool.uploads.server]]
  address = "{uploads.address}"
[pool.web]
  [[pool.web.server]]
  address = "{web.address}"
"""
    proxy = start_proxy(tmp_path, text, port)
    attack = None
    try:
        for _ in range(20):
            _timed_get(port)  # warm up
        before = [_timed_get(port) for _ in range(300)]
        seconds, spread = 17.0, 4.0
        script = str(HERE / "slow_post_attack.py")
        attack = subprocess.Popen(
            [sys.executable, script, "127.0.0.1", str(port), "800", str(seconds), str(spread)],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        STARTED.append(attack)  # type: ignore[arg-type]
        time.sleep(spread + 0.5)  # every attacker connected
        during = []
        end = time.monotonic() + seconds - spread - 1.5
        while time.monotonic() < end:
            during.append(_timed_get(port))
        out, _ = attack.communicate(timeout=30)
        result = json.loads(out)
        p99_before, p99_during = _p99(before), _p99(during)
        bound = max(0.050, 3 * p99_before)
        print(
            f"normal client: p99 {p99_before * 1000:.1f} ms before, {p99_during * 1000:.1f} ms"
            f" during ({len(during)} requests); bound {bound * 1000:.1f} ms; attack {result}"
        )
        assert result["most_open"] >= 790, result  # the attack held ~800 connections
        assert result["connect_errors"] == 0, result
        # cut by the body rate: each of the 800 first connections
        assert result["statuses"].get("408", 0) >= 800, result
        assert set(result["statuses"]) == {"408"}, result
        assert len(during) >= 100
        assert p99_during < bound, (p99_before, p99_during)
    finally:
        if attack is not None and attack.poll() is None:
            attack.kill()
            attack.wait()
        proxy.stop()
        uploads.stop()
        web.stop()
