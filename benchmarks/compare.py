"""l7lb side by side with HAProxy (and nginx as a proxy): requests/s, MB/s, proxy CPU per request.

    python benchmarks/compare.py [--scenario NAME ...] [--runs 3] [--duration 5]
                                 [--out benchmarks/RESULTS.md]

Runs the scenarios of benchmarks/scenarios/*.toml. The nginx backend and the load client (wrk,
openssl s_time, h2load or l7lb bench, as each scenario's [compare] table says) share CPU 0; each
proxy runs alone on CPU 1, with the same TLS parameters (harness/tlsparams.py), and its whole
process tree is measured. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import tempfile
from pathlib import Path

from harness import machine, report
from harness.results import ScenarioResult
from harness.runner import LOAD_CPU, PROXY_CPU, Bench, Settings
from harness.scenarios import DEFAULT_SCENARIOS, SCENARIOS, VARIANTS

REPO = Path(__file__).resolve().parent.parent

PINNING = (
    f"nginx backend (1 worker) and the load generator on CPU {LOAD_CPU} "
    f"(`taskset -c {LOAD_CPU}`); the proxy under test alone on CPU {PROXY_CPU} "
    f"(`taskset -c {PROXY_CPU}`), one proxy running at a time"
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="benchmarks/compare.py",
        description="Benchmark l7lb against HAProxy (and nginx) and write RESULTS.md.",
    )
    ap.add_argument(
        "--scenario",
        action="append",
        choices=sorted(SCENARIOS),
        help="scenario to run (repeatable; default: all)",
    )
    ap.add_argument(
        "--proxy",
        action="append",
        choices=sorted(VARIANTS),
        help="only these proxy set-ups (repeatable; default: each scenario's own list)",
    )
    ap.add_argument("--runs", type=int, default=3, help="runs per proxy; medians are reported")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per load run")
    ap.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="before each round, wait until this share of the CPUs is idle (e.g. 0.8; "
        "default 0: only measure and record it)",
    )
    ap.add_argument(
        "--wait-max", type=float, default=600.0, help="seconds to wait for --wait-idle per round"
    )
    ap.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter that runs l7lb and the floors (default: this one); it needs "
        "l7lb's dependencies and the CPython minor version of the build in this checkout",
    )
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    ap.add_argument(
        "--no-write", action="store_true", help="print the report, leave RESULTS.md alone"
    )
    args = ap.parse_args(argv)
    if args.runs < 1 or args.duration <= 0:
        ap.error("--runs must be >= 1 and --duration > 0")
    if not 0 <= args.wait_idle <= 1 or args.wait_max < 0:
        ap.error("--wait-idle is a share from 0 to 1, --wait-max seconds >= 0")
    if args.python != sys.executable and (why := machine.foreign_python(args.python, REPO)):
        ap.error(f"--python {args.python}: {why}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    names = args.scenario or list(DEFAULT_SCENARIOS)
    only = tuple(args.proxy) if args.proxy else None
    settings = Settings(
        runs=args.runs,
        duration=args.duration,
        repo=REPO,
        wait_idle=args.wait_idle,
        wait_max=args.wait_max,
        python=args.python,
    )
    started = dt.datetime.now(dt.UTC)
    info = machine.collect(REPO, args.python)
    print(f"l7lb {info.commit}; load average {info.loadavg}", flush=True)

    results: list[ScenarioResult] = []
    with tempfile.TemporaryDirectory(prefix="l7lb-compare-") as tmp:
        bench = Bench(Path(tmp), settings)
        try:
            bench.start_backend(max(SCENARIOS[n].servers for n in names))
            for name in names:
                print(f"scenario {name}", flush=True)
                results.append(bench.run_scenario(SCENARIOS[name], only))
        finally:
            bench.stop()

    when = started.strftime("%Y-%m-%d %H:%M UTC")
    blocks = {
        r.scenario.name: report.scenario_table(r, when, info.commit, args.runs, args.duration)
        for r in results
    }
    blocks.update(report.speedup_tables(results))
    command = shlex.join(["python", "benchmarks/compare.py", *(argv or sys.argv[1:])])
    section = report.RunSection(
        started.strftime("%Y-%m-%d"),
        report.run_header(started.strftime("%Y-%m-%d"), info, command, PINNING),
        blocks,
    )
    order = report.display_order()

    print_summary(results)
    if args.no_write:
        print(report.render([section]))
        return 0
    existing = args.out.read_text() if args.out.exists() else ""
    args.out.write_text(report.merge(existing, section, order))
    print(f"wrote {args.out}")
    return 0


def print_summary(results: list[ScenarioResult]) -> None:
    print()
    for r in results:
        if r.skipped is not None:
            print(f"{r.scenario.name}: SKIPPED ({r.skipped})")
            continue
        for label, s in r.summaries.items():
            print(
                f"{r.scenario.name:31} {label:22} {s.rps:>10,.0f}/s {s.mbps:>8,.1f} MB/s "
                f"{s.cpu_us:>8.1f} us CPU  cpu {s.cpu_util:4.0%}  errors {s.errors}"
                + ("" if s.wakeups != s.wakeups else f"  load CPU woken {s.wakeups:.2f}/req")
                + (f"  UNSATURATED in {s.unsaturated_runs} run(s)" if s.unsaturated_runs else "")
                + ("" if s.resumed_share != s.resumed_share else f"  resumed {s.resumed_share:.0%}")
                + ("" if s.sticky_violations < 0 else f"  sticky violations {s.sticky_violations}")
            )
        for v in r.verdicts:
            print(
                f"  {v.status:4} {v.check.subject} {v.check.text}: {report.fmt_ratio(v.value)}"
                + (f"  ({v.flag})" if v.flag else "")
            )
        for label, why in r.failures.items():
            print(f"  FAILED {label}: {why}")


if __name__ == "__main__":
    sys.exit(main())
