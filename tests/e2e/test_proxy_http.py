"""End-to-end: l7lb run as a subprocess, real backends, real clients."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from procs import Backend, Proxy, basic_config, free_port, start_backend, start_proxy


def request(
    port: int,
    path: str = "/",
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def raw_exchange(port: int, data: bytes, timeout: float = 5.0, until_close: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                chunks.append(d)
                if not until_close and b"\r\n\r\n" in b"".join(chunks):
                    break
        except TimeoutError:
            pass
        return b"".join(chunks)


PARSERS = ["httptools", "h11"]


def _start(tmp: Path, backends: list[Backend], parser: str) -> Proxy:
    port = free_port()
    return start_proxy(
        tmp, basic_config(port, backends, extra=f'[http]\nparser = "{parser}"\n'), port
    )


@pytest.fixture(scope="module")
def shared_backends() -> Iterator[list[Backend]]:
    bs = [start_backend(f"b{i}") for i in (1, 2, 3)]
    yield bs
    for b in bs:
        b.stop()


@pytest.fixture(scope="module", params=PARSERS)
def proxy(request, tmp_path_factory, shared_backends) -> Iterator[Proxy]:
    """One l7lb per parser for the module's tests that only send requests through it (none
    stops it, reloads it or counts what the backends saw): started once, not per test, and
    still required to exit cleanly at the end."""
    p = _start(tmp_path_factory.mktemp(f"proxy-{request.param}"), shared_backends, request.param)
    yield p
    assert p.stop() == 0


def backend_paths(backends: list[Backend]) -> list[dict[str, int]]:
    """Each backend's count of requests per path since it started (its /stats)."""
    return [json.loads(request(b.port, "/stats")[2])["paths"] for b in backends]


@pytest.fixture(params=PARSERS)
def fresh_proxy(request, tmp_path, shared_backends) -> Iterator[tuple[Proxy, list[dict[str, int]]]]:
    """An l7lb of the test's own, for a test that stops it, and what the backends had been
    asked before it started: the test counts every request they get from it."""
    seen = backend_paths(shared_backends)
    p = _start(tmp_path, shared_backends, request.param)
    yield p, seen
    assert p.stop() == 0


def test_round_robin_over_all_backends(proxy):
    names = [request(proxy.port)[2].decode().strip() for _ in range(6)]
    assert Counter(names) == {"b1": 2, "b2": 2, "b3": 2}


def test_access_log_names_pool_and_server(proxy):
    status, _, _ = request(proxy.port, "/?x=1", headers={"User-Agent": "tester/1"})
    assert status == 200
    deadline = time.monotonic() + 3
    while "tester/1" not in proxy.access_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = proxy.access_log().strip().splitlines()[-1]
    assert '"GET /?x=1 HTTP/1.1" 200' in line
    assert "pool=web" in line and "server=b" in line and '"tester/1"' in line


def test_forwarding_headers_and_hop_by_hop_removed(proxy):
    status, _, body = request(
        proxy.port,
        "/headers",
        headers={
            "X-Forwarded-For": "203.0.113.9",
            "X-Forwarded-Proto": "https",
            "Connection": "keep-alive, X-Secret",
            "X-Secret": "drop me",
            "Keep-Alive": "timeout=5",
            "X-Kept": "yes",
        },
    )
    assert status == 200
    seen = dict((k.lower(), v) for k, v in json.loads(body)["headers"])
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"] == f"127.0.0.1:{proxy.port}"
    assert seen["via"] == "1.1 l7lb"
    assert seen["x-kept"] == "yes"
    assert "x-secret" not in seen and "keep-alive" not in seen


