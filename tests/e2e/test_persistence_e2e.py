"""End-to-end persistence, health checks, drain and fallback (issue 4)."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from procs import Backend, free_port, start_backend, start_proxy

SECRET = "e2e secret, sixteen bytes at least"


class VClient:
    """A browser-like client: its own cookie jar, a new connection per request
    (so its requests land on either worker)."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.port = port
        self.source = source
        self.jar: dict[str, str] = {}
        self.set_cookies: list[str] = []

    def get(self, path: str = "/", headers: dict[str, str] | None = None) -> tuple[int, str]:
        c = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=10, source_address=(self.source, 0)
        )
        h = {"Connection": "close", **(headers or {})}
        if self.jar:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        try:
            c.request("GET", path, headers=h)
            r = c.getresponse()
            body = r.read().decode()
            for sc in r.headers.get_all("set-cookie") or []:
                self.set_cookies.append(sc)
                name, _, rest = sc.partition("=")
                self.jar[name.strip()] = rest.split(";", 1)[0]
            return r.status, r.getheader("x-backend") or body.strip()
        finally:
            c.close()


def config(
    port: int,
    backends: list[Backend],
    persistence: str,
    *,
    health: str = "",
    extra_pool: str = "",
    top: str = "",
) -> str:
    servers = "".join(
        f'  [[pool.web.server]]\n  name = "{b.name}"\n  address = "{b.address}"\n'
        f'  route = "{b.name}"\n'
        for b in backends
    )
    return f"""{top}
persistence_secret = "{SECRET}"
[log]
access = "off"
[[vip]]
name = "site"
listen = ["127.0.0.1:{port}"]
  [[vip.route]]
  pool = "web"
[pool.web]
scheduler = "rr"
{extra_pool}
  [pool.web.persistence]
{persistence}
{health}
{servers}"""


def health_table(interval: str, fall: int = 3, rise: int = 2) -> str:
    return (
        f'  [pool.web.health]\n  check = "http"\n  path = "/health"\n'
        f'  interval = "{interval}"\n  fall = {fall}\n  rise = {rise}'
    )


def run_clients(
    clients: list[VClient], requests: int, first_path: str = "/", path_for=None
) -> list[list[str]]:
    def one(c: VClient) -> list[str]:
        seen = []
        for i in range(requests):
            path = first_path if i == 0 else (path_for(c) if path_for else "/")
            status, who = c.get(path)
            assert status == 200, (status, who)
            seen.append(who)
        return seen

    with ThreadPoolExecutor(16) as ex:
        return list(ex.map(one, clients))


@pytest.fixture
def three():
    bs = [start_backend(f"b{i}") for i in (1, 2, 3)]
    yield bs
    for b in bs:
        b.stop()


def test_cookie_insertion_200_clients_stay_on_one_server(tmp_path, three):
    port = free_port()
    p = start_proxy(tmp_path, config(port, three, '  mode = "cookie"'), port, workers=2)
    try:
        clients = [VClient(port) for _ in range(200)]
        results = run_clients(clients, 20)
        broken = [r for r in results if len(set(r)) != 1]
        assert broken == []
        spread = Counter(r[0] for r in results)
        assert set(spread) == {"b1", "b2", "b3"} and min(spread.values()) > 40, spread
        # the cookie was set once per client (indirect: a valid cookie is never re-sent)
        assert all(len(c.set_cookies) == 1 for c in clients)
    finally:
        p.stop()


