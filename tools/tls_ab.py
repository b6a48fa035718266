"""CPU per connection (or request) of l7lb builds and HAProxy side by side, measured in turns.

    python tools/tls_ab.py [--scenario tls-resume-id] [--rounds 5] [--seconds 4]
                           [--haproxy] NAME=TREE[@PYTHON] [NAME=TREE[@PYTHON] ...]

Each TREE is a checkout of l7lb (its hot path compiled, or not: the tool says which) run from
that directory with this virtualenv's Python, or with PYTHON (another interpreter's
virtualenv, with l7lb's dependencies and the tree built for it), one worker. All servers run
at once, each pinned to CPU 1, in front of one nginx backend on CPU 0; then, round after
round, the load of the chosen `benchmarks/scenarios/NAME.toml` (the same command
`benchmarks/compare.py` runs: `l7lb bench`, four `openssl s_time` or wrk, on CPU 0) goes to
each server in turn, and the CPU the server process spent (utime + stime from
`/proc/PID/stat`) is divided by the connections the client made (the requests, for a wrk
scenario such as keepalive-small). It prints the median per server and its ratio to the
first one (or to HAProxy).

`compare.py` runs one proxy after the other, so the machine's drift between them can swamp a
change of a few per cent; turns within one round see the same machine. Used for the A/B figures
of issue 15 (docs/tls.md); the figures that count are still `compare.py`'s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from harness import configs  # noqa: E402
from harness.loadtools import parse_bench_json, parse_s_time, parse_wrk  # noqa: E402
from harness.processes import Managed, free_port, pinned, run_bounded, run_parallel  # noqa: E402
from harness.procstat import CLK_TCK, descendants, read_stat  # noqa: E402
from harness.runner import HAPROXY, LOAD_CPU, NGINX, PROXY_CPU, load_commands, make_cert  # noqa: E402
from harness.scenarios import SCENARIOS, spec, unit  # noqa: E402


def start_backend(tmp: Path) -> tuple[Managed, int]:
    www = tmp / "www"
    www.mkdir()
    for p in (tmp, www):
        p.chmod(0o755)
    port = free_port()
    conf = tmp / "backend.conf"
    conf.write_text(configs.nginx_backend([port], str(www), str(tmp)))
    backend = Managed(
        "backend", pinned(LOAD_CPU, [NGINX, "-c", str(conf), "-p", str(tmp)]), tmp / "b.out"
    )
    backend.start()
    backend.wait_listening(port)
    return backend, port


def start_l7lb(
    tmp: Path, name: str, tree: str, backend: int, cert: configs.Cert | None, python: str
) -> tuple[Managed, int, int]:
    port = free_port()
    conf = tmp / f"{name}.toml"
    conf.write_text(configs.l7lb(port, [backend], "httptools", cert, False))
    argv = pinned(PROXY_CPU, [python, "-m", "l7lb", "run", "-c", str(conf), "--workers", "1"])
    proc = Managed(name, argv, tmp / f"{name}.out", cwd=tree)
    proc.start()
    proc.wait_listening(port)
    deadline = time.monotonic() + 10
    while not (kids := descendants(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if len(kids) != 1:
        raise SystemExit(f"{name}: expected one worker, found {kids}")
    time.sleep(1.0)  # the worker accepts once it has started
    return proc, port, kids[0]


def start_haproxy(tmp: Path, backend: int, cert: configs.Cert | None) -> tuple[Managed, int, int]:
    port = free_port()
    conf = tmp / "haproxy.cfg"
    conf.write_text(configs.haproxy(port, [backend], cert, False))
    proc = Managed("haproxy", pinned(PROXY_CPU, [HAPROXY, "-db", "-f", str(conf)]), tmp / "h.out")
    proc.start()
    proc.wait_listening(port)
    return proc, port, proc.pid


def one_turn(
    scenario: str, port: int, pid: int, seconds: float, tmp: Path
) -> tuple[float, float, float]:
    """(user, system CPU µs per connection or request, resumed share) of one load run against
    one server."""
    sc = SCENARIOS[scenario]
    out = tmp / "bench.json"
    argvs = load_commands(sc, port, seconds, None, out)
    before = read_stat(pid)
    if spec(sc).client == "bench":
        out.unlink(missing_ok=True)
        rc, text = run_bounded(argvs[0], timeout=seconds + 60)
        after = read_stat(pid)
        if rc != 0:
            raise SystemExit(f"bench failed: {text[-500:]}")
        b = parse_bench_json(json.loads(out.read_text()))
        made, resumed = b.handshakes_full + b.handshakes_resumed, b.handshakes_resumed
    elif spec(sc).client == "wrk":  # keep-alive requests: per request, nothing resumed
        rc, text = run_bounded(argvs[0], timeout=seconds + 30)
        after = read_stat(pid)
        if rc != 0:
            raise SystemExit(f"wrk failed: {text[-500:]}")
        made, resumed = parse_wrk(text).requests, 0
    else:
        results = run_parallel(argvs, timeout=seconds + 30)
        after = read_stat(pid)
        made = resumed = 0
        for _, text in results:
            st = parse_s_time(text)
            made += st.connections
            resumed += st.resumed
    per = 1e6 / CLK_TCK / made
    return (after.utime - before.utime) * per, (after.stime - before.stime) * per, resumed / made


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="tools/tls_ab.py", description=__doc__)
    ap.add_argument("trees", nargs="+", metavar="NAME=TREE[@PYTHON]")
    ap.add_argument("--scenario", default="tls-resume-id", choices=sorted(SCENARIOS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--haproxy", action="store_true", help="also measure HAProxy")
    args = ap.parse_args(argv)
    print(f"load average {os.getloadavg()}; scenario {args.scenario}", flush=True)
    figures: dict[str, list[float]] = {}  # user + system
    user: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="tls-ab-") as t:
        tmp = Path(t)
        sc = SCENARIOS[args.scenario]
        cert = make_cert(tmp, sc.tls or "ecdsa-p256") if sc.is_tls else None
        backend, bport = start_backend(tmp)
        servers: list[tuple[str, Managed, int, int]] = []
        try:
            for item in args.trees:
                name, _, where = item.partition("=")
                tree, _, python = where.partition("@")
                python = python or sys.executable
                servers.append((name, *start_l7lb(tmp, name, tree, bport, cert, python)))
            if args.haproxy:
                servers.append(("haproxy", *start_haproxy(tmp, bport, cert)))
            for r in range(args.rounds):
                order = servers[r % len(servers) :] + servers[: r % len(servers)]
                line = []
                for name, _, port, pid in order:
                    usr, sys_, resumed = one_turn(args.scenario, port, pid, args.seconds, tmp)
                    figures.setdefault(name, []).append(usr + sys_)
                    user.setdefault(name, []).append(usr)
                    line.append(
                        f"{name} {usr + sys_:.1f} µs (user {usr:.1f}, {resumed:.0%} resumed)"
                    )
                print(f"round {r + 1}: " + ", ".join(line), flush=True)
        finally:
            for _, proc, _, _ in servers:
                proc.stop()
            backend.stop()
    base_name = "haproxy" if args.haproxy else servers[0][0]
    base = statistics.median(figures[base_name])
    base_user = statistics.median(user[base_name])
    for name, values in figures.items():
        med, med_user = statistics.median(values), statistics.median(user[name])
        print(
            f"{name:>12}: median {med:7.1f} µs per {unit(sc)[:-1]}, {med / base:.2f}x {base_name}; "
            f"user {med_user:6.1f} µs, {med_user / base_user:.2f}x"
        )
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
