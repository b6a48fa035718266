"""Does `l7lb bench` measure what wrk and openssl s_time measure? (issue 5, "Validation")

    python benchmarks/validate_bench.py [--runs 3] [--duration 5] [--connections 50]
                                        [--rate 3000] [--write]

1. Keep-alive requests/s: wrk and `l7lb bench` take turns (wrk, bench, wrk, bench, ...) against
   the same nginx target, with the same connections, duration and pinning, once with nginx free
   to go as fast as it can and once with nginx holding the rate to ``--rate`` (the target is the
   bottleneck, not either client). Prints the medians, their ratio, the target's CPU use, and
   whether they agree within 10 %.
2. TLS handshakes: `openssl s_time -new` against `l7lb bench --new-conn --tls-resume none`, and
   `s_time -reuse` against `--tls-resume id` (TLS 1.2 both), one connection at a time; the full
   and resumed counts each client reports, next to the counts nginx logged itself.
3. h2load (the HTTP/2 client of compare.py's h2-small, issue 14): a fixed number of requests and
   a timed run, each with ``--connections`` clients of ``--streams`` streams; the requests and
   connections h2load reports next to those nginx logged (connection number, protocol and
   status of every request).

nginx (no proxy) runs alone on CPU 1, each client alone on CPU 0. ``--write`` adds the result to
benchmarks/RESULTS.md as a "validate-bench" block under today's date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import configs, machine, report
from harness.loadtools import (
    bench_command,
    h2load_command,
    parse_bench_json,
    parse_h2load,
    parse_s_time,
    parse_wrk,
    s_time_command,
    wrk_command,
)
from harness.processes import Managed, free_port, pinned, run_bounded
from harness.procstat import tree_cpu_seconds
from harness.runner import LOAD_CPU, NGINX, PROXY_CPU, make_cert
from harness.stats import median

REPO = Path(__file__).resolve().parent.parent
BLOCK = "validate-bench"
AGREE = 0.10  # the tolerance on requests/s


@dataclass
class Rate:
    """One keep-alive run: the client's requests/s and how busy the target was."""

    rps: float
    target_cpu: float  # share of one core nginx used during the run
    errors: int


@dataclass
class Streams:
    """One h2load run: its own counts, and what nginx logged for it."""

    succeeded: int
    done: int
    started: int  # a timed run ends with up to connections x streams requests in flight
    failed: int
    protocol: str  # ALPN, as h2load printed it
    server_requests: int  # log lines
    server_ok: int  # of them with status 200
    server_connections: int  # distinct connection numbers
    server_h2: int  # of the requests, those nginx saw as HTTP/2.0


@dataclass
class Counts:
    """Handshakes of one TLS run, as the client reports them and as nginx logged them."""

    client_full: int
    client_resumed: int
    server_full: int
    server_resumed: int


