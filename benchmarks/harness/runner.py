"""Runs scenarios: backend once, then each proxy variant in turn, pinned, measured, stopped."""

from __future__ import annotations

import http.client
import json
import shlex
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from harness import configs, machine, tlsparams
from harness.interrupts import wakeups
from harness.loadtools import (
    ParseError,
    bench_command,
    h2load_command,
    parse_bench_json,
    parse_h2load,
    parse_s_time,
    parse_wrk,
    s_time_command,
    wrk_command,
)
from harness.processes import Managed, StartError, free_port, pinned, run_bounded, run_parallel
from harness.procstat import descendants, tree_cpu_seconds
from harness.results import ScenarioResult, VariantRun
from harness.scenarios import VARIANTS, Variant, spec, unit
from harness.stats import Measurement
from l7lb import native
from l7lb.bench.scenario import Scenario

NGINX = "/usr/sbin/nginx"
FLOOR = Path(__file__).resolve().parent.parent / "floor.py"
HAPROXY = "/usr/sbin/haproxy"
LOAD_CPU = "0"  # wrk / s_time / l7lb bench and the nginx backend
PROXY_CPU = "1"  # the proxy under test, alone
S_TIME_CLIENTS = 4  # s_time is one connection at a time; several keep the proxy busy
WARMUP_SECONDS = 1.0
IDLE_SAMPLE_SECONDS = 1.0  # how long the machine's idle share is sampled before a round


@dataclass
class Settings:
    runs: int = 3
    duration: float = 5.0
    repo: Path = Path(".")
    log: Callable[[str], None] = print
    # Before each round: wait (up to wait_max seconds) until this share of both CPUs is idle
    # while nothing of ours runs; 0 measures and records the share without waiting.
    wait_idle: float = 0.0
    wait_max: float = 600.0
    # the interpreter that runs l7lb and the floors (compare.py --python); the load clients
    # and this harness run on this one
    python: str = sys.executable


class Skip(Exception):
    """The scenario needs something this l7lb does not have yet."""


class Unsupported(StartError):
    """The proxy started but does not do what the scenario measures (e.g. the persistence
    table is accepted but no cookie is set): the whole scenario is skipped."""


