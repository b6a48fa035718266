"""PROXY protocol end to end: the real l7lb as a subprocess, raw sockets, real realservers.

In: a header from a trusted peer makes its source the client everywhere (X-Forwarded-For,
the access log, source persistence), on plain and TLS VIPs; every malformed shape, an
untrusted peer and a header that does not come in time close the connection with no answer
and one log line. Out: ``send_proxy`` puts the header first on each new server connection,
once (connections are reused), with the TLS facts in v2; health checks send it too.
HAProxy interop is in test_proxy_protocol_haproxy.py.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from procs import STARTED, Backend, Proxy, free_port, start_backend, start_proxy

from l7lb.tls.certtool import certs_main

HERE = Path(__file__).parent
SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_tcp4(src: str, dst: str, sport: int, dport: int, tlvs: bytes = b"") -> bytes:
    block = socket.inet_aton(src) + socket.inet_aton(dst) + sport.to_bytes(2, "big")
    block += dport.to_bytes(2, "big") + tlvs
    return SIG + b"\x21\x11" + len(block).to_bytes(2, "big") + block


def config(
    port: int,
    servers: list[str],
    *,
    vip: str = 'accept_proxy = true\nproxy_trusted = ["127.0.0.1"]',
    pool: str = "",
    top: str = "",
    tls: str = "",
) -> str:
    lines = [
        top,
        "[[vip]]",
        'name = "pp"',
        f'listen = ["127.0.0.1:{port}"]',
        vip,
        tls,
        "  [[vip.route]]",
        '  pool = "web"',
        "[pool.web]",
        'scheduler = "rr"',
        pool,
    ]
    for n, address in enumerate(servers, 1):
        lines += ["[[pool.web.server]]", f'name = "s{n}"', f'address = "{address}"']
    return "\n".join(lines) + "\n"


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))


def read_all(s: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def request(s: socket.socket, path: str = "/headers", close: bool = True) -> None:
    conn = "close" if close else "keep-alive"
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: pp.test\r\nConnection: {conn}\r\n\r\n".encode())


def body_json(response: bytes) -> dict[str, object]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), response[:200]
    return json.loads(body)  # type: ignore[no-any-return]


def seen_headers(response: bytes) -> dict[str, str]:
    return {k: v for k, v in body_json(response)["headers"]}  # type: ignore[attr-defined]


def wait_log(proxy: Proxy, text: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = proxy.error_log()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged:\n{proxy.error_log()[-3000:]}")


def closed_without_answer(s: socket.socket, within: float) -> bool:
    """The server closed (FIN or RST) within ``within`` seconds, having sent nothing."""
    s.settimeout(within)
    try:
        data = s.recv(65536)
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return data == b""


@pytest.fixture
def backend() -> Iterator[Backend]:
    b = start_backend("b1")
    yield b
    b.stop()


@pytest.fixture(scope="module")
def shared_backend() -> Iterator[Backend]:
    b = start_backend("b1")
    yield b
    b.stop()


def _module_proxy(tmp: Path, backend: Backend, **kw: str) -> Iterator[Proxy]:
    port = free_port()
    p = start_proxy(tmp, config(port, [backend.address], **kw), port)
    yield p
    p.stop()


@pytest.fixture(scope="module")
def accepting(tmp_path_factory: pytest.TempPathFactory, shared_backend: Backend) -> Iterator[Proxy]:
    """A VIP that accepts the header from 127.0.0.1, shared by the module's tests that only
    send it well-formed headers and requests (none stops, reloads or counts its log lines)."""
    yield from _module_proxy(tmp_path_factory.mktemp("accepting"), shared_backend)


@pytest.fixture(scope="module")
def not_accepting(
    tmp_path_factory: pytest.TempPathFactory, shared_backend: Backend
) -> Iterator[Proxy]:
    """A VIP without accept_proxy, shared the same way."""
    yield from _module_proxy(tmp_path_factory.mktemp("not-accepting"), shared_backend, vip="")


@pytest.fixture
def echo() -> Iterator[Backend]:
    """A realserver that requires a PROXY header and reports it (proxy_echo_server.py)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "proxy_echo_server.py"), str(port), "echo"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    STARTED.append(proc)
    # no wait_port: a bare connect would be recorded as a connection without header
    deadline = time.monotonic() + 10
    while True:
        out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True)
        if str(port) in out.stdout:
            break
        assert time.monotonic() < deadline, "the echo server did not start"
        time.sleep(0.05)
    b = Backend("echo", port, proc)
    yield b
    b.stop()


