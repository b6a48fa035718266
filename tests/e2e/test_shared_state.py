"""Two directors (l7lb instances A and B) sharing a real Redis or memcached:
TLS sessions and tickets resume across them, persistence follows the client
(issue 6)."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from procs import Backend, Proxy, free_port, start_backend, start_proxy
from test_persistence_e2e import VClient
from test_tls_proxy import client_ctx, https_get, make_cert

sys.path.insert(0, str(Path(__file__).parent.parent / "store"))
from engines import DelayProxy, ServerProc

SESSION_KEY = "11" * 32


def director_config(
    store_url: str,
    namespace: str,
    ports: dict[str, int],
    cert,
    backends,
    persistence: str,
    *,
    rotation: str = "1h",
    store_timeout: str = "100ms",
) -> str:
    servers = "".join(
        f'  [[pool.web.server]]\n  name = "{b.name}"\n  address = "{b.address}"\n' for b in backends
    )
    tls = f'certificates = [{{ cert = "{cert[0]}", key = "{cert[1]}" }}]'
    return f"""
persistence_secret = "shared secret of the cluster, 32b"
[log]
access = "off"
[store]
url = "{store_url}"
namespace = "{namespace}"
session_key = "{SESSION_KEY}"
timeout = "{store_timeout}"
ticket_rotation = "{rotation}"
ticket_max_age = "24h"

[[vip]]
name = "tls-id"
listen = ["127.0.0.1:{ports["id"]}"]
tls = {{ {tls}, tickets = false }}
  [[vip.route]]
  pool = "web"

[[vip]]
name = "tls-tk"
listen = ["127.0.0.1:{ports["tk"]}"]
tls = {{ {tls} }}
  [[vip.route]]
  pool = "web"

[[vip]]
name = "plain"
listen = ["127.0.0.1:{ports["plain"]}"]
  [[vip.route]]
  pool = "web"

