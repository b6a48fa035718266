"""Two directors (l7lb instances A and B) sharing a real Redis or memcached:
TLS sessions and tickets resume across them, persistence follows the client
(issue 6)."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from procs import Backend, Proxy, free_port, start_backend, start_proxy
from test_persistence_e2e import VClient
from test_tls_proxy import client_ctx, https_get, make_cert
from tlscounters import lookups_answered, refused, show_tls

from l7lb.persistence.table import source_key
from l7lb.store.backend import engine_key
from l7lb.store.stick import stick_key

sys.path.insert(0, str(Path(__file__).parent.parent / "store"))
from engines import DelayProxy, ServerProc, TlsRedisProc

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
    store_timeout: str = "1s",
    # Generous deadlines unless a test is about them: on a busy machine a ring fetch that
    # misses its deadline (a TLS connection to rediss:// takes a while) leaves a director
    # on a ring of its own, and a lookup that misses it looks like a refusal.
    store_write_timeout: str = "3s",
    admin_socket: str = "",
) -> str:
    servers = "".join(
        f'  [[pool.web.server]]\n  name = "{b.name}"\n  address = "{b.address}"\n' for b in backends
    )
    # the VIPs' ticket_rotation sets how often workers re-read the cluster's ring
    tls = f'certificates = [{{ cert = "{cert[0]}", key = "{cert[1]}" }}], '
    tls += f'ticket_rotation = "{rotation}"'
    admin = f'admin_socket = "{admin_socket}"' if admin_socket else ""
    return f"""
persistence_secret = "shared secret of the cluster, 32b"
{admin}
[log]
access = "off"
[store]
url = "{store_url}"
namespace = "{namespace}"
session_key = "{SESSION_KEY}"
timeout = "{store_timeout}"
write_timeout = "{store_write_timeout}"
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
        # "rediss": Redis over TLS, its certificate checked against its own CA
        self.store = TlsRedisProc(tmp) if engine == "rediss" else ServerProc(engine, tmp)
        self.backends: list[Backend] = []
        self.proxies: list[Proxy] = []
        self.ports: dict[str, dict[str, int]] = {}
        # admin sockets: a short directory, a socket path must fit in 108 bytes
        self.sockets = tempfile.mkdtemp(prefix="l7lb-ss-")
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
                self.store.url,
                self.namespace,
                ports,
                self.cert,
                self.backends,
                persistence,
                admin_socket=self.admin_socket(name),
                **kw,
            )
            self.proxies.append(start_proxy(d, cfg, ports["plain"], workers=1))

    def admin_socket(self, director: str) -> str:
        return f"{self.sockets}/{director}.sock"

    def proxy(self, director: str) -> Proxy:
        return self.proxies["AB".index(director)]

    def close(self) -> None:
        for p in self.proxies:
            p.stop()
        for b in self.backends:
            b.stop()
        self.store.stop()
        shutil.rmtree(self.sockets, ignore_errors=True)


@pytest.fixture(params=["redis", "memcached"])
def cluster(request, tmp_path):
    c = Cluster(tmp_path, request.param)
    yield c
    c.close()


def first_session(port: int, version: str, tickets: bool, name: str = "www.example.com"):
    """A full handshake on ``port``: the client context and the session it got."""
    ctx = client_ctx(tickets=tickets, version=version)
    status, _, reused, session, _, _ = https_get(port, name, ctx)
    assert status == 200 and not reused
    return ctx, session


def resumed_on(port: int, ctx, session, name: str = "www.example.com", within: float = 10.0):
    """True once a connection to ``port`` resumes ``session``. The issuing director writes
    the session to the store after the handshake, in the background: until it lands, the
    other director makes full handshakes (and the same session is offered again)."""
    deadline = time.monotonic() + within
    while True:
        status, _, reused, _, _, _ = https_get(port, name, ctx, session=session)
        assert status == 200
        if reused or time.monotonic() > deadline:
            return reused
        time.sleep(0.2)


def resumes(port_a: int, port_b: int, version: str, tickets: bool) -> bool:
    return resumed_on(port_b, *first_session(port_a, version, tickets))