def echo_stats(echo: Backend) -> list[dict[str, object]]:
    """Every connection the echo server saw, asked on a connection of our own (with a
    v1 header from a documentation address, so it is told apart)."""
    with socket.create_connection(("127.0.0.1", echo.port), timeout=10) as s:
        s.sendall(b"PROXY TCP4 192.0.2.250 192.0.2.251 1 2\r\n")
        request(s, "/stats")
        data = body_json(read_all(s))
    assert isinstance(data, list)
    return [c for c in data if c.get("header", {}).get("src") != "192.0.2.250"]


# ---- in: plain VIPs --------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2])
def test_header_source_is_the_client_address(accepting: Proxy, version: int) -> None:
    p = accepting
    client = f"203.0.113.{6 + version}"  # one per case: the l7lb is shared
    with connect(p.port) as s:
        if version == 1:
            s.sendall(f"PROXY TCP4 {client} 192.0.2.80 40000 80\r\n".encode())
        else:
            s.sendall(v2_tcp4(client, "192.0.2.80", 40000, 80))
        request(s)
        seen = seen_headers(read_all(s))
    assert seen["x-forwarded-for"] == client
    # the access log names the client, not the proxy in front (127.0.0.1)
    deadline = time.monotonic() + 5
    while client not in p.access_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = [x for x in p.access_log().splitlines() if "/headers" in x][-1]
    assert line.startswith(f"{client} ")


def test_header_and_request_in_one_segment_and_trickled(tmp_path: Path, backend: Backend) -> None:
    port = free_port()
    p = start_proxy(tmp_path, config(port, [backend.address], top="[http]\nforwarded = true"), port)
    try:
        header = b"PROXY TCP6 2001:db8::7 2001:db8::80 40000 80\r\n"
        req = b"GET /headers HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n"
        with connect(port) as s:
            s.sendall(header + req)  # one segment: the gate hands the rest to HTTP
            seen = seen_headers(read_all(s))
        assert seen["x-forwarded-for"] == "2001:db8::7"
        assert seen["forwarded"].startswith('for="[2001:db8::7]"')
        with connect(port) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(0, len(header), 7):  # the header in pieces
                s.sendall(header[i : i + 7])
                time.sleep(0.01)
            s.sendall(req)
            assert seen_headers(read_all(s))["x-forwarded-for"] == "2001:db8::7"
    finally:
        p.stop()


@pytest.mark.parametrize(
    "header", [b"PROXY UNKNOWN\r\n", SIG + b"\x20\x00\x00\x00"], ids=["v1-unknown", "v2-local"]
)
def test_unknown_and_local_keep_the_real_address(accepting: Proxy, header: bytes) -> None:
    with connect(accepting.port) as s:
        s.sendall(header)
        request(s)
        assert seen_headers(read_all(s))["x-forwarded-for"] == "127.0.0.1"


@pytest.mark.parametrize(
    "header",
    [b"PROXY TCP4 203.0.113.7 192.0.2.80 40000 80\r\n", v2_tcp4("203.0.113.7", "1.2.3.4", 1, 2)],
    ids=["v1", "v2"],
)
def test_a_header_on_a_vip_without_accept_proxy_is_a_bad_request(
    not_accepting: Proxy, header: bytes
) -> None:
    """The opposite misconfiguration: never read as a client address, answered 400."""
    with connect(not_accepting.port) as s:
        s.sendall(header)
        request(s)
        assert read_all(s).startswith(b"HTTP/1.1 400 ")


