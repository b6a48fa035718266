"""End to end: TLS server processes (``tls_server_proc.py``) and real clients.

openssl s_client (SNI, -sess_out/-sess_in, -reconnect), curl --resolve and
Python sockets; resumption across two server processes through the session
server; cross-VIP and cross-name non-resumption; bad input and fd leaks.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    def __init__(self, args: list[str]) -> None:
        self.p = subprocess.Popen(
            [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.p.stdout is not None
        line = self.p.stdout.readline()
        if line.strip() != "READY":
            self.p.kill()
            raise RuntimeError(f"server did not start: {line} {self.p.stderr.read()}")  # type: ignore[union-attr]

    @property
    def pid(self) -> int:
        return self.p.pid

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self) -> str:
        self.p.terminate()
        try:
            _, err = self.p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            _, err = self.p.communicate()
        return err


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.stop()


def start_server(procs: list[Proc], vips: list[dict[str, Any]], **cfg: Any) -> Proc:
    p = Proc([str(HERE / "tls_server_proc.py"), json.dumps({"vips": vips, **cfg})])
    procs.append(p)
    return p


def start_session_server(procs: list[Proc], path: str) -> Proc:
    p = Proc([str(HERE / "session_server_proc.py"), path])
    procs.append(p)
    return p


def tls(*pairs: tuple[str, str], **kw: Any) -> dict[str, Any]:
    return {"certificates": [{"cert": c, "key": k} for c, k in pairs], **kw}


def s_client(
    port: int, sni: str | None, *extra: str, request: bool = True
) -> tuple[str, dict[str, Any] | None]:
    """One openssl s_client run; returns (its output, the server's JSON answer or None)."""
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *extra]
    if sni:
        args += ["-servername", sni]
    p = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert p.stdin is not None and p.stdout is not None
    seen = b""
    if request:
        with contextlib.suppress(BrokenPipeError):  # a refused client exits at once
            p.stdin.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            p.stdin.flush()
        # Until the answer is in (TLS 1.3 tickets come before it), the client exits, or 20 s
        # pass: a fixed wait was too short on a busy machine, and closing stdin ends s_client.
        deadline = time.monotonic() + 20
        while not _answered(seen) and time.monotonic() < deadline:
            ready, _, _ = select.select([p.stdout], [], [], 0.1)
            if ready:
                data = os.read(p.stdout.fileno(), 65536)
                if not data:
                    break
                seen += data
    out, _ = p.communicate(timeout=20)
    text = (seen + out).decode(errors="replace")
    m = re.search(r"\{\"vip\".*\}", text)
    return text, (json.loads(m.group(0)) if m else None)


def _answered(seen: bytes) -> bool:
    m = re.search(rb"\{\"vip\".*\}", seen)
    if m is None:
        return False
    try:
        json.loads(m.group(0))
    except ValueError:
        return False  # not all of it yet
    return True


def reused(text: str) -> bool:
    return bool(re.search(r"^Reused,", text, re.M))


def subject(text: str) -> str:
    m = re.search(r"^subject=.*CN ?= ?([^\s,/]+)", text, re.M)
    return m.group(1) if m else ""


