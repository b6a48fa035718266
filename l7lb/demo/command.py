"""``l7lb demo``: three demo realservers and the proxy on the demo policy."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from importlib import resources


def demo_config_path() -> str:
    """The packaged demo policy (the same text as policies/demo.toml)."""
    return str(resources.files("l7lb.demo").joinpath("demo.toml"))


def demo_main(argv: list[str]) -> int:
    from l7lb.run import run_supervisor

    ap = argparse.ArgumentParser(prog="l7lb demo")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("-c", "--config", default=None, help="use another policy")
    args = ap.parse_args(argv)
    path = args.config or demo_config_path()
    from l7lb.tls.certtool import ensure_demo_certs

    cert, _ = ensure_demo_certs("certs")
    backends = subprocess.Popen(
        [sys.executable, "-m", "l7lb.demo.backends", "9001", "9002", "9003"],
        start_new_session=True,
    )
    print(
        "l7lb demo: realservers realserver_1..3 on 127.0.0.1:9001-9003\n"
        "l7lb demo: try   curl http://127.0.0.1:8080/   a few times (names rotate),\n"
        f"l7lb demo: and   curl -k https://localhost:8443/   (self-signed {cert}),\n"
        "l7lb demo: Ctrl-C stops everything.\n",
        file=sys.stderr,
        flush=True,
    )
    try:
        return run_supervisor(path, args.workers)
    finally:
        os.killpg(backends.pid, signal.SIGTERM)
        backends.wait()
