"""TLS resumption with the session cache in Redis vs in process memory vs full handshakes, on one
director and across two (issue 6, "Figures to record").

    python benchmarks/shared_state.py [--runs 3] [--duration 5] [--connections 16]
                                      [--clients 4] [--no-write]

1. One director (one worker), RSA-2048 certificate, `l7lb bench --new-conn` one request per
   connection: (a) full handshakes (`--tls-resume none`), (b) session-ID resumption with the
   cache in memory (no ``[store]``: the supervisor's session server), (c) session-ID resumption
   with the cache in Redis, (d) ticket resumption with the ticket keys in Redis. Handshakes/s and
   the director's CPU time per handshake.
2. Two directors A and B on one Redis: every client connection alternates A, B, A, B and offers
   the session of its previous connection, so each resumption is of a session the OTHER director
   issued. `l7lb bench` keeps sessions per connection slot and per URL (several URLs run one after
   the other), so it cannot do this; ``--clients`` copies of this script's own client loop
   (``client`` sub-command: Python ``ssl`` with ``session=``) do it instead. Resumed share (issue
   target >= 99 %) and handshakes/s, for session IDs (TLS 1.2) and tickets (TLS 1.3).

Load (bench, client loops), the nginx realserver and redis-server on CPU 0; the directors (both,
in part 2) on CPU 1. Medians of ``--runs`` runs. The result is added to benchmarks/RESULTS.md as
a "shared-state" block under today's date (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import shlex
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from harness import machine, report
from harness.loadtools import bench_command, parse_bench_json
from harness.processes import Managed, StartError, free_port, pinned, run_bounded, run_parallel
from harness.procstat import cpu_seconds, descendants
from harness.runner import LOAD_CPU, PROXY_CPU, Bench, Settings, check_response
from harness.stats import median

REPO = Path(__file__).resolve().parent.parent
BLOCK = "shared-state"
SNI = "www.example.com"
REDIS = "redis-server"
# Benchmark-only key; a real cluster generates its own (docs/store.md).
SESSION_KEY = "5e" * 32
TARGET_SHARE = 0.99  # issue 6: resumption ratio across two directors


# -- pure parts ---------------------------------------------------------------------------------


def director_config(
    id_port: int, ticket_port: int, backend_port: int, cert: str, key: str, store: str | None,
    namespace: str = "bench",
) -> str:  # fmt: skip
    """One director: VIP "tls-id" with tickets off (resumption only from the session-ID cache)
    and VIP "tls-tk" with tickets on, one realserver. ``store`` None: no ``[store]`` (sessions in
    the supervisor's memory). Two directors of one cluster get the same text but for the ports:
    the same VIP names, namespace and session key, or no session resumes across them."""
    tls = f'certificates = [{{ cert = "{cert}", key = "{key}" }}]'
    lines = ["workers = 1", "", "[log]", 'access = "off"', 'level = "warning"', ""]
    if store is not None:
        lines += [
            "[store]",
            f'url = "{store}"',
            f'namespace = "{namespace}"',
            f'session_key = "{SESSION_KEY}"',
            "",
        ]
    for name, port, extra in (
        ("tls-id", id_port, ", tickets = false"),
        ("tls-tk", ticket_port, ""),
    ):
        lines += [
            "[[vip]]",
            f'name = "{name}"',
            f'listen = ["127.0.0.1:{port}"]',
            f"tls = {{ {tls}{extra} }}",
            "  [[vip.route]]",
            '  pool = "web"',
            "",
        ]
    lines += [
        "[pool.web]",
        "  [[pool.web.server]]",
        '  name = "s1"',
        f'  address = "127.0.0.1:{backend_port}"',
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class LoopCounts:
    """What client loops report; summed over several loops with ``+``."""

    full: int = 0
    resumed: int = 0
    errors: int = 0
    seconds: float = 0.0  # the longest loop's wall time
    unoffered: int = 0  # full handshakes with no session to offer (each loop's or slot's first)

    def __add__(self, other: LoopCounts) -> LoopCounts:
        return LoopCounts(
            self.full + other.full,
            self.resumed + other.resumed,
            self.errors + other.errors,
            max(self.seconds, other.seconds),
            self.unoffered + other.unoffered,
        )

    @property
    def handshakes(self) -> int:
        return self.full + self.resumed

    @property
    def share(self) -> float:
        """Resumed share of the handshakes that offered a session (each loop's first cannot)."""
        offered = self.handshakes - self.unoffered
        return self.resumed / offered if offered > 0 else float("nan")

    @property
    def rate(self) -> float:
        return self.handshakes / self.seconds if self.seconds > 0 else 0.0


# -- the client loop of part 2 (run as a separate, pinned process) -------------------------------


def client_context(mode: str) -> ssl.SSLContext:
    """``id``: TLS 1.2 without tickets, so only the server's session-ID cache can resume.
    ``ticket``: TLS 1.3 (PSK from a NewSessionTicket)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # a throwaway self-signed certificate
    if mode == "id":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.options |= ssl.OP_NO_TICKET
    return ctx


def _one_request(
    port: int, ctx: ssl.SSLContext, session: ssl.SSLSession | None
) -> tuple[bool, ssl.SSLSession | None]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        # Without it, Nagle holds the request behind the handshake's last flight until the
        # server's delayed ACK (40 ms): the loop would measure that timer, not the directors.
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with ctx.wrap_socket(raw, server_hostname=SNI, session=session) as s:
            s.sendall(f"GET / HTTP/1.1\r\nHost: {SNI}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):  # reading to the end also takes TLS 1.3 tickets
                data += chunk
            if not data.startswith(b"HTTP/1.1 200"):
                raise OSError(f"bad response {data[:40]!r}")
            return bool(s.session_reused), s.session


def client_loop(mode: str, ports: list[int], duration: float) -> LoopCounts:
    """New connections to ``ports`` in turn for ``duration`` seconds, each offering the session
    of the previous connection (made to the other director)."""
    ctx = client_context(mode)
    session: ssl.SSLSession | None = None
    full = resumed = errors = unoffered = 0
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < duration:
        try:
            reused, new = _one_request(ports[i % len(ports)], ctx, session)
        except (OSError, ssl.SSLError):
            errors += 1
            session = None
        else:
            if reused:
                resumed += 1
            else:
                full += 1
                unoffered += session is None
            session = new or session
        i += 1
    return LoopCounts(full, resumed, errors, time.monotonic() - t0, unoffered)


CPU = tuple[float, float, float]  # CPU seconds: director (supervisor + workers), workers, redis


def _delta(after: CPU, before: CPU) -> CPU:
    return (after[0] - before[0], after[1] - before[1], after[2] - before[2])


# -- processes ----------------------------------------------------------------------------------


@dataclass
class Row:
    """Medians of one case."""

    label: str
    rate: float
    share: float
    director_us: float  # supervisor + workers, CPU µs per handshake
    worker_us: float
    redis_us: float
    errors: int
    per_run: list[float]


class SharedState:
    def __init__(self, tmp: Path, args: argparse.Namespace):
        self.tmp = tmp
        self.a = args
        self.bench = Bench(tmp, Settings(runs=args.runs, duration=args.duration, repo=REPO))
        self.redis: Managed | None = None
        self.redis_port = 0
        self.directors: list[Managed] = []
        self.ports: list[dict[str, int]] = []
        self.cert = ""
        self.key = ""
        self.commands: list[str] = []

    def start(self) -> None:
        self.bench.start_backend(1)
        self.cert, self.key = make_rsa_cert(self.tmp)
        self.redis_port = free_port()
        argv = pinned(
            LOAD_CPU,
            [REDIS, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
        )  # fmt: skip
        self.commands.append(shlex.join(argv))
        self.redis = Managed("redis-server", argv, self.tmp / "redis.out")
        self.redis.start()
        self.redis.wait_listening(self.redis_port)

    def stop(self) -> None:
        self.stop_directors()
        if self.redis is not None:
            self.redis.stop()
        self.bench.stop()

    def start_directors(self, count: int, store: bool) -> None:
        url = f"redis://127.0.0.1:{self.redis_port}/0" if store else None
        namespace = "bench" + uuid.uuid4().hex[:8]  # no sessions left from an earlier case
        for i in range(count):
            ports = {"id": free_port(), "tk": free_port()}
            conf = self.tmp / f"director-{i}.toml"
            conf.write_text(
                director_config(
                    ports["id"], ports["tk"], self.bench.backend_ports[0], self.cert, self.key,
                    url, namespace,
                )
            )  # fmt: skip
            argv = pinned(
                PROXY_CPU,
                [sys.executable, "-m", "l7lb", "run", "-c", str(conf), "--workers", "1"],
            )
            proc = Managed(f"director {'AB'[i]}", argv, self.tmp / f"director-{i}.out", str(REPO))
            self.directors.append(proc)
            self.ports.append(ports)
            proc.start()
            for port in ports.values():
                proc.wait_listening(port)
                self._ready(proc, port)
        self.commands.append(shlex.join(argv) + "   # config: director_config() in this script")

    def stop_directors(self) -> None:
        for proc in self.directors:
            proc.stop()
        self.directors, self.ports = [], []

    def _ready(self, proc: Managed, port: int) -> None:
        """One good response: the supervisor listens before its worker accepts."""
        deadline = time.monotonic() + 15
        while True:
            try:
                check_response(port, "/", tls=True)
                return
            except Exception as exc:  # OSError, ValueError, http.client errors
                if time.monotonic() > deadline or (proc.proc and proc.proc.poll() is not None):
                    raise StartError(f"{proc.name} never answered: {exc}", proc.output()) from exc
                time.sleep(0.1)

    def _pids(self) -> tuple[list[int], list[int], list[int]]:
        workers = [pid for d in self.directors for pid in descendants(d.pid)]
        director = [d.pid for d in self.directors] + workers
        assert self.redis is not None
        return director, workers, [self.redis.pid]

    def _cpu(self) -> CPU:
        d, w, r = self._pids()
        return cpu_seconds(d), cpu_seconds(w), cpu_seconds(r)

    # -- part 1: one director, l7lb bench ------------------------------------------------------

    def one_director(self, label: str, store: bool, vip: str, resume: str, version: str) -> Row:
        self.start_directors(1, store)
        try:
            url = f"https://127.0.0.1:{self.ports[0][vip]}/"
            args = [url, "--new-conn", "--tls-resume", resume, "--tls-version", version]
            args += ["--insecure", "--sni", SNI, "--connections", str(self.a.connections)]
            args += ["--procs", "1", "--duration"]
            out = self.tmp / "bench.json"
            warm = pinned(LOAD_CPU, bench_command(sys.executable, [*args, "1"], str(out)))
            run_bounded(warm, timeout=60)  # caches, ticket ring and store connections warm
            argv = pinned(
                LOAD_CPU, bench_command(sys.executable, [*args, f"{self.a.duration:g}"], str(out))
            )
            self.commands.append(f"{label}: {shlex.join(argv)}")
            runs: list[tuple[LoopCounts, CPU]] = []
            for _ in range(self.a.runs):
                out.unlink(missing_ok=True)
                before = self._cpu()
                rc, text = run_bounded(argv, timeout=self.a.duration + 60)
                after = self._cpu()
                if rc != 0:
                    raise RuntimeError(f"l7lb bench exited with status {rc}: {text[-300:]}")
                b = parse_bench_json(json.loads(out.read_text()))
                # Each slot's first handshake has no session to offer (none when not resuming).
                first = 0 if resume == "none" else min(b.handshakes_full, self.a.connections)
                counts = LoopCounts(
                    b.handshakes_full, b.handshakes_resumed, b.errors, b.seconds, first
                )
                runs.append((counts, _delta(after, before)))
            return self._row(label, runs)
        finally:
            self.stop_directors()

    # -- part 2: two directors, alternating client loops ---------------------------------------

    def two_directors(self, label: str, mode: str) -> Row:
        self.start_directors(2, store=True)
        try:
            vip = "id" if mode == "id" else "tk"
            loop = [sys.executable, str(Path(__file__).resolve()), "client", "--mode", mode]
            for ports in self.ports:
                loop += ["--port", str(ports[vip])]
            argv = pinned(LOAD_CPU, [*loop, "--duration", f"{self.a.duration:g}"])
            run_bounded(pinned(LOAD_CPU, [*loop, "--duration", "1"]), timeout=60)  # warm-up
            self.commands.append(f"{label}: {self.a.clients} x {shlex.join(argv)}")
            runs: list[tuple[LoopCounts, CPU]] = []
            for _ in range(self.a.runs):
                before = self._cpu()
                outs = run_parallel([argv] * self.a.clients, timeout=self.a.duration + 60)
                after = self._cpu()
                total = LoopCounts()
                for rc, text in outs:
                    if rc != 0:
                        raise RuntimeError(f"client loop exited with status {rc}: {text[-300:]}")
                    total += LoopCounts(**json.loads(text.strip().splitlines()[-1]))
                runs.append((total, _delta(after, before)))
            return self._row(label, runs)
        finally:
            self.stop_directors()

    def _row(self, label: str, runs: list[tuple[LoopCounts, CPU]]) -> Row:
        def per_hs(cpu: float, c: LoopCounts) -> float:
            return cpu * 1e6 / c.handshakes if c.handshakes else float("nan")

        row = Row(
            label,
            median([c.rate for c, _ in runs]),
            median([c.share for c, _ in runs]),
            median([per_hs(cpu[0], c) for c, cpu in runs]),
            median([per_hs(cpu[1], c) for c, cpu in runs]),
            median([per_hs(cpu[2], c) for c, cpu in runs]),
            sum(c.errors for c, _ in runs),
            [c.rate for c, _ in runs],
        )
        print(
            f"  {label}: {row.rate:,.0f} handshakes/s, resumed {row.share:.1%}, director "
            f"{row.director_us:,.0f} µs/handshake "
            f"(runs {' / '.join(f'{r:,.0f}' for r in row.per_run)})",
            flush=True,
        )
        return row


def make_rsa_cert(tmp: Path) -> tuple[str, str]:
    """RSA-2048, self-signed, for SNI, made by l7lb itself."""
    prefix = tmp / "rsa-2048"  # writes rsa-2048.pem (certificate) and rsa-2048.key
    subprocess.run(
        [sys.executable, "-m", "l7lb", "certs", "new", "--cn", SNI, "--key", "rsa",
         "--self-signed", "--out", str(prefix)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    cert, key = prefix.with_suffix(".pem"), prefix.with_suffix(".key")
    if not cert.exists() or not key.exists():
        raise StartError(f"l7lb certs new wrote {sorted(p.name for p in tmp.iterdir())}")
    return str(cert), str(key)


def table(rows: list[Row], redis_column: bool) -> list[str]:
    head = "| case | handshakes/s | resumed | director CPU µs/handshake | worker CPU µs/handshake "
    head += "| redis CPU µs/handshake " if redis_column else ""
    head += "| errors | handshakes/s per run |"
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        share = "-" if r.share != r.share else f"{r.share:.1%}"
        cells = [r.label, report.fmt(r.rate), share, report.fmt(r.director_us, 1)]
        cells += [report.fmt(r.worker_us, 1)]
        cells += [report.fmt(r.redis_us, 1)] if redis_column else []
        cells += [str(r.errors), " / ".join(report.fmt(x) for x in r.per_run)]
        out.append("| " + " | ".join(cells) + " |")
    return out


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="benchmarks/shared_state.py", description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    ap.add_argument("--connections", type=int, default=16, help="l7lb bench slots (part 1)")
    ap.add_argument("--clients", type=int, default=4, help="client loops at once (part 2)")
    ap.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md alone")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    args = ap.parse_args(argv)
    if min(args.runs, args.connections, args.clients) < 1 or args.duration <= 0:
        ap.error("--runs, --duration, --connections and --clients must be positive")
    return args


def client_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="benchmarks/shared_state.py client")
    ap.add_argument("--mode", choices=("id", "ticket"), required=True)
    ap.add_argument("--port", type=int, action="append", required=True)
    ap.add_argument("--duration", type=float, required=True)
    a = ap.parse_args(argv)
    c = client_loop(a.mode, a.port, a.duration)
    print(json.dumps(dataclasses.asdict(c)))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["client"]:
        return client_main(argv[1:])
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    info = machine.collect(REPO)
    redis_version = subprocess.run(
        [REDIS, "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout.strip()
    print(f"l7lb {info.commit}; load average {info.loadavg}", flush=True)
    with tempfile.TemporaryDirectory(prefix="l7lb-shared-state-") as tmp:
        s = SharedState(Path(tmp), args)
        try:
            s.start()
            print("one director, l7lb bench", flush=True)
            one = [
                s.one_director("(a) full handshakes", False, "id", "none", "1.2"),
                s.one_director("(b) session ID, cache in memory", False, "id", "id", "1.2"),
                s.one_director("(c) session ID, cache in Redis", True, "id", "id", "1.2"),
                s.one_director("(d) ticket, keys in Redis", True, "tk", "ticket", "1.3"),
            ]
            print("two directors on one Redis, client alternating A and B", flush=True)
            two = [
                s.two_directors("session ID (TLS 1.2), A B A B", "id"),
                s.two_directors("ticket (TLS 1.3), A B A B", "ticket"),
            ]
        finally:
            s.stop()

    command = shlex.join(["python", "benchmarks/shared_state.py", *argv])
    when = started.strftime("%Y-%m-%d %H:%M UTC")
    v = info.versions
    verdicts = [
        f"- **{'PASS' if r.share >= TARGET_SHARE else 'MISS'}** {r.label}: resumed "
        f"{r.share:.1%} (target >= {TARGET_SHARE:.0%})"
        for r in two
    ]
    block = "\n".join(
        [
            "### Shared state: TLS resumption through Redis, one director and two (issue 6)",
            "",
            f"Measured {when}, l7lb {info.commit}, `{command}`; {info.nproc} CPUs, "
            f"{info.cpu_model}, {info.kernel}, load average at start {info.loadavg}; "
            f"{redis_version.split(' sha=')[0]}; {v.get('openssl')}; python {v.get('python')}, "
            f"uvloop {v.get('uvloop')}. RSA-2048 certificate (`l7lb certs new --key rsa "
            f"--self-signed`), SNI {SNI}, one request per connection (12-byte response from one "
            f"nginx realserver). Directors (`l7lb run --workers 1`) on CPU {PROXY_CPU}; load, "
            f"nginx and redis-server on CPU {LOAD_CPU}. Medians of {args.runs} runs of "
            f"{args.duration:g} s, after a 1 s warm-up. Director CPU is the supervisor and its "
            "worker (the supervisor serves the in-memory session cache); worker CPU the worker "
            "alone.",
            "",
            f"One director, `l7lb bench --new-conn --connections {args.connections} --procs 1` "
            "(session ID: `--tls-resume id --tls-version 1.2`, VIP with `tickets = false`; "
            "ticket: `--tls-resume ticket --tls-version 1.3`; full: `--tls-resume none "
            "--tls-version 1.2`). Resumed: share of the handshakes that offered a session (each "
            "slot's first has none to offer).",
            "",
            *table(one, redis_column=True),
            "",
            f"Two directors A and B on one Redis (same namespace, session key and VIP names), "
            f"both on CPU {PROXY_CPU}: {args.clients} client loops (Python `ssl`, "
            "`session=`) each alternate A, B, A, B, offering on every new connection the "
            "session of the previous one, so every resumption is of a session issued by the "
            "other director (`l7lb bench` keeps sessions per URL and cannot do this). "
            "CPU columns are both directors together.",
            "",
            *table(two, redis_column=True),
            "",
            *verdicts,
            "",
            "<details><summary>Commands</summary>",
            "",
            "```",
            *s.commands,
            "```",
            "",
            "</details>",
            "",
        ]
    )
    print()
    print(block)
    if not args.no_write:
        date = started.strftime("%Y-%m-%d")
        header = report.run_header(date, info, command, f"directors on CPU {PROXY_CPU}")
        section = report.RunSection(date, header, {BLOCK: block})
        existing = args.out.read_text() if args.out.exists() else ""
        order = [*report.display_order(), "validate-bench", BLOCK]
        args.out.write_text(report.merge(existing, section, order, keep_header=True))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
