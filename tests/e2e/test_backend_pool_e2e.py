"""End-to-end: the backend side of a pool that had no test (issue 15, section 8): how many
idle connections are kept (max_idle, 0 included), how long (idle_timeout), and passive
failure back-off on real traffic.

The backends count the connections they accept (``/conn``), which tells a reused backend
connection from a new one.
"""

from __future__ import annotations

import http.client
import threading
import time

import pytest
from procs import Backend, basic_config, free_port, start_backend, start_proxy

pytestmark = pytest.mark.timeout(120)


def get(port: int, path: str) -> bytes:
    """One request on a new client connection; the body of its 200."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", path)
        r = c.getresponse()
        assert r.status == 200
        return r.read()
    finally:
        c.close()


def conn_count(port: int) -> int:
    """The backend's count of the connections it accepted, asked through the proxy."""
    return int(get(port, "/conn"))


@pytest.fixture
def solo():
    b = start_backend("solo")
    yield b
    b.stop()


def test_max_idle_0_closes_each_backend_connection(tmp_path, solo):
    port = free_port()
    p = start_proxy(tmp_path, basic_config(port, [solo], pool_extra="max_idle = 0"), port)
    try:
        counts = [conn_count(port) for _ in range(5)]
        # a new backend connection for every request
        assert counts == list(range(counts[0], counts[0] + 5)), counts
    finally:
        p.stop()


def test_max_idle_keeps_that_many_idle_connections(tmp_path, solo):
    """Three requests at once need three backend connections; afterwards max_idle = 1
    keeps one of them: three more at once reuse it and open two."""
    port = free_port()
    p = start_proxy(tmp_path, basic_config(port, [solo], pool_extra="max_idle = 1"), port)
    try:

        def together() -> list[bytes]:
            out: list[bytes] = []
            ts = [
                threading.Thread(target=lambda: out.append(get(port, "/slow?delay=1")))
                for _ in range(3)
            ]
            for t in ts:
                t.start()
            for t in ts:
                t.join(60)
            return out

        assert together() == [b"solo\n"] * 3
        first = conn_count(port)  # reuses the one idle connection kept
        assert together() == [b"solo\n"] * 3
        second = conn_count(port)
        assert second == first + 2, (first, second)
    finally:
        p.stop()


def test_idle_timeout_closes_idle_backend_connections(tmp_path, solo):
    port = free_port()
    cfg = basic_config(port, [solo], pool_extra='idle_timeout = "1s"')
    p = start_proxy(tmp_path, cfg, port)
    try:
        first = conn_count(port)
        time.sleep(0.2)
        assert conn_count(port) == first  # idle less than idle_timeout: reused
        # closed by the sweep between one and two idle_timeouts after it went idle
        time.sleep(3.5)
        assert conn_count(port) == first + 1
    finally:
        p.stop()


def test_passive_failures_put_a_server_in_back_off_then_try_it_again(tmp_path):
    """A server that refuses connections is tried by real requests (each then served by
    the other server) until passive_failures in a row; then it is left alone for
    passive_backoff, and once that has passed one request tries it again."""
    good = start_backend("good")
    later = free_port()  # nothing listens here yet
    port = free_port()
    cfg = basic_config(
        port,
        [Backend("later", later, good.proc), good],
        pool_extra='[pool.web.health]\npassive_failures = 2\npassive_backoff = "3s"',
        extra='[log]\naccess = "off"\n',
    )
    p = start_proxy(tmp_path, cfg, port)
    revived = None
    try:

        def served_by() -> str:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                c.request("GET", "/")
                r = c.getresponse()
                assert r.status == 200
                return r.read().decode().strip()
            finally:
                c.close()

        def failures() -> int:
            return p.error_log().count("connect failed")

        # round robin over the two: every other request meets "later", fails over to "good"
        deadline = time.monotonic() + 30
        while "in back-off" not in p.error_log() and time.monotonic() < deadline:
            assert served_by() == "good"
        assert "server later: 2 consecutive failures, in back-off for 3s" in p.error_log()
        assert failures() == 2
        backed_off = time.monotonic()
        revived = start_backend("later", later)  # it is back, but in back-off
        served = [served_by() for _ in range(6)]
        if time.monotonic() - backed_off < 2.5:  # well inside the back-off (a busy machine
            assert served == ["good"] * 6, served  # may be slower than that)
        assert failures() == 2  # nothing tried it meanwhile
        time.sleep(max(0.0, backed_off + 3.5 - time.monotonic()))
        seen = {served_by() for _ in range(6)}
        assert "later" in seen, seen
    finally:
        p.stop()
        good.stop()
        if revived is not None:
            revived.stop()