[pool.web]
  [pool.web.persistence]
{persistence}
{servers}"""


class Cluster:
    def __init__(
        self, tmp: Path, engine: str, persistence: str = '  mode = "source"', **kw: str
    ) -> None:
        self.store = ServerProc(engine, tmp)
        self.backends: list[Backend] = []
        self.proxies: list[Proxy] = []
        self.ports: dict[str, dict[str, int]] = {}
        try:
            self._start(tmp, persistence, **kw)
        except BaseException:
            self.close()  # a failed start must not leave redis or realservers behind
            raise

    def _start(self, tmp: Path, persistence: str, **kw: str) -> None:
        self.store.start()
        self.backends = [start_backend(f"b{i}") for i in (1, 2, 3)]
        self.cert = make_cert(tmp, "www.example.com")
        self.namespace = "e2e" + uuid.uuid4().hex[:8]
        for name in ("A", "B"):
            d = tmp / name
            d.mkdir()
            ports = {"id": free_port(), "tk": free_port(), "plain": free_port()}
            self.ports[name] = ports
            cfg = director_config(
                self.store.url, self.namespace, ports, self.cert, self.backends, persistence, **kw
            )
            self.proxies.append(start_proxy(d, cfg, ports["plain"], workers=1))

    def close(self) -> None:
        for p in self.proxies:
            p.stop()
        for b in self.backends:
            b.stop()
        self.store.stop()


@pytest.fixture(params=["redis", "memcached"])
def cluster(request, tmp_path):
    c = Cluster(tmp_path, request.param)
    yield c
    c.close()


def resumes(
    port_a: int,
    port_b: int,
    version: str,
    tickets: bool,
    name: str = "www.example.com",
    name_b: str | None = None,
) -> bool:
    ctx = client_ctx(tickets=tickets, version=version)
    status, _, reused, session, _, _ = https_get(port_a, name, ctx)
    assert status == 200 and not reused
    time.sleep(0.3)  # the session is written to the store after the handshake
    status, _, reused, _, _, _ = https_get(port_b, name_b or name, ctx, session=session)
    assert status == 200
    return reused


def test_sessions_and_tickets_resume_on_the_other_director(cluster):
    a, b = cluster.ports["A"], cluster.ports["B"]
    assert resumes(a["id"], b["id"], "1.2", tickets=False), "TLS 1.2 session id"
    assert resumes(a["tk"], b["tk"], "1.2", tickets=True), "TLS 1.2 ticket"
    assert resumes(a["tk"], b["tk"], "1.3", tickets=True), "TLS 1.3 ticket"
    assert resumes(b["id"], a["id"], "1.3", tickets=False), "TLS 1.3 stateful session"
    # never across VIPs, never across names
    assert not resumes(a["tk"], b["id"], "1.2", tickets=False)
    assert not resumes(a["id"], b["id"], "1.2", tickets=False, name_b="other.example.com")


def test_tampered_store_blobs_are_not_resumed(tmp_path):
    c = Cluster(tmp_path, "redis")
    try:
        import redis

        a, b = c.ports["A"], c.ports["B"]
        ctx = client_ctx(tickets=False, version="1.2")
        _, _, _, session, _, _ = https_get(a["id"], "www.example.com", ctx)
        time.sleep(0.3)
        r = redis.Redis(host="127.0.0.1", port=c.store.port)
        keys = [k for k in r.keys(f"{c.namespace}:*") if b"ticket-ring" not in k]
        assert keys, "the session was not written to the store"
        for k in keys:
            blob = bytearray(r.get(k))
            blob[len(blob) // 2] ^= 0x01
            r.set(k, bytes(blob))
        status, _, reused, _, _, _ = https_get(b["id"], "www.example.com", ctx, session=session)
        assert status == 200 and not reused
        assert all("Traceback" not in p.error_log() for p in c.proxies)
    finally:
        c.close()


def test_store_killed_mid_load_then_back(tmp_path):
    c = Cluster(tmp_path, "redis")
    try:
        a, b = c.ports["A"], c.ports["B"]
        errors: list[str] = []
        done = [0]
        stop = threading.Event()

        def load() -> None:
            ctx = client_ctx(tickets=False, version="1.2")
            deadline = time.monotonic() + 30
            while not stop.is_set() and time.monotonic() < deadline:
                for port in (a["id"], b["id"]):
                    try:
                        status = https_get(port, "www.example.com", ctx)[0]
                        if status != 200:
                            errors.append(f"status {status}")
                        done[0] += 1
                    except OSError as exc:
                        errors.append(repr(exc))

        t = threading.Thread(target=load)
        t.start()
        time.sleep(0.5)
        c.store.stop()
        time.sleep(1.5)
        stop.set()
        t.join(30)
        assert errors == [] and done[0] > 10
        assert all("unreachable" in p.error_log() for p in c.proxies)
        # the store comes back on the same port: resumption returns, no restart of l7lb
        c.store.start()
        deadline = time.monotonic() + 10
        ok = False
        while time.monotonic() < deadline and not ok:
            ok = resumes(a["id"], b["id"], "1.2", tickets=False)
        assert ok
    finally:
        c.close()


def test_slow_store_does_not_delay_handshakes(tmp_path):
    """A store 200 ms slow per reply: handshakes wait the 20 ms deadline at most."""
    with contextlib.ExitStack() as stack:
        store = ServerProc("redis", tmp_path)
        stack.callback(store.stop)
        store.start()
        slow = DelayProxy(store.port, 0.2)
        stack.callback(slow.stop)
        b = start_backend("b1")
        stack.callback(b.stop)
        cert = make_cert(tmp_path, "www.example.com")
        ports = {"id": free_port(), "tk": free_port(), "plain": free_port()}
        cfg = director_config(
            f"redis://127.0.0.1:{slow.port}/0",
            "slow",
            ports,
            cert,
            [b],
            '  mode = "source"',
            store_timeout="20ms",
        )
        p = start_proxy(tmp_path, cfg, ports["plain"], workers=1)
        stack.callback(p.stop)
        ctx = client_ctx(tickets=False, version="1.2")
        session = None
        times = []
        for _ in range(7):
            t0 = time.monotonic()
            status, _, _, session, _, _ = https_get(
                ports["id"], "www.example.com", ctx, session=session
            )
            times.append(time.monotonic() - t0)
            assert status == 200
        # every lookup hits the 200 ms store; none may wait for it
        assert sorted(times)[3] < 0.15, times


def test_ticket_rotation_across_directors(tmp_path):
    c = Cluster(tmp_path, "redis", rotation="2s")
    try:
        a, b = c.ports["A"], c.ports["B"]
        ctx = client_ctx(tickets=True, version="1.2")
        _, _, _, session, _, _ = https_get(a["tk"], "www.example.com", ctx)
        time.sleep(2.6)  # past a rotation: the ticket's key is now the previous one
        status, _, reused, _, _, _ = https_get(b["tk"], "www.example.com", ctx, session=session)
        assert status == 200 and reused
    finally:
        c.close()


@pytest.mark.parametrize("mode", ["source", "learned"])
def test_stickiness_follows_the_client_to_the_other_director(tmp_path, mode):
    persistence = '  mode = "source"' if mode == "source" else '  mode = "jsessionid"'
    c = Cluster(tmp_path, "redis", persistence=persistence)
    try:
        a, b = c.ports["A"]["plain"], c.ports["B"]["plain"]
        for i in range(12):
            src = f"127.0.0.{50 + i}"
            ca = VClient(a, source=src)
            first = ca.get("/login" if mode == "learned" else "/")
            assert first[0] == 200
            time.sleep(0.05)
            cb = VClient(b, source=src)
            cb.jar = dict(ca.jar)
            for _ in range(3):
                assert cb.get("/") == first, (src, first)
    finally:
        c.close()


def test_reload_applies_changed_store_settings(tmp_path):
    """A reload that changes [store] (here the namespace) reopens the supervisor's
    store with the new settings; one that drops [store] closes it."""
    c = Cluster(tmp_path, "redis")
    try:
        a = c.proxies[0]
        text = a.config_path.read_text()
        a.reload(text.replace(c.namespace, c.namespace + "x"))
        deadline = time.monotonic() + 15
        while a.error_log().count("reload: done") < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert f"(namespace {c.namespace}x)" in a.error_log()
        i, j = text.index("[store]"), text.index("[[vip]]")
        a.reload(text[:i] + text[j:])
        while a.error_log().count("reload: done") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert a.error_log().count("reload: done") == 2
        port = c.ports["A"]["id"]
        assert (
            https_get(port, "www.example.com", client_ctx(tickets=False, version="1.2"))[0] == 200
        )
    finally:
        c.close()
