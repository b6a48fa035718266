"""``l7lb explain`` against a real running l7lb: ``--live`` server states from its
admin socket, and the head a real realserver receives, byte for byte."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from explain_helpers import ROOT, mint_cookie, run_cli

from l7lb.explain.live import LiveError, parse_servers

sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from procs import Backend, Proxy, free_port, start_backend, start_proxy, stop_leftovers

SECRET = "explain e2e secret, 16 bytes or more"


@pytest.fixture(scope="module", autouse=True)
def _nothing_left_running() -> Iterator[None]:
    yield
    stop_leftovers()


@pytest.fixture
def three() -> Iterator[list[Backend]]:
    bs = [start_backend(f"b{i}") for i in (1, 2, 3)]
    yield bs
    for b in bs:
        b.stop()


@pytest.fixture
def proxy(tmp_path: Path, three: list[Backend]) -> Iterator[Proxy]:
    port = free_port()
    servers = "".join(
        f'  [[pool.web.server]]\n  name = "{b.name}"\n  address = "{b.address}"\n' for b in three
    )
    text = f"""
admin_socket = "{tmp_path}/admin.sock"
persistence_secret = "{SECRET}"

[http]
forwarded = true

[[vip]]
name = "test"
listen = ["127.0.0.1:{port}"]
  [[vip.route]]
  pool = "web"

[pool.web]
scheduler = "rr"
  [pool.web.persistence]
  mode = "cookie"
{servers}
"""
    p = start_proxy(tmp_path, text, port, workers=1)
    yield p
    p.stop()


def admin(proxy: Proxy, *words: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "l7lb", "admin", "-c", str(proxy.config_path), *words],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr + r.stdout
    return r.stdout


def request(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[str, bytes]:
    """(x-backend, body) of one request through the proxy."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        return r.getheader("x-backend") or "", r.read()
    finally:
        c.close()


def head_fields(head: str) -> tuple[str, str, list[list[str]]]:
    lines = head.split("\r\n")
    assert lines[-2:] == ["", ""]
    method, target, version = lines[0].split(" ")
    assert version == "HTTP/1.1"
    # names compared lower-cased: the proxy forwards the client's own spelling of a field
    # name, the test realserver (h11) reports names lower-cased (RFC 9110 5.1)
    fields = [line.split(": ", 1) for line in lines[1:-2]]
    return method, target, [[name.lower(), value] for name, value in fields]


def test_live_drain_keeps_the_stuck_client_and_the_proxy_agrees(proxy: Proxy) -> None:
    cfg = str(proxy.config_path)
    url = f"http://127.0.0.1:{proxy.port}/"
    cookie = f"L7LB={mint_cookie(proxy.config_path, 'web', 'b2', 60, 60)}"
    admin(proxy, "drain", "web", "b2")
    deadline = time.monotonic() + 10
    while "drain" not in admin(proxy, "show", "servers"):
        assert time.monotonic() < deadline, "the drain never showed"
        time.sleep(0.1)

    res = run_cli("-c", cfg, "--live", "--json", "--from", "127.0.0.1", "--cookie", cookie, url)
    assert res.rc == 0, res.err
    out = res.json
    assert out["live"] == {"socket": f"{proxy.config_path.parent}/admin.sock", "notes": []}
    servers = {s["name"]: s for s in out["decision"]["servers"]}
    assert servers["b2"]["state"] == "drain" and not servers["b2"]["eligible"]
    assert servers["b1"]["eligible"] and servers["b3"]["eligible"]
    assert (out["decision"]["how"], out["decision"]["server"]) == ("stuck", "b2")
    # the running proxy does what explain said
    assert request(proxy.port, "GET", "/", {"Cookie": cookie})[0] == "b2"

    # a new client: never b2, in explain as in the proxy
    out = run_cli("-c", cfg, "--live", "--json", url).json
    assert out["decision"]["server"] in ("b1", "b3")
    assert {request(proxy.port, "GET", "/", {})[0] for _ in range(6)} <= {"b1", "b3"}

    # offline, the same file knows nothing of the drain
    out = run_cli("-c", cfg, "--json", url).json
    assert {s["name"]: s["state"] for s in out["decision"]["servers"]}["b2"] == "up"
    assert out["live"] is None

    admin(proxy, "maint", "web", "b2")
    time.sleep(0.3)
    out = run_cli("-c", cfg, "--live", "--json", "--cookie", cookie, url).json
    assert out["decision"]["how"] == "scheduled" and out["decision"]["server"] != "b2"
    assert "persistence (cookie) names server b2: maint" in out["decision"]["steps"]
    assert request(proxy.port, "GET", "/", {"Cookie": cookie})[0] != "b2"


