"""HTTP/2 and operations: reloads and SIGTERM under HTTP/2 load fail no stream, HTTP/1.1
and HTTP/2 clients share one VIP, h2c with prior knowledge beside HTTP/1.1."""

from __future__ import annotations

import http.client
import ssl
import subprocess
import threading
import time

import h2.exceptions
from h2client import Session
from procs import free_port, start_proxy

from l7lb.tls.certtool import certs_main


def config(tmp, port: int, backends, workers_note: str = "", plain_port: int = 0) -> str:
    assert certs_main(["new", "--cn", "localhost", "--self-signed", "--out", str(tmp / "c")]) == 0
    servers = "".join(
        f'  [[pool.web.server]]\n  name = "{b.name}"\n  address = "{b.address}"\n' for b in backends
    )
    plain = ""
    if plain_port:
        plain = f"""
[[vip]]
name = "plain"
listen = ["127.0.0.1:{plain_port}"]
http2 = "prior-knowledge"
  [[vip.route]]
  pool = "web"
"""
    return f"""{workers_note}
[[vip]]
name = "tls"
listen = ["127.0.0.1:{port}"]
tls = {{ certificates = [{{ cert = "{tmp / "c.pem"}", key = "{tmp / "c.key"}" }}] }}
  [[vip.route]]
  pool = "web"
{plain}
[pool.web]
scheduler = "rr"
{servers}"""


class H2Load:
    """Threads each keeping one HTTP/2 connection busy with ``streams`` requests at a time.

    A client does what RFC 9113 6.8 lets it: after GOAWAY it opens a new connection, and
    a stream above the GOAWAY's last stream id (never processed) is sent again there. Any
    other stream that does not end in a 200 is a failure."""

    def __init__(self, port: int, threads: int = 3, streams: int = 5, path: str = "/") -> None:
        self.port = port
        self.streams = streams
        self.path = path
        self.ok = 0
        self.retried = 0
        self.connections = 0
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _fail(self, why: str) -> None:
        with self.lock:
            self.failures.append(why)

    def _run(self) -> None:
        session: Session | None = None
        deadline = time.monotonic() + 120
        while not self.stop.is_set() and time.monotonic() < deadline:
            if session is None or session.goaway is not None or session.closed:
                if session is not None:
                    session.close()
                try:
                    session = Session(self.port)
                except OSError as exc:
                    self._fail(f"connect: {exc!r}")
                    session = None
                    continue
                with self.lock:
                    self.connections += 1
            try:
                session._pump(0)  # what came meanwhile (a GOAWAY?), as an event loop would
            except (OSError, h2.exceptions.ProtocolError) as exc:
                self._fail(f"read: {exc!r}")
                session = None
                continue
            if session.goaway is not None or session.closed:
                continue
            sids: list[int] = []
            try:
                for _ in range(self.streams):
                    sids.append(session.start(self.path))
            except h2.exceptions.ProtocolError:
                self._fail("h2 refused to open a stream")
                session = None
                continue
            except OSError as exc:
                # the connection was closed as the requests went out: a GOAWAY before the
                # close says none of them was processed (they go again on a new connection)
                for _ in range(5):
                    try:
                        if not session._pump(1.0):
                            break
                    except (OSError, h2.exceptions.ProtocolError):
                        break
                last = session.goaway.last_stream_id if session.goaway else None
                if last is not None and sids and min(sids) > last:
                    with self.lock:
                        self.retried += len(sids)
                elif last is not None and not sids:
                    with self.lock:
                        self.retried += 1
                else:
                    self._fail(f"send: {exc!r} (goaway {session.goaway})")
                session = None
                continue
            try:
                responses = session.wait(sids, timeout=20)
            except TimeoutError:
                responses = [session.responses[s] for s in sids]
            last = session.goaway.last_stream_id if session.goaway else None
            for r in responses:
                if r.done and r.status == 200 and r.reset is None and r.body.startswith(b"b"):
                    with self.lock:
                        self.ok += 1
                elif not r.done and last is not None and r.stream_id > last:
                    with self.lock:
                        self.retried += 1  # never processed: the next batch sends it again
                else:
                    self._fail(f"stream {r.stream_id}: {r} (goaway {session.goaway})")
        if session is not None:
            session.close()

    def __enter__(self) -> H2Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)


