"""PROXY protocol interop with HAProxy (Debian haproxy), both ways, on 127.0.0.0/8.

Loopback routes all of 127/8, so each party takes its own address and the far side can tell
them apart: the client connects from 127.0.0.5, the HAProxy in front connects onward from
127.0.0.9. Whatever reaches the realserver must name 127.0.0.5.

- HAProxy as the sender in front (``send-proxy`` / ``send-proxy-v2``, TCP mode, as an L4
  balancer would be), to a plain and to a TLS VIP with ``accept_proxy``;
- HAProxy as the receiver behind (``accept-proxy``) of l7lb's ``send_proxy``, reporting
  what it read (``src``, ``dst``, ports, ``fc_pp_authority``) as request headers, and
  taking l7lb's health checks.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from procs import STARTED, Backend, free_port, start_backend, start_proxy, wait_port

from l7lb.tls.certtool import certs_main

pytestmark = pytest.mark.skipif(
    shutil.which("haproxy") is None, reason="haproxy is not installed (Debian: haproxy)"
)

CLIENT = "127.0.0.5"
FRONT = "127.0.0.9"  # the address HAProxy in front connects to l7lb from


class HAProxy:
    def __init__(self, tmp: Path, config: str, port: int) -> None:
        path = tmp / "haproxy.cfg"
        path.write_text(config)
        check = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        self.proc = subprocess.Popen(
            ["haproxy", "-db", "-f", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=(tmp / "haproxy.err").open("wb"),
            start_new_session=True,
        )
        STARTED.append(self.proc)
        self.port = port

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


GLOBAL = """
global
    maxconn 200
defaults
    timeout connect 5s
    timeout client 10s
    timeout server 10s
"""


def haproxy_in_front(tmp: Path, target: int, version: str) -> HAProxy:
    port = free_port()
    option = "send-proxy-v2" if version == "v2" else "send-proxy"
    config = f"""{GLOBAL}
frontend front
    mode tcp
    bind 127.0.0.1:{port}
    default_backend directors
backend directors
    mode tcp
    server l7lb 127.0.0.1:{target} {option} source {FRONT}
"""
    h = HAProxy(tmp, config, port)
    wait_port(port)
    return h


def haproxy_behind(tmp: Path, backend: Backend) -> HAProxy:
    port = free_port()
    config = f"""{GLOBAL}
frontend behind
    mode http
    bind 127.0.0.1:{port} accept-proxy
    http-request set-header X-PP-Src %[src]
    http-request set-header X-PP-Src-Port %[src_port]
    http-request set-header X-PP-Dst %[dst]
    http-request set-header X-PP-Dst-Port %[dst_port]
    http-request set-header X-PP-Authority %[fc_pp_authority]
    default_backend realservers
backend realservers
    mode http
    server b1 {backend.address}
"""
    h = HAProxy(tmp, config, port)
    # no wait_port: a connection without a header would only be refused; wait for the bind
    deadline = time.monotonic() + 10
    while (
        str(port)
        not in subprocess.run(
            ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True
        ).stdout
    ):
        assert time.monotonic() < deadline, "haproxy did not start"
        time.sleep(0.05)
    return h


def l7lb_config(port: int, server: str, *, vip: str = "", pool: str = "", tls: str = "") -> str:
    return f"""
[[vip]]
name = "pp"
listen = ["127.0.0.1:{port}"]
{vip}
{tls}
  [[vip.route]]
  pool = "web"
[pool.web]
{pool}
  [[pool.web.server]]
  name = "s1"
  address = "{server}"