def test_backend_head_is_what_the_realserver_receives(proxy: Proxy) -> None:
    cfg = str(proxy.config_path)
    cookie = f"L7LB={mint_cookie(proxy.config_path, 'web', 'b3', 60, 60)}"
    headers = {
        "Host": "shop.example.com",
        "Cookie": f"theme=dark; {cookie}",
        "X-Forwarded-For": "192.0.2.99",
        "Connection": "keep-alive, X-Secret",
        "X-Secret": "hop-by-hop, dropped",
        "User-Agent": "explain-test",
        "Accept-Encoding": "identity",  # http.client would add it on its own
    }
    args = ["-c", cfg, "--json", "--from", "127.0.0.1"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    url = f"http://127.0.0.1:{proxy.port}/headers?x=1"
    out = run_cli(*args, url).json
    assert out["backend"]["server"] == "b3"
    got_server, body = request(proxy.port, "GET", "/headers?x=1", headers)
    assert got_server == "b3"
    seen = json.loads(body)
    assert head_fields(out["backend"]["head"]) == (seen["method"], seen["target"], seen["headers"])
    fields = dict(seen["headers"])
    assert fields["cookie"] == "theme=dark"  # indirect: l7lb's cookie never reaches b3
    assert "x-secret" not in fields
    assert fields["forwarded"] == "for=127.0.0.1;proto=http;host=shop.example.com"

    # a body: the framing the proxy adds is in the head too
    raw = (
        b"POST /headers HTTP/1.1\r\nHost: shop.example.com\r\n"
        + f"Cookie: {cookie}\r\n".encode()
        + b"Accept-Encoding: identity\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    res = run_cli("-c", cfg, "--json", "--from", "127.0.0.1", stdin=raw)
    assert res.rc == 0, res.err
    out = res.json
    got_server, body = request(
        proxy.port,
        "POST",
        "/headers",
        {
            "Host": "shop.example.com",
            "Cookie": cookie,
            "Accept-Encoding": "identity",
            "Transfer-Encoding": "chunked",
        },
        body=b"4\r\nbody\r\n0\r\n\r\n",
    )
    seen = json.loads(body)
    assert got_server == out["backend"]["server"] == "b3"
    assert head_fields(out["backend"]["head"]) == (seen["method"], seen["target"], seen["headers"])
    assert ["transfer-encoding", "chunked"] in seen["headers"]


def test_live_errors_are_clear(tmp_path: Path, proxy: Proxy) -> None:
    # a configuration whose admin socket nobody listens on
    text = proxy.config_path.read_text().replace("admin.sock", "nobody.sock")
    cfg = tmp_path / "other.toml"
    cfg.write_text(text)
    res = run_cli("-c", str(cfg), "--live", f"http://127.0.0.1:{proxy.port}/")
    assert res.rc == 2
    assert "--live: cannot reach" in res.err and "(is l7lb running?)" in res.err
    assert "Traceback" not in res.err
    cfg.write_text(text.replace(f'admin_socket = "{tmp_path}/nobody.sock"', ""))
    res = run_cli("-c", str(cfg), "--live", f"http://127.0.0.1:{proxy.port}/")
    assert res.rc == 2 and "sets no admin_socket" in res.err


def test_show_servers_is_read_by_its_header() -> None:
    text = (
        "Pool\n"
        "  -> Server   Address         Weight  State       Active  Time left  Persist\n"
        "pool my pool\n"
        "  -> a b      10.0.0.1:80     2       up,backup   3       -          0\n"
        "  -> c        10.0.0.2:80     0       drain       0       4m         12\n"
    )
    rows = parse_servers(text)
    assert [(r.pool, r.server, r.weight, r.state, r.active) for r in rows] == [
        ("my pool", "a b", 2, "up", 3),
        ("my pool", "c", 0, "drain", 0),
    ]
    assert parse_servers("no pools\n") == []
    with pytest.raises(LiveError, match="answered: error: nope"):
        parse_servers("error: nope\n")
    with pytest.raises(LiveError, match="not the expected table"):
        parse_servers("hello\n")
