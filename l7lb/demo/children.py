"""Starting and stopping the demo's child processes, each tied to the demo's life
(``l7lb.demo.lifeline``) and each in a session of its own, so a Ctrl-C in the terminal reaches
the demo alone and the demo stops its children in order."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from l7lb.demo.lifeline import Lifeline, preexec


def python_child(
    module: str, args: Sequence[str], line: Lifeline, **popen: object
) -> subprocess.Popen[bytes]:
    """``python -m module --parent PID --lifeline FD args...``: one of ours, which ties itself."""
    argv = [sys.executable, "-m", module, "--parent", str(os.getpid())]
    argv += ["--lifeline", str(line.fd), *args]
    return subprocess.Popen(argv, pass_fds=(line.fd,), start_new_session=True, **popen)  # type: ignore[call-overload, no-any-return]


def program_child(argv: Sequence[str], **popen: object) -> subprocess.Popen[bytes]:
    """A program that is not ours: the parent-death signal only, set before its exec.
    Start these before the demo starts any thread."""
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        list(argv), preexec_fn=preexec(os.getpid()), start_new_session=True, **popen
    )


def start_realservers(ports: Sequence[int], line: Lifeline) -> subprocess.Popen[bytes]:
    return python_child("l7lb.demo.backends", [str(p) for p in ports], line)


REALSERVER_START = 30.0  # seconds: generous, a loaded machine starts Python slowly


def realservers_listening(ports: Sequence[int], proc: subprocess.Popen[bytes]) -> bool:
    """True once the realservers (``proc``) accept on every port of ``ports``; False if they
    exit or take longer than REALSERVER_START."""
    end = time.monotonic() + REALSERVER_START
    return all(wait_listening(p, max(0.0, end - time.monotonic()), proc) for p in ports)


def stop(
    proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, wait: float = 5.0
) -> None:
    """Send ``sig`` to the child's process group; SIGKILL it if it is still there after ``wait``."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(wait)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_listening(port: int, deadline: float, alive: subprocess.Popen[bytes]) -> bool:
    """True once something accepts on 127.0.0.1:``port``; False if ``alive`` exits first or
    ``deadline`` (seconds) passes."""
    end = time.monotonic() + deadline
    while time.monotonic() < end and alive.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
