"""One director of the two-director demo: ``l7lb run`` tied to the demo's life.

``python -m l7lb.demo.director --parent PID --lifeline FD -c FILE [--workers N]`` runs the
supervisor of FILE in this process. When the demo ends, however it ends, this director gets
SIGTERM (the parent-death signal, or from the lifeline watchdog) and stops as on any SIGTERM:
it stops accepting, finishes what is in flight, and its workers exit with it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from l7lb.demo.lifeline import hold
from l7lb.run import run_supervisor


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m l7lb.demo.director")
    ap.add_argument("-c", "--config", required=True)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--parent", type=int, help="stop when this process (the demo) ends")
    ap.add_argument("--lifeline", type=int, help="stop at end-of-file on this descriptor")
    args = ap.parse_args(argv)
    hold(args.lifeline, args.parent, signal.SIGTERM, lambda: os.kill(os.getpid(), signal.SIGTERM))
    return run_supervisor(args.config, args.workers)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
