"""Run ``l7lb demo`` as a real process, find every process it started, and check they are
all gone after it stops. Each demo runs in its own temporary directory (its certificate is
made there) on ports moved by ``--port-offset`` to a range that is free, so it never meets
another test or another checkout's demo on this machine."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

# The demo's ports before the offset: realservers, HTTP, HTTPS and the admin HTTP listener
# of directors 1 and 2.
DEMO_PORTS = (9001, 9002, 9003, 8080, 8081, 8443, 8444, 9100, 9101)


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_offset() -> int:
    """An offset that puts every demo port on a free port (above the usual services)."""
    for _ in range(200):
        # below the ephemeral range (32768-60999 on Linux), where outgoing connections
        # would take a port between this check and the demo's bind
        offset = random.randrange(2000, 23000)
        if all(port_is_free(p + offset) for p in DEMO_PORTS):
            return offset
    raise RuntimeError("no free port range for the demo")


def alive(pid: int) -> bool:
    """Running, not a zombie (an orphan killed here may wait for a reaper that never comes)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (by parent PID), at this moment."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return {p for p in found if alive(p)}


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


def describe(pid: int) -> str:
    """What ``pid`` is now: state, parent and command line (for a failure message)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return "gone"
    return f"state {fields[0]} ppid {fields[1]} {command_line(pid)!r}"


class Demo:
    """``l7lb demo ARGS`` in ``workdir``, its output in ``workdir/demo.log``."""

    def __init__(self, workdir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.offset = free_offset()
        self.log = workdir / "demo.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "l7lb", "demo", "--port-offset", str(self.offset), *args],
            cwd=workdir,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: killpg(SIGINT) is a terminal's Ctrl-C
            env=env,
        )
        self.seen: dict[int, str] = {}  # every process it started, with its command line

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"demo never printed {text!r}:\n{self.output()}")
            time.sleep(0.1)

    def wait_listening(self, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while port_is_free(port + self.offset) or not self._accepts(port + self.offset):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"nothing on {port + self.offset}:\n{self.output()}")
            time.sleep(0.05)

    @staticmethod
    def _accepts(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    def note_children(self) -> dict[int, str]:
        """Remember every process the demo has started so far (and return them all)."""
        for pid in descendants(self.proc.pid):
            # The latest that says something: a child seen between its fork and its exec
            # still shows the demo's, and one seen in the middle of its exec or its exit
            # shows an empty one (or none at all, once it is gone).
            line = command_line(pid)
            if line not in ("", "?") or pid not in self.seen:
                self.seen[pid] = line
        return self.seen

    def watch_until_exit(self, timeout: float = 90.0) -> int:
        """Note children until the demo exits by itself; its exit status."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.note_children()
            time.sleep(0.02)
        return self.proc.wait(1)

    def assert_all_gone(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        left = {p for p in self.seen if alive(p)}
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = {p for p in left if alive(p)}
        assert not left, "outlived the demo:\n" + "\n".join(
            f"  {p}: {self.seen[p]!r} now {describe(p)}" for p in sorted(left)
        )

    def kill_everything(self) -> None:
        """After a failed test: nothing of it may stay behind."""
        if alive(self.proc.pid):
            self.note_children()
        for pid in [self.proc.pid, *self.seen]:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(5)