def assert_refused(cluster: Cluster, director: str, vip: str, port: int, ctx, session, name):
    """``session`` is offered to ``vip`` of ``director`` and refused: a full handshake,
    which the proxy counts as one (not a failure), with every store lookup answered in
    time (a lookup that timed out would look the same to the client)."""
    sock = cluster.admin_socket(director)
    before = show_tls(sock)
    status, _, reused, _, _, _ = https_get(port, name, ctx, session=session)
    assert status == 200 and not reused
    why = refused(before, show_tls(sock), vip, cluster.proxy(director).error_log())
    assert why is None, why


def test_sessions_and_tickets_resume_on_the_other_director(cluster):
    a, b = cluster.ports["A"], cluster.ports["B"]
    assert resumes(a["id"], b["id"], "1.2", tickets=False), "TLS 1.2 session id"
    assert resumes(a["tk"], b["tk"], "1.2", tickets=True), "TLS 1.2 ticket"
    assert resumes(a["tk"], b["tk"], "1.3", tickets=True), "TLS 1.3 ticket"
    assert resumes(b["id"], a["id"], "1.3", tickets=False), "TLS 1.3 stateful session"
    # Never across VIPs, never across names. Each session is first shown to resume on B
    # where it may (so it is in the store), then refused where it may not.
    ctx, session = first_session(a["tk"], "1.2", tickets=False)
    assert resumed_on(b["tk"], ctx, session), "control: resumes on the same VIP"
    assert_refused(cluster, "B", "tls-id", b["id"], ctx, session, "www.example.com")
    ctx, session = first_session(a["id"], "1.2", tickets=False)
    assert resumed_on(b["id"], ctx, session), "control: resumes under the same name"
    assert_refused(cluster, "B", "tls-id", b["id"], ctx, session, "other.example.com")


def entry_keys(r, namespace: str) -> list[bytes]:
    """The store's session and stick-table keys (not the ticket rings)."""
    return [k for k in r.keys(f"{namespace}:*") if b"ticket-ring" not in k]


def wait_for_keys(r, namespace: str, n: int, within: float = 10.0) -> list[bytes]:
    """The entry keys once there are at least ``n`` (written in the background)."""
    deadline = time.monotonic() + within
    while len(keys := entry_keys(r, namespace)) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return keys