class Validation:
    def __init__(self, tmp: Path, args: argparse.Namespace):
        self.tmp = tmp
        self.a = args
        self.json = tmp / "bench.json"
        self.log = tmp / "validate-tls.log"
        self.h2_log = tmp / "validate-h2.log"
        self.nginx: Managed | None = None
        self.ports: dict[str, int] = {}

    def start(self) -> None:
        www = self.tmp / "www"
        www.mkdir()
        (www / "hello").write_text(configs.SMALL_BODY)
        for p in (self.tmp, www, www / "hello"):
            p.chmod(0o755)  # nginx workers may run as "nobody"
        cert = make_cert(self.tmp, "ecdsa-p256")
        self.ports = {
            "plain": free_port(),
            "limited": free_port(),
            "tls": free_port(),
            "h2": free_port(),
        }
        conf = self.tmp / "validate-nginx.conf"
        conf.write_text(
            configs.nginx_validation_target(
                self.ports["plain"],
                self.ports["limited"],
                self.ports["tls"],
                self.a.rate,
                cert,
                str(www),
                str(self.tmp),
                self.ports["h2"],
            )
        )
        self.nginx = Managed(
            "nginx target",
            pinned(PROXY_CPU, [NGINX, "-c", str(conf), "-p", str(self.tmp)]),
            self.tmp / "validate-nginx.out",
        )
        self.nginx.start()
        for port in self.ports.values():
            self.nginx.wait_listening(port)

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()

    def _cpu(self) -> float:
        assert self.nginx is not None
        return tree_cpu_seconds(self.nginx.pid)  # master and worker

    # -- keep-alive requests/s ------------------------------------------------------------------

    def wrk(self, url: str) -> Rate:
        argv = pinned(LOAD_CPU, wrk_command(url, self.a.duration, self.a.connections, 1))
        return self._timed(argv, _wrk_rate)

    def bench(self, url: str) -> Rate:
        args = [url, "--connections", str(self.a.connections), "--duration"]
        args += [f"{self.a.duration:g}", "--procs", "1"]  # one process, like wrk -t1
        argv = pinned(LOAD_CPU, bench_command(sys.executable, args, str(self.json)))
        return self._timed(argv, lambda _out: self._bench_rate())

    def _bench_rate(self) -> tuple[float, int]:
        b = parse_bench_json(json.loads(self.json.read_text()))
        return b.rps, b.errors

    def _timed(self, argv: list[str], parse: Callable[[str], tuple[float, int]]) -> Rate:
        cpu0, t0 = self._cpu(), time.monotonic()
        rc, out = run_bounded(argv, timeout=self.a.duration + 60)
        cpu, wall = self._cpu() - cpu0, time.monotonic() - t0
        if rc != 0:
            raise RuntimeError(f"{shlex.join(argv)} exited with status {rc}: {out[-300:]}")
        rps, errors = parse(out)
        return Rate(rps, cpu / wall if wall > 0 else 0.0, errors)

    def agreement(self, name: str) -> list[str]:
        url = f"http://127.0.0.1:{self.ports[name]}/hello"
        wrk: list[Rate] = []
        bench: list[Rate] = []
        for i in range(self.a.runs):  # alternate, so drifts on a shared machine hit both
            wrk.append(self.wrk(url))
            bench.append(self.bench(url))
            print(
                f"  {name} round {i + 1}: wrk {wrk[-1].rps:,.0f} req/s "
                f"(nginx CPU {wrk[-1].target_cpu:.0%}), bench {bench[-1].rps:,.0f} req/s "
                f"(nginx CPU {bench[-1].target_cpu:.0%})",
                flush=True,
            )
        w, b = median([r.rps for r in wrk]), median([r.rps for r in bench])
        ratio = b / w if w else float("nan")
        agree = abs(ratio - 1) <= AGREE
        errors = sum(r.errors for r in wrk + bench)
        what = (
            f"nginx held to {self.a.rate:,} req/s (the target is the bottleneck)"
            if name == "limited"
            else "nginx unlimited (whichever of client and target is slower is the bottleneck)"
        )
        cpu_w, cpu_b = (median([r.target_cpu for r in rs]) for rs in (wrk, bench))
        return [
            f"| {what} | {w:,.0f} | {b:,.0f} | {ratio:.2f} | {cpu_w:.0%} / {cpu_b:.0%} "
            f"| {errors} | {'yes' if agree else 'no'} |"
        ]

    # -- TLS handshake counts -------------------------------------------------------------------

    def _server_counts(self, before: int) -> tuple[int, int]:
        marks = self.log.read_text()[before:].split()
        return marks.count("."), marks.count("r")

    def _log_size(self) -> int:
        return len(self.log.read_text()) if self.log.exists() else 0

    def s_time(self, reuse: bool) -> Counts:
        before = self._log_size()
        target = f"127.0.0.1:{self.ports['tls']}"
        argv = s_time_command(target, self.a.tls_duration, reuse, "/hello")
        argv.insert(2, "-tls1_2")  # the same protocol as bench's --tls-version 1.2
        rc, out = run_bounded(pinned(LOAD_CPU, argv), timeout=self.a.tls_duration + 30)
        if rc != 0:
            raise RuntimeError(f"s_time exited with status {rc}: {out[-300:]}")
        st = parse_s_time(out)
        # -reuse makes one full handshake before its timed loop; the loop's count excludes it.
        full = st.connections - st.resumed + (1 if reuse else 0)
        time.sleep(0.2)  # nginx writes its log line after the response
        return Counts(full, st.resumed, *self._server_counts(before))

    def bench_tls(self, resume: str) -> Counts:
        before = self._log_size()
        url = f"https://127.0.0.1:{self.ports['tls']}/hello"
        args = [url, "--connections", "1", "--procs", "1", "--new-conn", "--insecure"]
        args += ["--tls-resume", resume, "--tls-version", "1.2"]
        args += ["--duration", f"{self.a.tls_duration:g}"]
        argv = pinned(LOAD_CPU, bench_command(sys.executable, args, str(self.json)))
        rc, out = run_bounded(argv, timeout=self.a.tls_duration + 60)
        if rc != 0:
            raise RuntimeError(f"l7lb bench exited with status {rc}: {out[-300:]}")
        b = parse_bench_json(json.loads(self.json.read_text()))
        time.sleep(0.2)
        return Counts(b.handshakes_full, b.handshakes_resumed, *self._server_counts(before))

    # -- h2load requests and connections --------------------------------------------------------

    def h2load(self, requests: int) -> Streams:
        """``requests`` > 0: exactly that many (``-n``); 0: a timed run of ``--duration``."""
        before = self.h2_log.stat().st_size if self.h2_log.exists() else 0
        url = f"https://127.0.0.1:{self.ports['h2']}/hello"
        argv = h2load_command(url, self.a.duration, self.a.connections, self.a.streams)
        if requests:
            argv = [a for a in argv if not a.startswith("--duration=")]
            argv.insert(1, f"--requests={requests}")
        rc, out = run_bounded(pinned(LOAD_CPU, argv), timeout=self.a.duration + 60)
        if rc != 0:
            raise RuntimeError(f"h2load exited with status {rc}: {out[-300:]}")
        h = parse_h2load(out)
        time.sleep(0.5)  # nginx writes its log line after the response
        with self.h2_log.open("rb") as f:
            f.seek(before)
            lines = [ln.split() for ln in f.read().decode().splitlines() if ln.strip()]
        return Streams(
            succeeded=h.succeeded,
            done=h.done,
            started=h.started,
            failed=h.failed,
            protocol=h.protocol,
            server_requests=len(lines),
            server_ok=sum(1 for ln in lines if ln[-1] == "200"),
            server_connections=len({ln[0] for ln in lines}),
            server_h2=sum(1 for ln in lines if ln[1] == "HTTP/2.0"),
        )

    def streams(self) -> list[str]:
        rows = []
        for label, n in (
            (f"`-n {self.a.h2_requests}` (a fixed count)", self.a.h2_requests),
            (f"`-D {self.a.duration:g}s` (a timed run, as compare.py runs it)", 0),
        ):
            s = self.h2load(n)
            same = s.server_ok == s.server_requests == s.server_h2
            same = same and s.server_connections == self.a.connections and s.failed == 0
            if n:
                verdict = "yes" if same and s.succeeded == s.server_requests == n else "no"
            else:
                # The run stops with requests in flight: the server finishes some or all of them.
                inside = s.done <= s.server_requests <= s.started
                verdict = "between done and started" if same and inside else "no"
            rows.append(
                f"| {label} | {s.protocol or '-'} | {s.succeeded:,} | {s.done:,} | {s.started:,} "
                f"| {s.failed:,} | {s.server_requests:,} | {s.server_ok:,} | {s.server_h2:,} "
                f"| {s.server_connections} | {verdict} |"
            )
            print(f"  {rows[-1]}", flush=True)
        return rows

    def handshakes(self) -> list[str]:
        rows = []
        for label, counts in (
            ("`s_time -new`", self.s_time(reuse=False)),
            ("`l7lb bench --new-conn --tls-resume none`", self.bench_tls("none")),
            ("`s_time -reuse`", self.s_time(reuse=True)),
            ("`l7lb bench --new-conn --tls-resume id`", self.bench_tls("id")),
        ):
            total = counts.client_full + counts.client_resumed
            share = counts.client_resumed / total if total else float("nan")
            exact = (counts.client_full, counts.client_resumed) == (
                counts.server_full,
                counts.server_resumed,
            )
            rows.append(
                f"| {label} | {counts.client_full:,} | {counts.client_resumed:,} | {share:.1%} | "
                f"{counts.server_full:,} | {counts.server_resumed:,} | "
                f"{'yes' if exact else 'no'} |"
            )
            print(f"  {rows[-1]}", flush=True)
        return rows


