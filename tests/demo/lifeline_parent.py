"""A stand-in for the demo in the lifeline tests: starts one child tied to it by the ties
named on the command line, prints the child's PID, then waits to be killed.

    python lifeline_parent.py signal|pipe|both
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from l7lb.demo.lifeline import Lifeline

CHILD = """
import os, signal, sys, time
from l7lb.demo.lifeline import hold
fd = int(sys.argv[1]) if sys.argv[1] != "-" else None
parent = int(sys.argv[2]) if sys.argv[2] != "-" else None
hold(fd, parent, signal.SIGKILL, lambda: os._exit(0))
print("ready", flush=True)
time.sleep(120)
"""


def main(ties: str) -> None:
    line = Lifeline()
    fd = str(line.fd) if ties in ("pipe", "both") else "-"
    parent = str(os.getpid()) if ties in ("signal", "both") else "-"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, fd, parent],
        pass_fds=(line.fd,),
        stdout=subprocess.PIPE,
        start_new_session=True,  # as the demo's children: Ctrl-C does not reach them
    )
    assert child.stdout is not None
    assert child.stdout.readline() == b"ready\n"
    print(child.pid, flush=True)
    time.sleep(120)


if __name__ == "__main__":
    main(sys.argv[1])
