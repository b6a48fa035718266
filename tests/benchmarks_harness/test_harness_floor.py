"""benchmarks/floor.py relays real HTTP in both modes (it is a yardstick: a broken one would
make RESULTS.md compare l7lb against nothing)."""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from harness.runner import make_cert

FLOOR = Path(__file__).resolve().parents[2] / "benchmarks" / "floor.py"


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = f"hello {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("mode", "tls"), [("relay", False), ("parse", False), ("parse", True)])
def test_floor_relays_keepalive_requests(mode: str, tls: bool, tmp_path: Path) -> None:
    backend = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    port = _free_port()
    argv = [
        sys.executable,
        str(FLOOR),
        "--mode",
        mode,
        "--listen",
        str(port),
        "--backend",
        f"127.0.0.1:{backend.server_address[1]}",
    ]
    if tls:
        cert = make_cert(tmp_path, "ecdsa-p256")
        argv += ["--cert", cert.cert, "--key", cert.key]
    proc = subprocess.Popen(argv)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "floor.py did not listen"
                time.sleep(0.05)
        conn: http.client.HTTPConnection
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for i in range(3):  # one client connection, three requests: keep-alive is relayed
            conn.request("GET", f"/{i}")
            resp = conn.getresponse()
            assert (resp.status, resp.read()) == (200, f"hello /{i}\n".encode())
        conn.close()
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
        backend.shutdown()
        backend.server_close()