def test_http10_request_without_host_reaches_the_backend(proxy):
    # `openssl s_time -www /` sends exactly this; the backend speaks 1.1 and needs a Host
    reply = raw_exchange(proxy.port, b"GET /headers HTTP/1.0\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), head
    seen = dict((k.lower(), v) for k, v in json.loads(body)["headers"])
    assert re.fullmatch(r"127\.0\.0\.1:\d+", seen["host"]), seen
    assert "x-forwarded-host" not in seen


@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_bytes_after_a_response_never_answer_the_next_request(tmp_path, parser):
    # The backend sends a body to HEAD, and that body is a complete response. The client
    # pipelined a GET behind the HEAD, to the same (only) realserver: it must get that
    # server's answer, not the bytes left on the connection (a response desync).
    b = start_backend("solo")
    port = free_port()
    cfg = basic_config(port, [b], extra=f'[http]\nparser = "{parser}"\n')
    p = start_proxy(tmp_path, cfg, port, workers=1)
    try:
        reply = raw_exchange(
            port,
            b"HEAD /smuggle HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        assert b"INJECTED" not in reply and b"x-injected" not in reply.lower(), reply
        first, _, second = reply.partition(b"\r\n\r\n")
        assert first.startswith(b"HTTP/1.1 200 ") and b"content-length: 63" in first.lower()
        assert re.fullmatch(rb"HTTP/1\.1 200 .*\r\n\r\nsolo\n", second, re.S), second
        deadline = time.monotonic() + 3
        while (
            "bytes after the end of a response" not in p.error_log() and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        assert "bytes after the end of a response to HEAD" in p.error_log()
    finally:
        assert p.stop() == 0
        b.stop()


def test_location_of_realserver_rewritten_to_vip(proxy):
    status, headers, _ = request(proxy.port, "/redirect")
    assert status == 302
    assert headers["location"] == f"http://127.0.0.1:{proxy.port}/target"


def test_keepalive_reused_on_both_sides(tmp_path):
    b = start_backend("solo")
    port = free_port()
    p = start_proxy(tmp_path, basic_config(port, [b]), port)
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        counts = []
        for _ in range(10):
            c.request("GET", "/conn")
            r = c.getresponse()
            assert r.status == 200
            counts.append(int(r.read()))
        c.close()
        # one backend connection served all ten requests
        assert len(set(counts)) == 1
    finally:
        p.stop()
        b.stop()


def test_chunked_both_ways(proxy):
    def chunks():
        for i in range(5):
            yield b"piece %d;" % i

    c = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    c.request(
        "POST",
        "/echo",
        body=chunks(),
        encode_chunked=True,
        headers={"Transfer-Encoding": "chunked"},
    )
    r = c.getresponse()
    assert r.status == 200
    assert r.getheader("transfer-encoding") == "chunked"
    assert r.read() == b"".join(b"piece %d;" % i for i in range(5))
    c.close()
    _status, _headers, body = request(proxy.port, "/chunked?n=4")
    assert body == b"".join(b"chunk %d\n" % i for i in range(4))


def test_close_delimited_response_becomes_chunked(proxy):
    c = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
    c.request("GET", "/close")
    r = c.getresponse()
    assert r.read() == b"close-delimited body\n"
    assert r.getheader("transfer-encoding") == "chunked"
    c.request("GET", "/")  # the client connection survived
    assert c.getresponse().status == 200
    c.close()


def test_pipelined_requests_answered_in_order(proxy):
    reqs = (
        b"".join(
            b"GET /status?code=%d HTTP/1.1\r\nHost: x\r\n\r\n" % code for code in (201, 202, 203)
        )
        + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    out = raw_exchange(proxy.port, reqs)
    statuses = [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", out)]
    assert statuses == [201, 202, 203, 200]


def test_head_204_304_have_no_body(proxy):
    out = raw_exchange(
        proxy.port,
        b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /status?code=204 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /status?code=304 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    parts = out.split(b"HTTP/1.1 ")
    assert [p[:3] for p in parts[1:]] == [b"200", b"204", b"304", b"200"]
    assert parts[1].endswith(b"\r\n\r\n")  # HEAD: headers only
    assert b"content-length: 3" in parts[1].lower()
    assert parts[2].endswith(b"\r\n\r\n") and parts[3].endswith(b"\r\n\r\n")


def test_expect_100_continue(proxy):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
        s.sendall(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 100 Continue\r\n")
        s.sendall(b"hello")
        buf = b""
        while b"\n5\n" not in buf and not buf.endswith(b"5\n"):
            d = s.recv(4096)
            if not d:
                break
            buf += d
        assert buf.startswith(b"HTTP/1.1 200 ")
        assert buf.endswith(b"5\n")


def test_websocket_echo_through_tunnel(proxy):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as s:
        s.sendall(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"upgrade: websocket" in head.lower()
        rest = head.split(b"\r\n\r\n", 1)[1]
        # a masked text frame "hi" (RFC 6455 5.2); the test backend echoes raw bytes
        masked = bytes(c ^ k for c, k in zip(b"hi", b"\x01\x02", strict=True))
        frame = bytes([0x81, 0x82, 1, 2, 3, 4]) + masked
        for _i in range(3):
            s.sendall(frame)
            got = rest
            while len(got) < len(frame):
                got += s.recv(4096)
            assert got[: len(frame)] == frame
            rest = got[len(frame) :]


def test_backend_down_is_retried_on_another_server(tmp_path):
    good = start_backend("good")
    dead_port = free_port()
    dead = Backend("dead", dead_port, good.proc)  # nothing listens on dead_port
    port = free_port()
    p = start_proxy(tmp_path, basic_config(port, [dead, good]), port)
    try:
        for _ in range(6):
            status, _, body = request(port)
            assert (status, body) == (200, b"good\n")
        assert "connect failed" in p.error_log()
    finally:
        p.stop()
        good.stop()


def test_all_backends_down_502(tmp_path):
    port = free_port()
    dead = [Backend(f"d{i}", free_port(), None) for i in range(2)]  # type: ignore[arg-type]
    p = start_proxy(tmp_path, basic_config(port, dead), port)
    try:
        status, _headers, body = request(port)
        assert status == 502
        assert b"502 Bad Gateway" in body
    finally:
        p.stop()


def test_backend_garbage_and_reset_502(proxy):
    assert request(proxy.port, "/garbage")[0] == 502
    assert request(proxy.port, "/reset")[0] == 502
    assert request(proxy.port, "/")[0] == 200


def test_slow_backend_504(tmp_path, backends):
    port = free_port()
    cfg = basic_config(port, backends[:1], extra='[timeouts]\nbackend_response = "1s"\n')
    p = start_proxy(tmp_path, cfg, port)
    try:
        t0 = time.monotonic()
        status, headers, _body = request(port, "/slow?delay=5")
        assert status == 504
        assert time.monotonic() - t0 < 4
        assert headers["connection"] == "close"
    finally:
        p.stop()


def test_slowloris_cut_off_with_408_while_others_served(tmp_path, backends):
    port = free_port()
    cfg = basic_config(port, backends, extra='[timeouts]\nrequest_head = "2s"\n')
    p = start_proxy(tmp_path, cfg, port)
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        t0 = time.monotonic()
        got = b""
        for byte in head:
            try:
                s.sendall(bytes([byte]))
            except OSError:
                break
            # meanwhile another client is served normally
            assert request(port)[0] == 200
            s.settimeout(0.3)
            with contextlib.suppress(TimeoutError):
                got += s.recv(4096)
            if got or time.monotonic() - t0 > 6:
                break
        assert got.startswith(b"HTTP/1.1 408 ")
        assert 1.5 < time.monotonic() - t0 < 4
        s.close()
    finally:
        p.stop()


def test_oversize_head_431_and_long_uri_414(proxy):
    big = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n"
    assert raw_exchange(proxy.port, big).startswith(b"HTTP/1.1 431 ")
    long_uri = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert raw_exchange(proxy.port, long_uri).startswith(b"HTTP/1.1 414 ")


@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.1\r\n\r\n",  # no Host
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        b"\x00\x01\x02 garbage\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
    ],
)
def test_malformed_requests_400_never_reach_backend(fresh_proxy, shared_backends, raw):
    proxy, paths_before = fresh_proxy
    backends = shared_backends
    assert request(proxy.port, "/conn")[0] == 200  # a probe: one forwarded request

    def connections() -> list[int]:
        """Each backend's count of accepted connections, not counting this question."""
        return [int(request(b.port, "/conn")[2]) - 1 for b in backends]

    before = connections()
    out = raw_exchange(proxy.port, raw)
    assert out.startswith(b"HTTP/1.1 400 ") or out.startswith(b"HTTP/1.1 501 ")
    assert b"connection: close" in out.lower()
    # Stopped, the proxy has finished everything it started and flushed its access log
    # (which it otherwise writes every 200 ms): what the backends saw is now all they see.
    assert proxy.stop() == 0
    forwarded = [ln for ln in proxy.access_log().splitlines() if "server=b" in ln]
    assert len(forwarded) == 1 and "/conn" in forwarded[0], forwarded
    # and the backends' own account: one connection and one request in all, the probe's
    after = connections()
    assert after == [n + 1 for n in before], (before, after)  # our own questions only
    # (counted from what they had been asked before this test's l7lb started)
    paths = [
        {path: n - was.get(path, 0) for path, n in now.items() if n != was.get(path, 0)}
        for was, now in zip(paths_before, backend_paths(backends), strict=True)
    ]
    assert [p for p in paths if set(p) - {"/conn", "/stats"}] == [], paths
    assert sum(p.get("/conn", 0) for p in paths) == 1 + 2 * len(backends), paths


def test_worker_restarted_after_crash(tmp_path, backends):
    port = free_port()
    p = start_proxy(tmp_path, basic_config(port, backends), port, workers=2)
    try:
        pids = p.worker_pids()
        assert len(pids) == 2
        subprocess.run(["kill", "-9", str(pids[0])], check=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = p.worker_pids()
            if len(now) == 2 and pids[0] not in now:
                break
            time.sleep(0.1)
        assert len(p.worker_pids()) == 2 and pids[0] not in p.worker_pids()
        assert "restarting" in p.error_log()
        assert request(port)[0] == 200
    finally:
        p.stop()