def test_five_reloads_under_http2_load_fail_no_stream(tmp_path, backends) -> None:
    port = free_port()
    cfg = config(tmp_path, port, backends)
    p = start_proxy(tmp_path, cfg, port, workers=2)
    try:
        with H2Load(port, threads=3, streams=5) as load:
            time.sleep(1.0)
            for i in range(5):
                before = p.worker_pids()
                p.reload(
                    cfg.replace(
                        'scheduler = "rr"', f'scheduler = "{"wrr" if i % 2 == 0 else "rr"}"'
                    )
                )
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    now = p.worker_pids()
                    if len(now) == 2 and not set(now) & set(before):
                        break
                    time.sleep(0.1)
                assert not set(p.worker_pids()) & set(before), "old workers did not retire"
                time.sleep(0.5)
        print(
            f"\nreloads under HTTP/2 load: {load.ok} streams ok, {load.retried} retried, "
            f"{load.connections} connections, failures {load.failures[:3]}"
        )
        assert load.failures == [], "\n".join(load.failures) + p.error_log()[-5000:]
        assert load.ok > 100 and load.connections >= 3 + 5  # each reload moved the clients
        assert p.error_log().count("reload: done") == 5
    finally:
        p.stop()


def test_sigterm_finishes_http2_streams_in_flight(tmp_path, backends) -> None:
    port = free_port()
    p = start_proxy(tmp_path, config(tmp_path, port, backends), port, workers=1)
    s = Session(port)
    sids = [s.start("/slow?delay=1.5") for _ in range(6)]
    time.sleep(0.5)
    t0 = time.monotonic()
    stopper = threading.Thread(target=p.stop)
    stopper.start()
    responses = s.wait(sids, timeout=15)
    stopper.join(20)
    assert [r.status for r in responses] == [200] * 6, responses
    assert s.goaway is not None and s.goaway.last_stream_id == 11 and s.goaway.code == 0
    assert p.proc.returncode == 0 and time.monotonic() - t0 < 10
    s.close()


def test_http11_and_http2_clients_share_one_vip(tmp_path, backends) -> None:
    port = free_port()
    p = start_proxy(tmp_path, config(tmp_path, port, backends), port, workers=2)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ok11: list[int] = []
    errors: list[str] = []

    def http11() -> None:
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx)
        for _ in range(100):
            try:
                c.request("GET", "/")
                r = c.getresponse()
                body = r.read()
            except OSError as exc:
                errors.append(repr(exc))
                return
            if r.status == 200 and r.version == 11 and body.startswith(b"b"):
                ok11.append(1)
            else:
                errors.append(f"{r.status} {body!r}")
        c.close()

    try:
        threads = [threading.Thread(target=http11) for _ in range(2)]
        with H2Load(port, threads=2, streams=8) as load:
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            time.sleep(0.5)
        assert errors == [] and len(ok11) == 200
        assert load.failures == [] and load.ok >= 16
        log = p.access_log()
        assert 'HTTP/1.1" 200' in log and 'HTTP/2.0" 200' in log
    finally:
        p.stop()


def test_h2c_with_prior_knowledge_beside_http11(tmp_path, backends) -> None:
    port, plain = free_port(), free_port()
    p = start_proxy(tmp_path, config(tmp_path, port, backends, plain_port=plain), port)
    try:
        out = subprocess.run(
            [
                "curl",
                "-s",
                "--http2-prior-knowledge",
                "-w",
                " %{http_version}",
                f"http://127.0.0.1:{plain}/",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        assert out.split()[1] == "2" and out.startswith("b")
        s = Session(plain, tls=False, authority=f"127.0.0.1:{plain}")
        r = s.get("/headers")
        assert r.status == 200 and b'"x-forwarded-proto", "http"' in r.body
        s.close()
        c = http.client.HTTPConnection("127.0.0.1", plain, timeout=10)
        c.request("GET", "/")
        r11 = c.getresponse()
        assert r11.status == 200 and r11.version == 11 and r11.read().startswith(b"b")
        # the TLS VIP still negotiates with ALPN, and offers HTTP/1.1 to who asks for it
        out = subprocess.run(
            ["curl", "-sk", "--http1.1", "-w", " %{http_version}", f"https://localhost:{port}/"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        assert out.split()[1] == "1.1"
    finally:
        p.stop()


def test_alpn_http11_only_turns_http2_off(tmp_path, backends) -> None:
    port = free_port()
    cfg = config(tmp_path, port, backends).replace('.key" }] }', '.key" }], alpn = ["http/1.1"] }')
    assert 'alpn = ["http/1.1"]' in cfg
    p = start_proxy(tmp_path, cfg, port)
    try:
        out = subprocess.run(
            ["curl", "-sk", "--http2", "-w", " %{http_version}", f"https://localhost:{port}/"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        assert out.split()[1] == "1.1"
    finally:
        p.stop()