@pytest.mark.parametrize("mode", ["route-suffix-url", "route-suffix-cookie", "learned", "source"])
def test_other_modes_stay_on_one_server_across_workers(tmp_path, three, mode):
    port = free_port()
    persistence = '  mode = "source"' if mode == "source" else '  mode = "jsessionid"'
    p = start_proxy(tmp_path, config(port, three, persistence), port, workers=2)
    try:
        if mode == "source":
            clients = [VClient(port, source=f"127.0.0.{10 + i}") for i in range(60)]
            results = run_clients(clients, 10)
        else:
            login = "/login?suffix=1" if mode.startswith("route") else "/login"
            # learned ids race the broadcast between workers: more clients to catch it
            clients = [VClient(port) for _ in range(200 if mode == "learned" else 60)]
            if mode == "route-suffix-url":
                # the id travels in the URL, not in a cookie (servlet URL rewriting)
                def path_for(c: VClient) -> str:
                    sid = c.jar.pop("JSESSIONID", None) or c.sid  # type: ignore[attr-defined]
                    c.sid = sid  # type: ignore[attr-defined]
                    return f"/page;jsessionid={sid}"

                results = run_clients(clients, 10, login, path_for)
            else:
                results = run_clients(clients, 10, login)
        broken = [r for r in results if len(set(r)) != 1]
        assert broken == [], broken[:3]
        assert len(Counter(r[0] for r in results)) == 3
    finally:
        p.stop()


def test_bad_cookies_are_scheduled_normally(tmp_path, three):
    """A forged, malformed or expired cookie is ignored: the request is scheduled like a
    new client's (round robin reaches every server), and the answer carries a fresh,
    valid cookie for the server that served it."""
    port = free_port()
    cfg = config(port, three, '  mode = "cookie"\n  max_life = "2s"')
    p = start_proxy(tmp_path, cfg, port, workers=1)
    names = {b.name for b in three}

    def served_with_fresh_cookie(value: str) -> str:
        c = VClient(port)
        c.jar["L7LB"] = value
        status, who = c.get()
        assert status == 200 and who in names, (value, status, who)
        assert c.jar["L7LB"] != value, f"no fresh cookie for {value!r}"
        # the fresh cookie is valid, and names the server that answered
        assert c.get() == (200, who), value
        return who

    try:
        c = VClient(port)
        _, home = c.get()
        good = c.jar["L7LB"]
        issued = time.monotonic()
        forged = [
            "",
            "x",
            good[:-1],
            good[:10],
            good + "A",
            "A" * len(good),
            good[:5] + ("B" if good[5] != "B" else "C") + good[6:],
            "../../etc/passwd",
            "%00" * 20,
        ]
        reached = Counter(served_with_fresh_cookie(value) for value in forged)
        # nine requests in round robin: three on each server, none pinned to "home"
        assert reached == {name: 3 for name in names}, (home, reached)
        # past max_life, which the cookie counts in whole seconds: 2 s become 3 at most
        time.sleep(max(0.0, issued + 3.1 - time.monotonic()))
        expired = Counter(served_with_fresh_cookie(good) for _ in range(6))
        assert expired == {name: 2 for name in names}, (home, expired)
        assert "Traceback" not in p.error_log()
    finally:
        p.stop()


def test_cookie_attributes_indirect_and_nocache(tmp_path, three):
    from test_tls_proxy import client_ctx, make_cert

    cert, key = make_cert(tmp_path, "www.example.com")
    port, tport = free_port(), free_port()
    tls_vip = f"""
[[vip]]
name = "tls"
listen = ["127.0.0.1:{tport}"]
tls = {{ certificates = [{{ cert = "{cert}", key = "{key}" }}] }}
  [[vip.route]]
  pool = "web"
"""
    persistence = (
        '  mode = "cookie"\n  samesite = "Lax"\n  max_age = "1h"\n  domain = "example.com"'
    )
    cfg = config(port, three, persistence).replace("[pool.web]", tls_vip + "[pool.web]", 1)
    p = start_proxy(tmp_path, cfg, port, workers=1)
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/stats", headers={"Cookie": "app=1"})
        r = c.getresponse()
        r.read()
        sc = r.getheader("set-cookie")
        assert sc.startswith("L7LB=") and "Path=/" in sc and "HttpOnly" in sc
        assert "Domain=example.com" in sc and "Max-Age=3600" in sc and "SameSite=Lax" in sc
        assert "Secure" not in sc
        assert r.getheader("cache-control") == "private"
        value = sc.split(";")[0]
        # indirect: the backend never sees l7lb's cookie, only the application's
        c.request("GET", "/stats", headers={"Cookie": f"app=1; {value}"})
        r = c.getresponse()
        assert json.loads(r.read())["cookie"] == "app=1"
        assert r.getheader("set-cookie") is None  # valid cookie: not re-sent
        t = http.client.HTTPSConnection("127.0.0.1", tport, context=client_ctx(), timeout=5)
        t.request("GET", "/")
        r = t.getresponse()
        r.read()
        assert "; Secure" in r.getheader("set-cookie")
    finally:
        p.stop()