class Bench:
    """Owns the temporary directory, the backend and the certificates for a whole session."""

    def __init__(self, tmp: Path, settings: Settings):
        self.tmp = tmp
        self.s = settings
        self.backend: Managed | None = None
        self.backend_ports: list[int] = []
        self._certs: dict[str, configs.Cert] = {}
        self.bench_json = tmp / "bench.json"
        # the group (and the floor's TLS 1.3 suite) for the Python servers: tlsparams.py
        self.openssl_conf = tmp / "openssl-pinned.cnf"
        self.openssl_conf.write_text(tlsparams.openssl_conf())

    # -- backend and certificates -------------------------------------------------------------

    def start_backend(self, servers: int) -> None:
        www = self.tmp / "www"
        www.mkdir()
        (www / "1mib").write_bytes(bytes(range(256)) * (configs.ONE_MIB // 256))
        # nginx workers run as "nobody" when started by root: they must be able to read it.
        for p in (self.tmp, www, www / "1mib"):
            p.chmod(0o755)
        self.backend_ports = [free_port() for _ in range(servers)]
        conf = self.tmp / "backend-nginx.conf"
        conf.write_text(configs.nginx_backend(self.backend_ports, str(www), str(self.tmp)))
        self.backend = Managed(
            "nginx backend",
            pinned(LOAD_CPU, [NGINX, "-c", str(conf), "-p", str(self.tmp)]),
            self.tmp / "backend-nginx.out",
        )
        self.backend.start()
        for port in self.backend_ports:
            self.backend.wait_listening(port)

    def stop(self) -> None:
        if self.backend is not None:
            self.backend.stop()

    def cert(self, kind: str) -> configs.Cert:
        if kind not in self._certs:
            self._certs[kind] = make_cert(self.tmp, kind)
        return self._certs[kind]

    # -- one scenario ---------------------------------------------------------------------------

    def run_scenario(self, sc: Scenario, only: tuple[str, ...] | None = None) -> ScenarioResult:
        result = ScenarioResult(sc, loadavg_start=machine.loadavg())
        try:
            self._run_scenario(sc, result, only)
        finally:
            result.loadavg_end = machine.loadavg()
            self.s.log(f"  load average: {result.loadavg_start} -> {result.loadavg_end}")
        return result

    def _run_scenario(
        self, sc: Scenario, result: ScenarioResult, only: tuple[str, ...] | None
    ) -> None:
        labels = [v for v in spec(sc).variants if only is None or v in only]
        try:
            self._probe_l7lb(sc, labels)
        except Skip as exc:
            result.skipped = str(exc)
            self.s.log(f"  {sc.name}: skipped: {exc}")
            return
        for run in range(self.s.runs):
            result.idle.append(self._quiet())
            for label in labels:  # A B A B: every round visits the proxies in the same order
                if label in result.failures:
                    continue
                self.s.log(f"  {sc.name} run {run + 1}/{self.s.runs}: {label}")
                try:
                    m = self._measure(sc, VARIANTS[label], result)
                except Unsupported as exc:
                    result.skipped = str(exc)
                    result.runs.clear()
                    self.s.log(f"  {sc.name}: skipped: {exc}")
                    return
                except (
                    StartError,
                    ParseError,
                    RuntimeError,
                    OSError,
                    subprocess.TimeoutExpired,
                ) as exc:
                    detail = getattr(exc, "output", "")
                    result.failures[label] = f"{exc}" + (f": {_tail(detail)}" if detail else "")
                    self.s.log(f"    FAILED: {result.failures[label]}")
                    continue
                result.runs.setdefault(label, []).append(m)
                self.s.log(
                    f"    {m.rps:,.0f} {unit(sc)}/s, {m.mbps:,.1f} MB/s, "
                    f"{m.cpu_us_per_request:.1f} us CPU each, proxy CPU {m.cpu_utilisation:.0%}, "
                    f"errors {m.errors}"
                    + (
                        f", CPU {LOAD_CPU} woken {m.wakeups_per_request:.2f} times per "
                        f"{unit(sc).removesuffix('s')}"
                        if m.wakeups >= 0
                        else ""
                    )
                    + (f", resumed {m.resumed_share:.0%}" if m.resumed >= 0 else "")
                    + (
                        f", sticky violations {m.sticky_violations}"
                        if m.sticky_violations >= 0
                        else ""
                    )
                )

    def _quiet(self) -> float:
        """The share of both CPUs left idle by everything else on the machine (only the
        backend of ours runs, idle), sampled for a second; with ``wait_idle``, sampled again
        every few seconds until it is reached or ``wait_max`` has passed. Returns the last."""
        deadline = time.monotonic() + self.s.wait_max
        while True:
            before = machine.read_cpu_times()
            time.sleep(IDLE_SAMPLE_SECONDS)
            idle = machine.idle_share(before, machine.read_cpu_times())
            if idle >= self.s.wait_idle or time.monotonic() >= deadline:
                break
            self.s.log(f"  machine {idle:.0%} idle, waiting for {self.s.wait_idle:.0%}")
            time.sleep(4.0)
        self.s.log(f"  machine {idle:.0%} idle before the round")
        return idle

    def _probe_l7lb(self, sc: Scenario, labels: list[str]) -> None:
        """``l7lb check`` the scenario's l7lb configs: a table this version rejects (exit 2)
        skips the scenario with l7lb's own words."""
        for label in labels:
            v = VARIANTS[label]
            if v.proxy != "l7lb":
                continue
            conf = self.tmp / f"probe-{label}.toml"
            conf.write_text(self._l7lb_config(sc, v, free_port()))
            rc, out = run_bounded(
                [self.s.python, "-m", "l7lb", "check", "-c", str(conf)], timeout=30
            )
            if rc == 2:
                raise Skip(f"l7lb rejects the {label} configuration: {_tail(out, 3)}")
            if rc != 0:
                raise Skip(f"`l7lb check` failed with status {rc}: {_tail(out, 3)}")

    def _l7lb_config(self, sc: Scenario, v: Variant, port: int) -> str:
        cert = self.cert(sc.tls) if sc.tls else None
        ports = self.backend_ports[: sc.servers]
        return configs.l7lb(port, ports, v.parser, cert, v.cookie)

    def _start_proxy(self, sc: Scenario, v: Variant, port: int) -> tuple[Managed, VariantRun]:
        cert = self.cert(sc.tls) if sc.tls else None
        ports = self.backend_ports[: sc.servers]
        out = self.tmp / f"{v.label}.out"
        http2 = spec(sc).client == "h2load"
        # Python's ssl has no call for the group: OpenSSL's own configuration pins it
        pinned_env = [f"OPENSSL_CONF={self.openssl_conf}"] if cert is not None else []
        if v.proxy == "l7lb":
            text = configs.l7lb(port, ports, v.parser, cert, v.cookie)
            conf = self.tmp / f"{v.label}.toml"
            argv = [self.s.python, "-m", "l7lb", "run", "-c", str(conf), "--workers", "1"]
            env = ["L7LB_PURE=1"] if v.pure else []
            if not v.pure and (build := native.check()) != "compiled":
                # the figures of the shipped build must not silently be the pure path's
                raise StartError(f"{v.label}: the hot path is not compiled: {build}")
            if env or pinned_env:
                argv = ["env", *env, *pinned_env, *argv]
        elif v.proxy == "haproxy":
            text = configs.haproxy(port, ports, cert, v.cookie, http2)
            conf = self.tmp / f"{v.label}.cfg"
            argv = [HAPROXY, "-db", "-f", str(conf)]
        elif v.proxy == "floor":
            if v.cookie or len(ports) != 1:
                raise StartError("the floor relays to one backend, without persistence")
            text = f"(no configuration: {FLOOR} --mode {v.parser})"
            conf = self.tmp / f"{v.label}.txt"
            argv = [
                self.s.python,
                str(FLOOR),
                "--mode",
                v.parser,
                "--listen",
                str(port),
                "--backend",
                f"127.0.0.1:{ports[0]}",
            ]
            if cert is not None:
                argv += ["--cert", cert.cert, "--key", cert.key]
                argv += ["--tickets", str(tlsparams.TICKETS), "--ciphers", tlsparams.TLS12_CIPHERS]
                argv = ["env", *pinned_env, *argv]
        elif v.proxy == "nginx":
            if v.cookie:
                raise StartError("nginx has no cookie-insertion persistence")
            text = configs.nginx_proxy(port, ports, str(self.tmp), cert, http2)
            conf = self.tmp / f"{v.label}.conf"
            argv = [NGINX, "-c", str(conf), "-p", str(self.tmp)]
        else:
            raise StartError(f"unknown proxy {v.proxy!r}")
        conf.write_text(text)
        argv = pinned(PROXY_CPU, argv)
        proc = Managed(v.label, argv, out, cwd=str(self.s.repo))
        return proc, VariantRun(command=shlex.join(argv), config=text)

    def _measure(self, sc: Scenario, v: Variant, result: ScenarioResult) -> Measurement:
        port = free_port()
        proc, seen = self._start_proxy(sc, v, port)
        try:
            proc.start()
            proc.wait_listening(port)
            cookie = self._ready(sc, port, proc)
            if v.cookie and cookie is None:
                # Otherwise the "cookie" figures would silently measure no persistence at all.
                raise Unsupported(
                    f"{v.label} accepted the persistence table but set no cookie on its "
                    "first response (persistence not active in the data path yet?)"
                )
            if v.proxy == "l7lb":
                self._wait_worker(proc)
            if sc.is_tls and v.label not in result.seen:
                # once per proxy and scenario, before its first measured run
                seen.probes = self._probe_tls(sc, port)
            elif v.label in result.seen:
                seen.probes = result.seen[v.label].probes
            load = self._load_argvs(sc, port, cookie)
            seen.load_command = "\n".join(shlex.join(a) for a in load)
            result.seen[v.label] = seen
            if spec(sc).client in ("wrk", "h2load"):
                run_bounded(
                    self._load_argvs(sc, port, cookie, WARMUP_SECONDS)[0],
                    timeout=WARMUP_SECONDS + 30,
                )
            return self._load(sc, load, proc.pid)
        finally:
            proc.stop()

    def _wait_worker(self, proc: Managed) -> None:
        """Until l7lb's supervisor has a worker (it answers only through one)."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if descendants(proc.pid):
                return
            time.sleep(0.05)
        raise StartError("l7lb started no worker within 10 s", proc.output())

    def _probe_tls(self, sc: Scenario, port: int) -> list[tuple[str, str]]:
        """What the proxy negotiates must be what ``tlsparams`` pins (suite or cipher, group,
        TLS 1.3 tickets, and h2 by ALPN for h2load), or it fails this scenario with the
        difference named."""
        assert sc.tls is not None
        seen, problems = probe_tls(port, sc.tls, "h2" if spec(sc).client == "h2load" else "")
        if problems:
            raise StartError(
                "negotiated other TLS parameters than the pinned ones: " + "; ".join(problems)
            )
        return seen

    def _ready(self, sc: Scenario, port: int, proc: Managed) -> str | None:
        """One real request through the proxy: right status and body, and the persistence
        cookie if one was set. Retried briefly: l7lb's supervisor listens before its worker
        accepts."""
        deadline = time.monotonic() + 15
        last = ""
        while time.monotonic() < deadline:
            if proc.proc is not None and proc.proc.poll() is not None:
                raise StartError(f"{proc.name} exited", proc.output())
            try:
                return check_response(port, sc.path, sc.is_tls)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                last = str(exc)
                time.sleep(0.1)
        raise StartError(f"{proc.name} never answered a good response: {last}", proc.output())

    def _load_argvs(
        self, sc: Scenario, port: int, cookie: str | None, duration: float | None = None
    ) -> list[list[str]]:
        d = self.s.duration if duration is None else duration
        return load_commands(sc, port, d, cookie, self.bench_json)

    def _load(self, sc: Scenario, argvs: list[list[str]], root: int) -> Measurement:
        """Run the load and measure the proxy's whole process tree (``tree_cpu_seconds``),
        and count the load CPU's wake-ups by the others (``harness.interrupts``)."""
        w0 = wakeups(int(LOAD_CPU))
        m = self._load_once(sc, argvs, root)
        w1 = wakeups(int(LOAD_CPU))
        return replace(m, wakeups=w1 - w0 if w0 >= 0 and w1 >= 0 else -1)

    def _load_once(self, sc: Scenario, argvs: list[list[str]], root: int) -> Measurement:
        cpu0 = tree_cpu_seconds(root)
        t0 = time.monotonic()
        client = spec(sc).client
        if client == "bench":
            self.bench_json.unlink(missing_ok=True)
            # Python start-up and the processes' final merge come on top of the duration.
            rc, out = run_bounded(argvs[0], timeout=self.s.duration + 60)
            wall = time.monotonic() - t0
            cpu = tree_cpu_seconds(root) - cpu0
            if rc != 0:
                raise RuntimeError(f"l7lb bench exited with status {rc}: {_tail(out)}")
            try:
                b = parse_bench_json(json.loads(self.bench_json.read_text()))
            except (OSError, ValueError) as exc:
                raise ParseError(f"l7lb bench JSON unreadable: {exc}") from exc
            return Measurement(
                b.requests,
                b.seconds or wall,
                b.bytes_read,
                cpu,
                b.errors,
                resumed=b.handshakes_resumed if sc.is_tls else -1,
                handshakes=b.handshakes_full + b.handshakes_resumed if sc.is_tls else -1,
                sticky_violations=b.sticky_violations if "check_sticky" in sc.bench else -1,
            )
        if client == "wrk":
            rc, out = run_bounded(argvs[0], timeout=self.s.duration + 30)
            wall = time.monotonic() - t0
            cpu = tree_cpu_seconds(root) - cpu0
            if rc != 0:
                raise RuntimeError(f"wrk exited with status {rc}: {_tail(out)}")
            w = parse_wrk(out)
            return Measurement(w.requests, w.seconds or wall, w.bytes_read, cpu, w.errors)
        if client == "h2load":
            rc, out = run_bounded(argvs[0], timeout=self.s.duration + 30)
            wall = time.monotonic() - t0
            cpu = tree_cpu_seconds(root) - cpu0
            if rc != 0:
                raise RuntimeError(f"h2load exited with status {rc}: {_tail(out)}")
            h = parse_h2load(out)
            if h.protocol != "h2":
                raise RuntimeError(
                    f"h2load did not speak HTTP/2: ALPN gave {h.protocol or 'nothing'} "
                    f"({_tail(out, 3)})"
                )
            return Measurement(h.succeeded, h.seconds or wall, h.bytes_read, cpu, h.errors)
        outs = run_parallel(argvs, timeout=self.s.duration + 30)
        wall = time.monotonic() - t0
        cpu = tree_cpu_seconds(root) - cpu0
        total = resumed = errors = 0
        for rc, out in outs:
            if rc != 0:
                errors += 1
            st = parse_s_time(out)
            total += st.connections
            resumed += st.resumed
        return Measurement(total, wall, 0, cpu, errors, resumed)


def load_commands(
    sc: Scenario, port: int, duration: float, cookie: str | None, bench_json: Path
) -> list[list[str]]:
    """The pinned load-client command lines that run ``sc`` against a proxy on ``port`` (several
    for s_time, run at once). Everything comes from the scenario file: ``[bench]`` connections,
    new connection per request and TLS resumption; ``[target]`` the scheme and response size."""
    client = spec(sc).client
    if client == "s_time":
        argv = s_time_command(f"127.0.0.1:{port}", duration, sc.resumes, sc.path)
        return [pinned(LOAD_CPU, argv)] * S_TIME_CLIENTS
    url = f"{sc.target['scheme']}://127.0.0.1:{port}{sc.path}"
    if client == "bench":
        # One client process: it shares CPU 0 with the backend, like wrk -t1.
        args = sc.argv(url, {"duration": duration, "procs": 1})
        return [pinned(LOAD_CPU, bench_command(sys.executable, args, str(bench_json)))]
    if client == "h2load":
        # one thread, like wrk -t1
        return [pinned(LOAD_CPU, h2load_command(url, duration, sc.connections, spec(sc).streams))]
    headers: list[str] = []
    if sc.new_conn:
        headers.append("Connection: close")
    replay = cookie if spec(sc).send_cookie and cookie else ""
    if spec(sc).distinct_cookies:
        argv = wrk_command(url, duration, sc.connections, 1, tuple(headers), replay)
        return [pinned(LOAD_CPU, argv)]
    if replay:
        headers.append(f"Cookie: {replay}")
    return [pinned(LOAD_CPU, wrk_command(url, duration, sc.connections, 1, tuple(headers)))]


def probe_tls(
    port: int, certificate: str, alpn: str = ""
) -> tuple[list[tuple[str, str]], list[str]]:
    """One ``openssl s_client`` per TLS version against 127.0.0.1:``port``. Returns each
    probe's command (as a shell line) with what it negotiated, and every way that differs from
    ``tlsparams`` for a ``certificate`` kind; ``alpn`` ("h2") is offered with http/1.1 on the
    TLS 1.3 probe and must be selected. StartError when s_client reports no handshake at all."""
    seen: list[tuple[str, str]] = []
    problems: list[str] = []
    for version in ("1.3", "1.2"):
        offer = f"{alpn},http/1.1" if alpn and version == "1.3" else ""
        argv = tlsparams.s_client_command(f"127.0.0.1:{port}", version, offer)
        done = subprocess.run(
            argv, input=tlsparams.PROBE_REQUEST, capture_output=True, timeout=20, check=False
        )
        out = (done.stdout + done.stderr).decode(errors="replace")
        try:
            got = tlsparams.parse_s_client(out)
        except tlsparams.ProbeError as exc:
            raise StartError(f"TLS {version} probe: {exc}") from None
        shown = "printf 'GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' | " + shlex.join(argv)
        seen.append((shown, got.describe()))
        problems += tlsparams.mismatches(got, version, certificate, alpn if offer else "")
    return seen, problems


def check_response(port: int, path: str, tls: bool) -> str | None:
    """GET ``path``; ValueError unless it is the expected 200. Returns ``name=value`` of a
    ``Set-Cookie``, if any, for wrk to replay."""
    conn: http.client.HTTPConnection
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # our own throwaway self-signed certificate
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=ctx)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise ValueError(f"status {resp.status}")
        want = configs.ONE_MIB if path == "/1mib" else len(configs.SMALL_BODY)
        if len(body) != want:
            raise ValueError(f"body of {len(body)} bytes, expected {want}")
        set_cookie = resp.getheader("Set-Cookie")
        return set_cookie.split(";", 1)[0].strip() if set_cookie else None
    finally:
        conn.close()


def make_cert(tmp: Path, kind: str) -> configs.Cert:
    """A throwaway self-signed certificate for 127.0.0.1/localhost, made with the openssl CLI."""
    if kind == "rsa-2048":
        key_args = ["-newkey", "rsa:2048"]
    elif kind == "ecdsa-p256":
        key_args = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    else:
        raise ValueError(f"unknown certificate kind {kind!r}")
    cert, key, combined = (tmp / f"{kind}.{ext}" for ext in ("crt", "key", "pem"))
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            *key_args,
            "-nodes",
            "-days",
            "7",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    combined.write_text(cert.read_text() + key.read_text())
    return configs.Cert(str(cert), str(key), str(combined))


def _tail(text: str, lines: int = 5) -> str:
    kept = [ln for ln in text.strip().splitlines() if ln.strip()][-lines:]
    return " | ".join(kept)
