"""``l7lb demo``: three demo realservers and the proxy on the demo policy; with
``--directors 2``, two proxies on one shared store (``l7lb.demo.directors``).

The realservers (and every other child) end with the demo, whatever stops it: see
``l7lb.demo.lifeline``.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from l7lb.demo.children import realservers_listening, start_realservers, stop
from l7lb.demo.lifeline import Lifeline
from l7lb.demo.policy import (
    ADMIN_PORT,
    HTTP_PORT,
    HTTPS_PORT,
    REALSERVER_PORTS,
    demo_config_path,
    demo_policy_text,
    move_ports,
)
from l7lb.run import run_supervisor


def _interrupted(signum: int, frame: object) -> None:
    # Until the supervisor takes SIGTERM over, treat it as Ctrl-C: clean up and leave.
    raise KeyboardInterrupt


def demo_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="l7lb demo")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("-c", "--config", default=None, help="use another policy (one director)")
    ap.add_argument(
        "--directors",
        type=int,
        choices=(1, 2),
        default=1,
        help="2: two l7lb instances sharing a local redis-server (HTTPS on 8443 and 8444)",
    )
    ap.add_argument(
        "--port-offset",
        type=int,
        default=0,
        metavar="N",
        help="add N to every port the demo uses (when 8080, 8443 or 9001-9003 are taken)",
    )
    args = ap.parse_args(argv)
    if args.config and (args.directors != 1 or args.port_offset):
        ap.error("-c runs your own policy, with its own ports, on one director")
    if not 0 <= args.port_offset <= 50000:
        ap.error("--port-offset must be between 0 and 50000")
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        if args.directors == 2:
            from l7lb.demo.directors import run_two_directors

            return run_two_directors(args.workers, args.port_offset)
        return _one_director(args.config, args.workers, args.port_offset)
    except KeyboardInterrupt:
        return 130


def _one_director(config: str | None, workers: int | None, offset: int) -> int:
    from l7lb.tls.certtool import ensure_demo_certs

    cert, _ = ensure_demo_certs("certs")
    workdir = ""
    path = config or demo_config_path()
    if offset:
        workdir = tempfile.mkdtemp(prefix="l7lb-demo-")
        path = str(Path(workdir) / "demo.toml")
        Path(path).write_text(move_ports(demo_policy_text(), offset=offset))
    line = Lifeline()
    ports = [p + offset for p in REALSERVER_PORTS]
    realservers = None
    try:
        realservers = start_realservers(ports, line)
        # The proxy starts once they answer: its first health checks then find them up, and
        # a start that fails later always has running realservers to stop.
        if not realservers_listening(ports, realservers):
            print(
                f"l7lb demo: the realservers did not start on 127.0.0.1:{ports[0]}-{ports[-1]}",
                file=sys.stderr,
            )
            return 1
        http, https = HTTP_PORT + offset, HTTPS_PORT + offset
        print(
            f"l7lb demo: realservers realserver_1..3 on 127.0.0.1:{ports[0]}-{ports[-1]}\n"
            f"l7lb demo: try   curl http://127.0.0.1:{http}/   a few times (names rotate),\n"
            f"l7lb demo: and   curl -k https://localhost:{https}/   (self-signed {cert}),\n"
            f"l7lb demo: admin http://127.0.0.1:{ADMIN_PORT + offset}/   "
            "(/healthz, /api/servers: state as JSON),\n"
            "l7lb demo: Ctrl-C stops everything.\n",
            file=sys.stderr,
            flush=True,
        )
        return run_supervisor(path, workers)
    finally:
        stop(realservers, signal.SIGKILL)
        line.close()
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