"""


def tls_table(tmp: Path) -> str:
    name = "pp.example.com"
    args = ["new", "--cn", name, "--key", "ec", "--self-signed", "--out", str(tmp / name)]
    assert certs_main(args) == 0
    return f'tls = {{ certificates = [{{ cert = "{tmp / name}.pem", key = "{tmp / name}.key" }}] }}'


def curl_headers(url: str) -> dict[str, str]:
    out = subprocess.run(
        ["curl", "-sk", "--max-time", "10", "--interface", CLIENT, url],
        capture_output=True,
        timeout=20,
    )
    assert out.returncode == 0, out.stderr
    return {k: v for k, v in json.loads(out.stdout)["headers"]}


@pytest.fixture
def backend() -> Iterator[Backend]:
    b = start_backend("b1")
    yield b
    b.stop()


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_haproxy_in_front_of_a_plain_vip(tmp_path: Path, backend: Backend, version: str) -> None:
    port = free_port()
    vip = f'accept_proxy = true\nproxy_trusted = ["{FRONT}"]'
    p = start_proxy(tmp_path, l7lb_config(port, backend.address, vip=vip), port)
    h = haproxy_in_front(tmp_path, port, version)
    try:
        seen = curl_headers(f"http://127.0.0.1:{h.port}/headers")
        assert seen["x-forwarded-for"] == CLIENT
        deadline = time.monotonic() + 5  # the access log is flushed in the background
        while "/headers" not in p.access_log() and time.monotonic() < deadline:
            time.sleep(0.05)
        line = [x for x in p.access_log().splitlines() if "/headers" in x][-1]
        assert line.startswith(CLIENT + " ")
        # the trust list is what lets HAProxy in: straight from the client, refused
        with socket.create_connection(("127.0.0.1", port), 5, source_address=(CLIENT, 0)) as s:
            s.sendall(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(5)
            with contextlib.suppress(ConnectionResetError):  # closed, by FIN or RST
                assert s.recv(100) == b""
        assert "closed: untrusted" in p.error_log()
    finally:
        h.stop()
        p.stop()


def test_haproxy_send_proxy_v2_in_front_of_a_tls_vip(tmp_path: Path, backend: Backend) -> None:
    port = free_port()
    vip = f'accept_proxy = true\nproxy_trusted = ["{FRONT}"]'
    text = l7lb_config(port, backend.address, vip=vip, tls=tls_table(tmp_path))
    p = start_proxy(tmp_path, text, port)
    h = haproxy_in_front(tmp_path, port, "v2")
    try:
        seen = curl_headers(f"https://127.0.0.1:{h.port}/headers")
        assert seen["x-forwarded-for"] == CLIENT
        assert seen["x-forwarded-proto"] == "https"
    finally:
        h.stop()
        p.stop()


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_haproxy_accept_proxy_behind_l7lb(tmp_path: Path, backend: Backend, version: str) -> None:
    h = haproxy_behind(tmp_path, backend)
    port = free_port()
    health = '[pool.web.health]\ncheck = "http"\npath = "/"\ninterval = "300ms"'
    pool = f'send_proxy = "{version}"\n{health}'
    p = start_proxy(tmp_path, l7lb_config(port, f"127.0.0.1:{h.port}", pool=pool), port)
    try:
        # HAProxy took l7lb's health checks (v1: a TCP4 line, v2: LOCAL)
        deadline = time.monotonic() + 10
        while "is UP" not in p.error_log():
            assert time.monotonic() < deadline, p.error_log()
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), 10, source_address=(CLIENT, 0)) as s:
            client_port = s.getsockname()[1]
            s.sendall(b"GET /headers HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), data[:300]
        seen = {k: v for k, v in json.loads(body)["headers"]}
        assert seen["x-pp-src"] == CLIENT  # l7lb connected from 127.0.0.1: HAProxy read ours
        assert seen["x-pp-src-port"] == str(client_port)
        assert seen["x-pp-dst"] == "127.0.0.1"
        assert seen["x-pp-dst-port"] == str(port)
    finally:
        p.stop()
        h.stop()


def test_haproxy_reads_the_sni_l7lb_sends_in_v2(tmp_path: Path, backend: Backend) -> None:
    h = haproxy_behind(tmp_path, backend)
    port = free_port()
    text = l7lb_config(
        port, f"127.0.0.1:{h.port}", pool='send_proxy = "v2"', tls=tls_table(tmp_path)
    )
    p = start_proxy(tmp_path, text, port)
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", port), 10, source_address=(CLIENT, 0))
        with ctx.wrap_socket(raw, server_hostname="pp.example.com") as s:
            s.sendall(b"GET /headers HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        seen = {k: v for k, v in json.loads(data.partition(b"\r\n\r\n")[2])["headers"]}
        assert seen["x-pp-src"] == CLIENT
        assert seen["x-pp-authority"] == "pp.example.com"
    finally:
        p.stop()
        h.stop()
