"""Starting pinned processes and stopping exactly those, by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from harness.procstat import descendants

TASKSET = "/usr/bin/taskset"


class StartError(RuntimeError):
    """A process exited or never listened; ``output`` is what it printed."""

    def __init__(self, message: str, output: str = "", returncode: int | None = None):
        super().__init__(message)
        self.output = output
        self.returncode = returncode


def free_port() -> int:
    """A port nobody listens on right now (the kernel's pick; a race is possible but harmless:
    the process that then fails to bind is reported)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def pinned(cpus: str, argv: list[str]) -> list[str]:
    """``taskset -c CPUS argv...``: taskset execs the command, so the PID is the command's."""
    return [TASKSET, "-c", cpus, *argv]


class Managed:
    """A long-running process (backend or proxy) whose output goes to a log file."""

    def __init__(self, name: str, argv: list[str], log: Path, cwd: str | None = None):
        self.name = name
        self.argv = argv
        self.log = log
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._known: list[int] = []

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                start_new_session=True,  # a Ctrl-C in the terminal reaches us, not it
            )

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def wait_listening(self, port: int, timeout: float = 15.0) -> None:
        """Until ``port`` accepts a connection; StartError if the process exits first."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise StartError(f"{self.name} exited with status {rc}", self.output(), rc)
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                self._known = descendants(self.pid)
                return
            time.sleep(0.05)
        raise StartError(
            f"{self.name} did not listen on {port} within {timeout:g} s", self.output()
        )

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``grace``; descendants seen while it ran are killed by
        PID if the parent left them behind."""
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            self._known = sorted(set(self._known) | set(descendants(self.pid)))
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait(5)
        for pid in self._known:
            # Only PIDs that were our descendants moments ago; the reuse window is tiny.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def run_bounded(argv: list[str], timeout: float) -> tuple[int, str]:
    """Run a load tool to completion; killed (by subprocess.run) if it overruns ``timeout``."""
    done = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
    )
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")


def run_parallel(argvs: list[list[str]], timeout: float) -> list[tuple[int, str]]:
    """Run several load tools at once; every one still running at ``timeout`` is killed."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for argv in argvs:
            procs.append(
                subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + timeout
        results = []
        for p in procs:
            out, _ = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
            results.append((p.returncode, out.decode(errors="replace")))
        return results
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