def admin(sock: str, *args: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "l7lb", "admin", "-s", sock, *args],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert r.returncode == 0, r.stderr + r.stdout
    return r.stdout


def test_drain_keeps_sticky_clients_and_takes_no_new_ones(tmp_path, three):
    port = free_port()
    sock = str(tmp_path / "admin.sock")
    p = start_proxy(
        tmp_path,
        config(port, three, '  mode = "cookie"', top=f'admin_socket = "{sock}"'),
        port,
        workers=2,
    )
    try:
        clients = [VClient(port) for _ in range(30)]
        first = {id(c): c.get()[1] for c in clients}
        on_b1 = [c for c in clients if first[id(c)] == "b1"]
        assert on_b1
        admin(sock, "drain", "web", "b1")
        time.sleep(0.3)
        for c in on_b1:
            for _ in range(3):
                assert c.get() == (200, "b1")
        newcomers = Counter(VClient(port).get()[1] for _ in range(30))
        assert "b1" not in newcomers
        out = admin(sock, "show", "servers")
        assert "drain" in out and "b1" in out
        admin(sock, "ready", "web", "b1")
        time.sleep(0.3)
        assert "b1" in Counter(VClient(port).get()[1] for _ in range(9))
    finally:
        p.stop()


def test_killed_backend_clients_redispatched_without_errors(tmp_path, three):
    port = free_port()
    health = health_table("0.3s", fall=2, rise=2)
    p = start_proxy(
        tmp_path, config(port, three, '  mode = "cookie"', health=health), port, workers=2
    )
    try:
        clients = [VClient(port) for _ in range(30)]
        first = {id(c): c.get()[1] for c in clients}
        victims = [c for c in clients if first[id(c)] == "b2"]
        assert victims
        three[1].stop()
        # no 5xx: the dead server's connect fails and the request goes elsewhere
        for c in victims:
            status, who = c.get()
            assert status == 200 and who != "b2"
        time.sleep(1.0)  # the checker marks b2 down
        for c in victims:
            status, who = c.get()
            assert status == 200 and who != "b2"
            # re-stuck: the same new server every time
            assert c.get()[1] == who
        assert "b2" in p.error_log() and "DOWN" in p.error_log()
    finally:
        p.stop()


def test_all_down_fallback_then_back_after_rise(tmp_path):
    port = free_port()
    bport = free_port()
    dead = Backend("solo", bport, None)  # type: ignore[arg-type]
    health = health_table("0.2s", fall=1, rise=2)
    fb = 'fallback = { status = 503, body = "sorry, back soon\\n" }'
    p = start_proxy(
        tmp_path,
        config(port, [dead], '  mode = "cookie"', health=health, extra_pool=fb),
        port,
        workers=2,
    )
    b = None
    try:
        time.sleep(0.6)
        assert VClient(port).get() == (503, "sorry, back soon")
        b = start_backend("solo", bport)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if VClient(port).get()[0] == 200:
                break
            time.sleep(0.1)
        assert VClient(port).get() == (200, "solo")
        assert "UP" in p.error_log()
    finally:
        p.stop()
        if b is not None:
            b.stop()


