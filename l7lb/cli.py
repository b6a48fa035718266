"""``l7lb`` command line: run, check, explain, reload, stop, demo, bench, certs, admin."""

from __future__ import annotations

import argparse
import sys

from l7lb.run import run_supervisor

USAGE = """\
l7lb COMMAND [options]

commands:
  run -c FILE [--workers N]   run the proxy (supervisor + workers)
  check -c FILE               validate a configuration and print a summary
  explain -c FILE [URL]       where a request would go and why (l7lb explain --help)
  reload -c FILE              reload the running l7lb; prints its verdict
  stop -c FILE                stop the running l7lb (drain) and wait until it exits
  demo [--directors 2]        demo realservers + the proxy on policies/demo.toml
  bench URL [options]         load-test an HTTP(S) server (l7lb bench --help)
  certs new|show ...          make keys, CSRs and self-signed certificates
  admin [-s SOCK|-c FILE] CMD  show servers, set-weight, drain, maint, ready
  ipvs -c FILE [--format keepalived|ipvsadm] [--sysctl]
                              write the L4 tier (keepalived.conf, ipvsadm rules, host settings)
  version, --version          the release, and whether the hot path runs compiled
"""


def _run(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="l7lb run")
    ap.add_argument("-c", "--config", required=True, help="configuration file (TOML)")
    ap.add_argument("--workers", type=int, default=None, help="worker processes (default: CPUs)")
    args = ap.parse_args(argv)
    return run_supervisor(args.config, args.workers)


def _check(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="l7lb check")
    ap.add_argument("-c", "--config", required=True)
    args = ap.parse_args(argv)
    from l7lb.config.check import check_main

    return check_main(args.config)


def _version() -> int:
    """The release, and which hot path runs: compiled (how many modules) or pure, and why."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from l7lb import native

    try:
        release = version("l7lb")
    except PackageNotFoundError:
        release = "(not installed)"
    print(f"l7lb {release} (Python {platform.python_version()})\n{native.describe()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "run":
        return _run(rest)
    if cmd == "check":
        return _check(rest)
    if cmd in ("reload", "stop"):
        from l7lb.admin.runctl import reload_main, stop_main

        return reload_main(rest) if cmd == "reload" else stop_main(rest)
    if cmd == "explain":
        from l7lb.explain.command import explain_main

        return explain_main(rest)
    if cmd == "demo":
        from l7lb.demo.command import demo_main

        return demo_main(rest)
    if cmd == "bench":
        from l7lb.bench.cli import main as bench_main

        return bench_main(rest)
    if cmd == "certs":
        from l7lb.tls.certtool import certs_main

        return certs_main(rest)
    if cmd == "admin":
        from l7lb.admin.client import admin_main

        return admin_main(rest)
    if cmd == "ipvs":
        from l7lb.ipvs.command import ipvs_main

        return ipvs_main(rest)
    if cmd in ("version", "--version"):
        return _version()
    print(f"l7lb: unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr, end="")
    return 2


if __name__ == "__main__":
    sys.exit(main())