def _wrk_rate(out: str) -> tuple[float, int]:
    w = parse_wrk(out)
    return (w.requests / w.seconds if w.seconds else 0.0), w.errors


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="benchmarks/validate_bench.py", description=__doc__)
    ap.add_argument("--runs", type=int, default=3, help="runs of each client, alternating")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per keep-alive run")
    ap.add_argument("--tls-duration", type=int, default=3, help="seconds per TLS run")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--rate", type=int, default=3000, help="req/s the limited target allows")
    ap.add_argument("--streams", type=int, default=10, help="h2load streams per connection")
    ap.add_argument("--h2-requests", type=int, default=20000, help="h2load's fixed count")
    ap.add_argument("--write", action="store_true", help="add the result to RESULTS.md")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    args = ap.parse_args(argv)
    if min(args.runs, args.tls_duration, args.rate, args.streams, args.h2_requests) < 1 or (
        args.duration <= 0
    ):
        ap.error(
            "--runs, --duration, --tls-duration, --rate, --streams and --h2-requests must be "
            "positive"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = dt.datetime.now(dt.UTC)
    info = machine.collect(REPO)
    print(f"l7lb {info.commit}; load average {info.loadavg}", flush=True)
    with tempfile.TemporaryDirectory(prefix="l7lb-validate-") as tmp:
        v = Validation(Path(tmp), args)
        try:
            v.start()
            print("keep-alive requests/s, wrk vs l7lb bench", flush=True)
            rates = v.agreement("plain") + v.agreement("limited")
            print("TLS handshakes, client counts vs nginx's own log", flush=True)
            counts = v.handshakes()
            print("h2load requests and connections vs nginx's own log", flush=True)
            streams = v.streams()
        finally:
            v.stop()

    command = shlex.join(["python", "benchmarks/validate_bench.py", *(argv or sys.argv[1:])])
    when = started.strftime("%Y-%m-%d %H:%M UTC")
    block = "\n".join(
        [
            "### Validation: `l7lb bench` against wrk and openssl s_time",
            "",
            f"Measured {when}, l7lb {info.commit}, load average at start {info.loadavg}; "
            f"`{command}`. nginx (no proxy) alone on CPU {PROXY_CPU}, each client alone on "
            f"CPU {LOAD_CPU} (wrk `-t1`, bench `--procs 1`), {args.connections} keep-alive "
            f"connections, {args.runs} runs of {args.duration:g} s each, alternating.",
            "",
            "| target | wrk req/s | bench req/s | bench ÷ wrk | nginx CPU (wrk / bench) "
            f"| errors | within {AGREE:.0%} |",
            "|---|---|---|---|---|---|---|",
            *rates,
            "",
            f"TLS 1.2, ECDSA P-256, one connection at a time for {args.tls_duration} s each; "
            "nginx logs `$ssl_session_reused` for every request.",
            "",
            "| client | full | resumed | resumed share | nginx: full | nginx: resumed "
            "| counts exact |",
            "|---|---|---|---|---|---|---|",
            *counts,
            "",
            f"h2load, HTTP/2 over TLS, {args.connections} connections x {args.streams} streams, "
            "12-byte file; nginx logs the connection number, protocol and status of every "
            "request. Exact: h2load's succeeded = nginx's requests = its 200s = its HTTP/2.0 "
            "requests, its connections = h2load's, and nothing failed. A timed run stops with up "
            "to connections x streams requests in flight, which the server may still answer: "
            "there nginx's count must lie between h2load's done and started, and compare.py, "
            "which counts h2load's succeeded, overstates CPU per request by at most "
            "(started - done) / succeeded.",
            "",
            "| h2load run | ALPN | succeeded | done | started | failed | nginx: requests "
            "| nginx: 200 | nginx: HTTP/2.0 | nginx: connections | exact |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            *streams,
            "",
        ]
    )
    print()
    print(block)
    if args.write:
        header = report.run_header(
            started.strftime("%Y-%m-%d"), info, command, f"nginx on CPU {PROXY_CPU}"
        )
        section = report.RunSection(started.strftime("%Y-%m-%d"), header, {BLOCK: block})
        existing = args.out.read_text() if args.out.exists() else ""
        order = [*report.display_order(), BLOCK]
        args.out.write_text(report.merge(existing, section, order, keep_header=True))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