def test_one_health_check_per_interval_whatever_the_workers(tmp_path):
    b = start_backend("counted")
    port = free_port()
    health = '  [pool.web.health]\n  check = "http"\n  path = "/health"\n  interval = "0.25s"'
    p = start_proxy(
        tmp_path, config(port, [b], '  mode = "cookie"', health=health), port, workers=2
    )
    try:
        start = json.loads(_stats(port))["paths"].get("/health", 0)
        time.sleep(2.0)
        end = json.loads(_stats(port))["paths"].get("/health", 0)
        # 2 s / 0.25 s = 8 checks (one per interval), not 16 (one per worker)
        assert 6 <= end - start <= 10, end - start
    finally:
        p.stop()
        b.stop()


def _stats(port: int) -> str:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/stats")
    body = c.getresponse().read().decode()
    c.close()
    return body


def test_prefix_mode_marks_the_application_cookie(tmp_path, three):
    port = free_port()
    persistence = '  mode = "prefix"\n  name = "JSESSIONID"'
    p = start_proxy(tmp_path, config(port, three, persistence), port, workers=2)
    try:
        for _ in range(10):
            c = VClient(port)
            status, first = c.get("/login")
            assert status == 200
            value = c.jar["JSESSIONID"]
            server_id, sep, app_value = value.partition("~")
            assert sep and server_id and app_value  # <server-id>~<the backend's value>
            assert first not in server_id  # opaque: not the server's name
            for _ in range(4):
                assert c.get()[1] == first
            # the backend sees its own value, without the prefix
            stats = json.loads(_stats_with(port, c))
            assert stats["cookie"] == f"JSESSIONID={app_value}"
    finally:
        p.stop()


def _stats_with(port: int, c: VClient) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    cookie = "; ".join(f"{k}={v}" for k, v in c.jar.items())
    conn.request("GET", "/stats", headers={"Cookie": cookie})
    body = conn.getresponse().read().decode()
    conn.close()
    return body


def test_full_servers_queue_then_503(tmp_path):
    b = start_backend("only")
    port = free_port()
    servers = f'  [[pool.web.server]]\n  address = "{b.address}"\n  max_conn = 1\n'

    def cfg(timeout: str) -> str:
        return (
            f'[log]\naccess = "off"\n[[vip]]\nname = "v"\nlisten = ["127.0.0.1:{port}"]\n'
            f'  [[vip.route]]\n  pool = "web"\n[pool.web]\nqueue_timeout = "{timeout}"\n' + servers
        )

    def slow(delay: float) -> int:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", f"/slow?delay={delay}")
        status = c.getresponse().status
        c.close()
        return status

    p = start_proxy(tmp_path, cfg("5s"), port, workers=1)
    try:
        with ThreadPoolExecutor(3) as ex:
            statuses = list(ex.map(slow, [0.4, 0.4, 0.4]))
        assert statuses == [200, 200, 200]  # served one at a time, none refused
    finally:
        p.stop()
    p = start_proxy(tmp_path, cfg("0.3s"), port, workers=1)
    try:
        with ThreadPoolExecutor(2) as ex:
            first = ex.submit(slow, 1.5)
            time.sleep(0.2)
            t0 = time.monotonic()
            second = ex.submit(slow, 0.1)
            assert second.result() == 503
            assert time.monotonic() - t0 < 1.2  # the queue timeout, not the first request
            assert first.result() == 200
    finally:
        p.stop()
        b.stop()


def test_redispatch_false_answers_503_while_the_server_is_out(tmp_path, three):
    port = free_port()
    sock = str(tmp_path / "admin.sock")
    p = start_proxy(
        tmp_path,
        config(
            port,
            three,
            '  mode = "cookie"',
            extra_pool="redispatch = false",
            top=f'admin_socket = "{sock}"',
        ),
        port,
        workers=1,
    )
    try:
        c = VClient(port)
        _, first = c.get()
        admin(sock, "maint", "web", first)
        time.sleep(0.3)
        assert c.get()[0] == 503  # stuck to a server in maintenance, and no redispatch
        assert VClient(port).get()[0] == 200  # a new client is scheduled elsewhere
        admin(sock, "ready", "web", first)
        time.sleep(0.3)
        assert c.get() == (200, first)
    finally:
        p.stop()