def test_sni_selection_with_openssl_and_curl(make_cert: Any, procs: list[Proc]) -> None:
    port = free_port()
    a = make_cert("a.example.test")
    b = make_cert("*.wild.test", kind="rsa")
    start_server(procs, [{"name": "web", "port": port, "tls": tls(a, b)}])
    assert subject(s_client(port, "a.example.test")[0]) == "a.example.test"
    assert subject(s_client(port, "x.wild.test")[0]) == "*.wild.test"
    assert subject(s_client(port, None)[0]) == "a.example.test"  # default
    out = subprocess.run(
        [
            "curl",
            "-sv",
            "-k",
            "--http1.1",  # the test's app speaks HTTP/1.1 only (the VIP offers h2 first)
            "--resolve",
            f"x.wild.test:{port}:127.0.0.1",
            f"https://x.wild.test:{port}/",
        ],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert "CN=*.wild.test" in out.stderr
    body = json.loads(out.stdout)
    assert body["alpn"] == "http/1.1" and body["shared"] is True


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
@pytest.mark.parametrize("tickets", [False, True])
def test_resumption_across_processes(
    make_cert: Any, procs: list[Proc], tmp_path: Path, version: str, tickets: bool
) -> None:
    """Two worker processes share the supervisor's session server and ticket ring."""
    sock = str(tmp_path / "sessions.sock")
    start_session_server(procs, sock)
    pair = make_cert("a.test", "b.test")
    ports = [free_port(), free_port()]
    cfg = {"session_server": sock, "follow_ring": True}
    vip_tls = tls(pair, tickets=tickets, session_cache=not tickets)
    for port in ports:  # the same VIP served by two processes ("workers")
        start_server(procs, [{"name": "web", "port": port, "tls": vip_tls}], **cfg)
    sess = str(tmp_path / "sess.pem")
    text, first = s_client(ports[0], "a.test", version, "-sess_out", sess)
    assert first is not None and not reused(text)
    text, second = s_client(ports[1], "a.test", version, "-sess_in", sess)
    assert reused(text), text
    assert second is not None and second["pid"] != first["pid"] and second["reused"]
    kind = {
        ("-tls1_2", False): "session_id",
        ("-tls1_2", True): "ticket",
        ("-tls1_3", False): "tls13_stateful",
        ("-tls1_3", True): "tls13_ticket",
    }[(version, tickets)]
    assert second["counters"]["web"]["resumed"] == {kind: 1}
    # Another SNI name on the same certificate: never resumed.
    text, _ = s_client(ports[1], "b.test", version, "-sess_in", sess)
    assert not reused(text)


def test_no_resumption_across_vips(make_cert: Any, procs: list[Proc], tmp_path: Path) -> None:
    sock = str(tmp_path / "sessions.sock")
    start_session_server(procs, sock)
    pair = make_cert("a.test", "b.test")
    web, api = free_port(), free_port()
    start_server(
        procs,
        [
            {"name": "web", "port": web, "tls": tls(pair, tickets=False)},
            {"name": "api", "port": api, "tls": tls(pair, tickets=False)},
        ],
        session_server=sock,
    )
    for version in ("-tls1_2", "-tls1_3"):
        sess = str(tmp_path / f"sess{version}.pem")
        s_client(web, "a.test", version, "-sess_out", sess)
        assert reused(s_client(web, "a.test", version, "-sess_in", sess)[0])
        assert not reused(s_client(api, "a.test", version, "-sess_in", sess)[0])


def test_reconnect_resumes_with_tickets(make_cert: Any, procs: list[Proc]) -> None:
    port = free_port()
    start_server(procs, [{"name": "web", "port": port, "tls": tls(make_cert("a.test"))}])
    text, _ = s_client(port, "a.test", "-tls1_2", "-reconnect", request=False)
    assert len(re.findall(r"^Reused,", text, re.M)) == 5


def raw(port: int, payload: bytes, *, read: bool = True, linger_rst: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        if payload:
            s.sendall(payload)
        if linger_rst:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return b""
        if not read:
            s.shutdown(socket.SHUT_WR)
        out = b""
        try:
            while chunk := s.recv(4096):
                out += chunk
        except ConnectionResetError:
            pass
        return out


def partial_hello(port: int) -> bytes:
    """The first 60 bytes of a real ClientHello (captured from Python's ssl)."""
    import ssl

    ctx = ssl.create_default_context()
    obj = ctx.wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname="a.test")
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.do_handshake()
    return out.read()[:60]


def test_bad_input_closes_cleanly_without_fd_leaks(make_cert: Any, procs: list[Proc]) -> None:
    port = free_port()
    srv = start_server(
        procs,
        [
            {
                "name": "web",
                "port": port,
                "tls": tls(make_cert("a.test"), strict_sni=True, handshake_timeout=1.0),
            }
        ],
    )
    # Plain HTTP: a readable 400 in clear text.
    answer = raw(port, b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"HTTPS" in answer
    assert raw(port, os.urandom(200)) == b""  # garbage: closed, nothing sent
    hello_head = partial_hello(port)
    assert raw(port, hello_head, read=False) == b""  # truncated hello then EOF
    # Unknown SNI under strict_sni: alert, no handshake.
    text, body = s_client(port, "nope.test")
    assert body is None and "unrecognized name" in text.lower()
    # A ClientHello trickled one byte at a time is cut off at the 1 s deadline.
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        closed = False
        for b in hello_head:
            try:
                s.sendall(bytes([b]))
            except OSError:
                closed = True
                break
            time.sleep(0.2)
            s.setblocking(False)
            try:
                if s.recv(10) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed = True
                break
            finally:
                s.setblocking(True)
    assert closed and 0.9 < time.monotonic() - t0 < 2.5

    # Warm up: libuv opens a reserve fd (/dev/null, for EMFILE) on first use.
    assert s_client(port, "a.test")[1] is not None
    before = srv.fds()
    payloads = [
        b"GET / HTTP/1.0\r\n\r\n",
        os.urandom(64),
        hello_head,
        b"",
        b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00",  # a ServerHello sent by a client
    ]

    def one(i: int) -> None:
        p = payloads[i % len(payloads)]
        with contextlib.suppress(OSError):
            raw(port, p, read=(i % 3 == 0), linger_rst=(i % 7 == 0))

    # Over 100 of them (a truncated hello or nothing at all, then a read) wait for the 1 s
    # handshake deadline: enough threads that those waits overlap, not queue 16 at a time
    with ThreadPoolExecutor(64) as pool:
        list(pool.map(one, range(1000)))
    # A good client still works, and the 1,000 bad ones left nothing behind.
    text, body = s_client(port, "a.test")
    assert body is not None
    deadline = time.monotonic() + 3
    while srv.fds() > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert srv.fds() <= before
    failures = body["counters"]["web"]["failures"]
    assert failures["plain_http"] >= 200 and failures["garbage"] >= 200
    assert failures["unknown_sni"] == 1 and failures["handshake_timeout"] >= 1
    err = srv.stop()
    assert "Traceback" not in err


def test_vanished_mid_handshake(make_cert: Any, procs: list[Proc]) -> None:
    """Clients that send a full ClientHello and disappear before finishing."""
    port = free_port()
    srv = start_server(procs, [{"name": "web", "port": port, "tls": tls(make_cert("a.test"))}])
    import ssl

    ctx = ssl.create_default_context()
    obj = ctx.wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname="a.test")
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.do_handshake()
    full_hello = out.read()
    assert s_client(port, "a.test")[1] is not None  # warm-up, as above
    before = srv.fds()
    for i in range(100):
        raw(port, full_hello, read=False, linger_rst=bool(i % 2))
    _, body = s_client(port, "a.test")
    assert body is not None
    deadline = time.monotonic() + 3
    while srv.fds() > before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert srv.fds() <= before
    assert sum(body["counters"]["web"]["failures"].values()) >= 100
    assert "Traceback" not in srv.stop()