def test_rediss_store_shares_sessions_and_stickiness(tmp_path):
    """The shared store over TLS (rediss://): a session made on A resumes on B, and a
    client stuck on A stays on its server on B."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (CI installs it with apt)")
    c = Cluster(tmp_path, "rediss")
    try:
        a, b = c.ports["A"], c.ports["B"]
        assert resumes(a["id"], b["id"], "1.2", tickets=False), "TLS 1.2 session id"
        assert resumes(a["tk"], b["tk"], "1.3", tickets=True), "TLS 1.3 ticket"
        assert all(lookups_answered(p.error_log()) for p in c.proxies)
        assert all("unreachable" not in p.error_log() for p in c.proxies)
    finally:
        c.close()


def test_tampered_store_blobs_are_not_resumed(tmp_path):
    # cookie persistence keeps nothing in the store: the one entry is the session
    c = Cluster(tmp_path, "redis", persistence='  mode = "cookie"')
    try:
        import redis

        a, b = c.ports["A"], c.ports["B"]
        ctx = client_ctx(tickets=False, version="1.2")
        _, _, _, session, _, _ = https_get(a["id"], "www.example.com", ctx)
        r = redis.Redis(host="127.0.0.1", port=c.store.port)
        keys = wait_for_keys(r, c.namespace, 1)
        assert keys, "the session was not written to the store"
        for k in keys:
            blob = bytearray(r.get(k))
            blob[len(blob) // 2] ^= 0x01
            r.set(k, bytes(blob))
        assert_refused(c, "B", "tls-id", b["id"], ctx, session, "www.example.com")
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
            deadline = time.monotonic() + 60
            while not stop.is_set() and time.monotonic() < deadline:
                for port in (a["id"], b["id"]):
                    try:
                        status = https_get(port, "www.example.com", ctx)[0]
                        if status != 200:
                            errors.append(f"status {status}")
                        done[0] += 1
                    except OSError as exc:
                        errors.append(repr(exc))

        def wait_done(n: int) -> None:
            # counted in requests, not seconds: a busy machine serves fewer per second
            deadline = time.monotonic() + 30
            while done[0] < n and time.monotonic() < deadline:
                time.sleep(0.05)

        t = threading.Thread(target=load)
        t.start()
        wait_done(4)
        c.store.stop()
        before = done[0]
        wait_done(before + 20)
        stop.set()
        t.join(30)
        assert errors == [] and done[0] >= before + 20, (errors, before, done[0])
        assert all("unreachable" in p.error_log() for p in c.proxies)
        # the store comes back on the same port: resumption returns, no restart of l7lb
        c.store.start()
        # A's first writes may still meet its outage (skipped until its next probe): each
        # try is a new session from A, until one reaches the store and B resumes it
        deadline = time.monotonic() + 30
        ok = False
        while not ok and time.monotonic() < deadline:
            ok = resumed_on(b["id"], *first_session(a["id"], "1.2", tickets=False), within=1)
        assert ok
    finally:
        c.close()


def test_slow_store_does_not_delay_handshakes(tmp_path):
    """A store 3 s slow per reply: handshakes wait the 20 ms deadline at most, far less
    than the store (on a busy machine a handshake alone can take a few hundred ms)."""
    with contextlib.ExitStack() as stack:
        store = ServerProc("redis", tmp_path)
        stack.callback(store.stop)
        store.start()
        slow = DelayProxy(store.port, 3.0)
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
            store_write_timeout="200ms",
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
        # every lookup goes to the 3 s store; none may wait for it
        assert max(times) < 1.5, times


def s_client(port: int, sess_in: Path | None, sess_out: Path) -> str:
    """One TLS 1.3 request by openssl s_client; its report. ``sess_out`` is written when the
    server hands out a ticket: after a full handshake, and after a resumption whose ticket
    the server renews (sealed with an older key), only then."""
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername"]
    argv += ["www.example.com", "-tls1_3", "-ign_eof", "-sess_out", str(sess_out)]
    if sess_in is not None:
        argv += ["-sess_in", str(sess_in)]
    # a request, read to the end: the ticket comes after the handshake
    request = b"GET / HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n"
    r = subprocess.run(argv, input=request, capture_output=True, timeout=30)
    return r.stdout.decode(errors="replace")


def ticket_key_name(sess: Path) -> bytes | None:
    """The key name l7lb's tickets start with (as RFC 5077 §4 lays them out): which key
    sealed it. None when ``sess`` holds no ticket (or was not written)."""
    if not sess.exists() or sess.stat().st_size == 0:
        return None
    out = subprocess.run(
        ["openssl", "sess_id", "-in", str(sess), "-noout", "-text"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    # "    TLS session ticket:" then "    0000 - cc c3 32 16 36 da a4 f0-cc 5a ...   ascii"
    m = re.search(r"TLS session ticket:\n\s*0000 - ((?:[0-9a-f]{2}[ -]){16})", out)
    return bytes.fromhex(m.group(1).replace("-", " ")) if m else None


def test_ticket_rotation_across_directors(tmp_path):
    """The directors rotate their ticket key together, while they run: a ticket issued on A
    resumes on B as it is, then (once a rotation has reached B) B renews it under a new key,
    and A accepts the renewed ticket as it is (A has rotated too)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (CI installs it with apt)")
    rotation = 6.0
    c = Cluster(tmp_path, "redis", rotation=f"{rotation:g}s")
    try:
        a, b = c.ports["A"], c.ports["B"]
        attempts = iter(range(1000))

        def resume(port: int, ticket: Path) -> tuple[bytes | None, Path]:
            """Resume ``ticket`` on ``port``: the key name of the renewed ticket (None if
            the ticket was not renewed), and the file it was written to."""
            out = tmp_path / f"ticket{next(attempts)}.pem"
            report = s_client(port, ticket, out)
            assert "Reused, " in report, report
            return ticket_key_name(out), out

        # Issue the ticket late in a period: a worker re-reads its supervisor's ring every
        # rotation / 4, which re-reads the store as often, so both directors seal with that
        # period's key after half of it at most. The check on B must end within the same
        # period (after it, B may rightly renew): on a machine so slow that it did not, the
        # check says nothing and is made again in a later period.
        for _ in range(3):
            while not 0.7 * rotation <= time.time() % rotation < 0.75 * rotation:
                time.sleep(0.05)
            period = time.time() // rotation
            first = tmp_path / f"first{period:.0f}.pem"
            assert "New, " in s_client(a["tk"], None, first)
            issued = ticket_key_name(first)
            assert issued is not None
            renewed_by_b = resume(b["tk"], first)[0]
            in_time = time.time() // rotation == period
            if in_time:
                break
        assert in_time, "no period left the time to check B"
        assert renewed_by_b is None, "B does not seal with A's current key"
        # the next period: the ticket's key becomes B's previous one, and B renews it
        deadline = time.monotonic() + rotation
        renewed = None
        while renewed is None and time.monotonic() < deadline:
            renewed, renewed_ticket = resume(b["tk"], first)
            time.sleep(0.1)
        assert renewed is not None, "B never renewed the ticket: no rotation reached it"
        assert renewed != issued
        # A may re-read the ring a little after B: until then it renews the new ticket too
        deadline = time.monotonic() + rotation
        while resume(a["tk"], renewed_ticket)[0] is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert resume(a["tk"], renewed_ticket)[0] is None, "A did not rotate with B"
    finally:
        c.close()