# Every malformed shape, as raw bytes, with the reason l7lb logs for it.
MALFORMED = [
    ("plain-http", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "not_proxy"),
    ("wrong-v2-signature", b"\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x0c" + bytes(12), "not_proxy"),
    ("tls-hello", b"\x16\x03\x01\x00\x05hello", "not_proxy"),
    ("v1-over-107", b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n", "v1_too_long"),
    ("v1-bare-lf", b"PROXY TCP4 203.0.113.7 192.0.2.80 40000 80\n", "v1_syntax"),
    ("v1-fields", b"PROXY TCP4 203.0.113.7 192.0.2.80 40000\r\n", "v1_syntax"),
    ("v1-bad-address", b"PROXY TCP4 203.0.113.700 192.0.2.80 40000 80\r\n", "v1_address"),
    ("v1-wrong-family", b"PROXY TCP4 2001:db8::7 192.0.2.80 40000 80\r\n", "v1_address"),
    ("v1-bad-port", b"PROXY TCP4 203.0.113.7 192.0.2.80 70000 80\r\n", "v1_port"),
    ("v2-version", SIG + b"\x11\x11\x00\x0c" + bytes(12), "v2_version"),
    ("v2-command", SIG + b"\x23\x11\x00\x0c" + bytes(12), "v2_command"),
    ("v2-family", SIG + b"\x21\x51\x00\x0c" + bytes(12), "v2_family"),
    ("v2-short-length", SIG + b"\x21\x11\x00\x08" + bytes(8), "v2_length"),
    ("v2-inet6-in-12", SIG + b"\x21\x21\x00\x0c" + bytes(12), "v2_length"),
    ("v2-tlv-overrun", v2_tcp4("203.0.113.7", "192.0.2.80", 1, 80, b"\x02\x00\x09abc"), "v2_tlv"),
    (
        "v2-bad-crc",
        v2_tcp4("203.0.113.7", "192.0.2.80", 1, 80, b"\x03\x00\x04\x00\x00\x00\x01"),
        "v2_checksum",
    ),
]


def test_every_malformed_shape_is_closed_and_logged(tmp_path: Path, backend: Backend) -> None:
    port = free_port()
    p = start_proxy(tmp_path, config(port, [backend.address]), port)
    try:
        for name, raw, reason in MALFORMED:
            with connect(port) as s:
                s.sendall(raw + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                assert closed_without_answer(s, 5.0), name
            wait_log(p, f"closed: {reason}")
        # truncated: part of a valid header, then the client's FIN
        for partial in (b"PROXY TCP4 203.0.113.7 19", v2_tcp4("203.0.113.7", "1.2.3.4", 1, 2)[:20]):
            with connect(port) as s:
                s.sendall(partial)
                s.shutdown(socket.SHUT_WR)
                assert closed_without_answer(s, 5.0)
        log = wait_log(p, "closed: truncated (25 bytes then EOF)")
        assert "closed: truncated (20 bytes then EOF)" in log
        # one line per refused connection, each with its peer and reason
        refused = [x for x in log.splitlines() if "proxy vip=pp peer=127.0.0.1:" in x]
        assert len(refused) == len(MALFORMED) + 2, refused
        # nothing reached the realserver
        assert p.access_log().strip() == ""
        # and the VIP still serves a good header afterwards
        with connect(port) as s:
            s.sendall(b"PROXY TCP4 203.0.113.7 192.0.2.80 40000 80\r\n")
            request(s)
            assert seen_headers(read_all(s))["x-forwarded-for"] == "203.0.113.7"
    finally:
        p.stop()


def test_untrusted_peer_is_closed_before_reading(tmp_path: Path, backend: Backend) -> None:
    port = free_port()
    vip = 'accept_proxy = true\nproxy_trusted = ["127.0.0.1/32", "10.0.0.0/8"]'
    p = start_proxy(tmp_path, config(port, [backend.address], vip=vip), port)
    try:
        with connect(port, source="127.0.0.2") as s:
            s.sendall(b"PROXY TCP4 203.0.113.7 192.0.2.80 40000 80\r\n")
            request(s)
            assert closed_without_answer(s, 5.0)
        wait_log(p, "peer=127.0.0.2:")
        assert "closed: untrusted (not in proxy_trusted)" in p.error_log()
        with connect(port, source="127.0.0.1") as s:  # the trusted one is served
            s.sendall(b"PROXY TCP4 203.0.113.7 192.0.2.80 40000 80\r\n")
            request(s)
            assert seen_headers(read_all(s))["x-forwarded-for"] == "203.0.113.7"
    finally:
        p.stop()


def test_header_must_arrive_within_request_head(tmp_path: Path, backend: Backend) -> None:
    port = free_port()
    text = config(port, [backend.address], top='[timeouts]\nrequest_head = "1s"')
    p = start_proxy(tmp_path, text, port)
    try:
        with connect(port) as s:
            s.sendall(b"PROXY TCP4 203.0.113.7 ")  # and nothing more
            started = time.monotonic()
            assert closed_without_answer(s, 5.0)
            assert 0.8 < time.monotonic() - started < 4.0
        wait_log(p, "closed: timeout (no complete PROXY header within 1.0s)")
        with connect(port) as s:  # a silent client too
            assert closed_without_answer(s, 5.0)
    finally:
        p.stop()


def test_source_persistence_keys_on_the_header_address(tmp_path: Path) -> None:
    servers = [start_backend(f"b{i}") for i in (1, 2, 3)]
    port = free_port()
    pool = '[pool.web.persistence]\nmode = "source"'
    p = start_proxy(tmp_path, config(port, [b.address for b in servers], pool=pool), port)
    try:

        def served(client: str) -> str:
            with connect(port) as s:  # every connection comes from 127.0.0.1
                s.sendall(f"PROXY TCP4 {client} 192.0.2.80 40000 80\r\n".encode())
                request(s, "/")
                head, _, body = read_all(s).partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200")
                return body.decode().strip()

        clients = [f"198.51.100.{n}" for n in range(1, 7)]
        first = {c: served(c) for c in clients}
        # round robin spread them; each stays on its own server whatever the order
        assert len(set(first.values())) == 3
        for c in reversed(clients):
            assert served(c) == first[c], c
    finally:
        p.stop()
        for b in servers:
            b.stop()


# ---- in: TLS VIPs ------------------------------------------------------------------------------


def make_cert(tmp: Path, name: str) -> tuple[str, str]:
    args = ["new", "--cn", name, "--key", "ec", "--self-signed", "--out", str(tmp / name)]
    assert certs_main(args) == 0
    return str(tmp / f"{name}.pem"), str(tmp / f"{name}.key")


def tls_table(tmp: Path) -> str:
    cert, key = make_cert(tmp, "pp.example.com")
    return f'tls = {{ certificates = [{{ cert = "{cert}", key = "{key}" }}] }}'


def client_ctx() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_tls_vip_reads_the_header_before_the_client_hello(
    tmp_path: Path, backend: Backend, echo: Backend
) -> None:
    port = free_port()
    text = config(port, [backend.address], tls=tls_table(tmp_path))
    # a second pool, sent v2, to see the TLS facts the client connection had
    text = text.replace(
        '  pool = "web"', '  path_prefix = "/pp"\n  pool = "echo"\n  [[vip.route]]\n  pool = "web"'
    )
    text += f'[pool.echo]\nsend_proxy = "v2"\n[[pool.echo.server]]\naddress = "{echo.address}"\n'
    p = start_proxy(tmp_path, text, port)
    try:
        for header in (
            v2_tcp4("203.0.113.9", "192.0.2.80", 40001, 443),
            b"PROXY TCP4 203.0.113.9 192.0.2.80 40001 443\r\n",
        ):
            with connect(port) as raw:
                raw.sendall(header)
                with client_ctx().wrap_socket(raw, server_hostname="pp.example.com") as s:
                    request(s)
                    seen = seen_headers(read_all(s))
            assert seen["x-forwarded-for"] == "203.0.113.9"
            assert seen["x-forwarded-proto"] == "https"
        # chained: what the client's header said goes on in ours, with the TLS facts
        with connect(port) as raw:
            raw.sendall(v2_tcp4("203.0.113.9", "192.0.2.80", 40001, 443))
            ctx = client_ctx()
            ctx.set_alpn_protocols(["http/1.1"])
            with ctx.wrap_socket(raw, server_hostname="pp.example.com") as s:
                request(s, "/pp")
                conn = body_json(read_all(s))
                version = s.version()
        header = conn["header"]
        assert isinstance(header, dict)
        assert (header["src"], header["src_port"]) == ("203.0.113.9", 40001)
        assert (header["dst"], header["dst_port"]) == ("192.0.2.80", 443)
        assert header["ssl_version"] == version
        assert header["ssl_client"] == 1 and header["ssl_verify"] != 0
        assert header["authority"] == "pp.example.com"
        assert header["alpn"] == "http/1.1"
        assert header["ssl_cipher"]
        # a TLS client without the header is refused before any TLS: no alert, no answer
        with connect(port) as raw, pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            client_ctx().wrap_socket(raw, server_hostname="pp.example.com")
        log = wait_log(p, "closed: proxy_not_proxy")
        assert "a TLS record" in log
    finally:
        p.stop()


def test_tls_vip_refuses_untrusted_and_slow_headers(tmp_path: Path, backend: Backend) -> None:
    port = free_port()
    text = config(
        port,
        [backend.address],
        tls=tls_table(tmp_path),
        top=f'admin_socket = "{tmp_path}/admin.sock"\n[timeouts]\nrequest_head = "1s"',
    )
    p = start_proxy(tmp_path, text, port)
    try:
        with connect(port, source="127.0.0.3") as raw:
            raw.sendall(v2_tcp4("203.0.113.9", "192.0.2.80", 40001, 443))
            assert closed_without_answer(raw, 5.0)
        wait_log(p, "peer=127.0.0.3:")
        assert "closed: proxy_untrusted (not in proxy_trusted)" in p.error_log()
        with connect(port) as raw:
            raw.sendall(SIG + b"\x21")
            started = time.monotonic()
            assert closed_without_answer(raw, 5.0)
            assert 0.8 < time.monotonic() - started < 4.0
        wait_log(p, "closed: proxy_timeout")
        with connect(port) as raw:
            raw.sendall(SIG + b"\x21\x11\x00\x0c" + bytes(6))
            raw.shutdown(socket.SHUT_WR)
            assert closed_without_answer(raw, 5.0)
        wait_log(p, "closed: proxy_truncated (22 bytes then EOF)")
        with connect(port) as raw:
            raw.sendall(b"PROXY TCP4 203.0.113.9 192.0.2.80 40001 443 \r\n")
            assert closed_without_answer(raw, 5.0)
        wait_log(p, "closed: proxy_v1_syntax")
        out = subprocess.run(
            [sys.executable, "-m", "l7lb", "admin", "-c", str(p.config_path), "show", "tls"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert out.returncode == 0, out.stderr
        for reason in ("proxy_untrusted", "proxy_timeout", "proxy_truncated", "proxy_v1_syntax"):
            assert reason in out.stdout, out.stdout
    finally:
        p.stop()


# ---- out ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_send_proxy_once_per_server_connection(tmp_path: Path, echo: Backend, version: str) -> None:
    port = free_port()
    text = config(port, [echo.address], vip="", pool=f'send_proxy = "{version}"')
    p = start_proxy(tmp_path, text, port)
    try:
        with connect(port, source="127.0.0.4") as s:
            client_port = s.getsockname()[1]
            for _ in range(3):  # keep-alive: one server connection, one header, 3 requests
                request(s, "/pp", close=False)
                head, body = read_response(s)
                assert head.startswith(b"HTTP/1.1 200")
            conn = json.loads(body)
        assert conn["requests"] == 3
        header = conn["header"]
        assert header["version"] == int(version[1])
        assert header["command"] == "PROXY"
        assert (header["src"], header["src_port"]) == ("127.0.0.4", client_port)
        assert (header["dst"], header["dst_port"]) == ("127.0.0.1", port)
        if version == "v2":
            assert header["fam"] == 0x11 and header["tlvs"] == []  # plain VIP: no TLS TLVs
        # a second client connection reuses the idle server connection: no second header
        with connect(port, source="127.0.0.4") as s:
            request(s, "/pp")
            again = body_json(read_all(s))
        assert again["n"] == conn["n"] and again["requests"] == 4
        conns = echo_stats(echo)
        assert len(conns) == 1 and "error" not in conns[0], conns
    finally:
        p.stop()


def read_response(s: socket.socket) -> tuple[bytes, bytes]:
    """One response with a Content-Length body, from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(x for x in head.split(b"\r\n") if x.lower().startswith(b"content-length:")).split(
            b":"
        )[1]
    )
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk
        body += chunk
    return head, body


def test_accept_and_send_relay_the_original_addresses(tmp_path: Path, echo: Backend) -> None:
    port = free_port()
    text = config(port, [echo.address], pool='send_proxy = "v1"')
    p = start_proxy(tmp_path, text, port)
    try:
        with connect(port) as s:
            s.sendall(v2_tcp4("203.0.113.7", "192.0.2.80", 40000, 80))
            request(s, "/pp")
            header = body_json(read_all(s))["header"]
        assert header == {
            "version": 1,
            "command": "PROXY",
            "protocol": "TCP4",
            "src": "203.0.113.7",
            "dst": "192.0.2.80",
            "src_port": 40000,
            "dst_port": 80,
        }
    finally:
        p.stop()


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_health_checks_send_the_header(tmp_path: Path, echo: Backend, version: str) -> None:
    port = free_port()
    health = '[pool.web.health]\ncheck = "http"\npath = "/health"\ninterval = "200ms"'
    text = config(port, [echo.address], vip="", pool=f'send_proxy = "{version}"\n{health}')
    p = start_proxy(tmp_path, text, port)
    try:
        deadline = time.monotonic() + 10
        checks: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            checks = [c for c in echo_stats(echo) if "l7lb-health" in c.get("agents", [])]
            if len(checks) >= 2:
                break
            time.sleep(0.1)
        assert len(checks) >= 2, echo_stats(echo)
        for c in checks:
            assert "error" not in c
            header = c["header"]
            assert isinstance(header, dict)
            if version == "v2":
                assert header["command"] == "LOCAL"  # 2.2: the proxy's own connection
            else:
                assert header["protocol"] == "TCP4"
                assert header["src"] == "127.0.0.1" and header["dst"] == "127.0.0.1"
                assert header["dst_port"] == echo.port
        # the server is up: traffic flows
        with connect(port) as s:
            request(s, "/")
            assert read_all(s).startswith(b"HTTP/1.1 200")
    finally:
        p.stop()


def test_health_check_without_the_header_fails_a_server_that_wants_it(
    tmp_path: Path, echo: Backend
) -> None:
    """The check is what it claims to be: without send_proxy the echo server refuses it and
    the server goes down (so the test above can fail)."""
    port = free_port()
    health = '[pool.web.health]\ncheck = "http"\npath = "/health"\ninterval = "200ms"'
    fallback = 'fallback = { status = 503, body = "down\\n" }'
    text = config(port, [echo.address], vip="", pool=f"{fallback}\n{health}")
    p = start_proxy(tmp_path, text, port)
    try:
        wait_log(p, "is DOWN", timeout=10)
        with connect(port) as s:
            request(s, "/")
            assert read_all(s).startswith(b"HTTP/1.1 503")
    finally:
        p.stop()


def test_health_check_tls_with_proxy_header(tmp_path: Path, backend: Backend) -> None:
    """A TLS check to a server that wants the header first: l7lb itself, with accept_proxy."""
    inner = free_port()
    inner_text = config(inner, [backend.address], tls=tls_table(tmp_path))
    inner_dir = tmp_path / "inner"
    inner_dir.mkdir()
    q = start_proxy(inner_dir, inner_text, inner)
    port = free_port()
    health = '[pool.web.health]\ncheck = "http"\ntls = true\npath = "/"\ninterval = "200ms"'
    text = config(port, [f"127.0.0.1:{inner}"], vip="", pool=f'send_proxy = "v2"\n{health}')
    p = start_proxy(tmp_path, text, port)
    try:
        wait_log(p, "is UP", timeout=10)
        assert "closed: proxy" not in q.error_log()
    finally:
        p.stop()
        q.stop()