# What a worker logs when the supervisor did not answer a persistence claim within its
# 50 ms (CLAIM_TIMEOUT): the request was then scheduled without the store's answer.
CLAIM_UNANSWERED = "no answer from the supervisor in time"


@pytest.mark.parametrize("mode", ["source", "learned"])
def test_stickiness_follows_the_client_to_the_other_director(tmp_path, mode):
    """Only the store can make B agree with A: B's round robin is one step ahead of A's
    (one request from another client first), so on its own B would send every client
    elsewhere.

    A worker waits 50 ms at most for its supervisor's answer from the store, which a busy
    machine can miss: a client whose first request on B was scheduled without the answer
    (B logs it) proves nothing, and another client takes its place."""
    import redis

    persistence = '  mode = "source"' if mode == "source" else '  mode = "jsessionid"'
    c = Cluster(tmp_path, "redis", persistence=persistence)
    try:
        a, b = c.ports["A"]["plain"], c.ports["B"]["plain"]
        r = redis.Redis(host="127.0.0.1", port=c.store.port)
        assert VClient(b, source="127.0.0.40").get()[0] == 200
        firsts: list[str] = []
        unanswered = 0
        for i in range(60):
            if len(firsts) == 12:
                break
            src = f"127.0.0.{50 + i}"
            ca = VClient(a, source=src)
            first = ca.get("/login" if mode == "learned" else "/")
            assert first[0] == 200
            # what A learned reaches the store in the background: wait for it
            key = source_key(src) if mode == "source" else ca.jar["JSESSIONID"].encode()
            entry = engine_key(c.namespace, stick_key("web", key))
            deadline = time.monotonic() + 10
            while r.get(entry) is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert r.get(entry) == first[1].encode(), (src, first)
            cb = VClient(b, source=src)
            cb.jar = dict(ca.jar)
            expired = c.proxy("B").error_log().count(CLAIM_UNANSWERED)
            got = [cb.get("/") for _ in range(3)]
            if c.proxy("B").error_log().count(CLAIM_UNANSWERED) > expired:
                unanswered += 1
                continue
            assert got == [first] * 3, (src, first, got)
            firsts.append(first[1])
        assert len(firsts) == 12, f"{unanswered} claims unanswered in 50 ms: too busy"
        # A's round robin spread the clients (so B, one step ahead, would not have agreed)
        assert set(firsts) == {"b1", "b2", "b3"}, firsts
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
