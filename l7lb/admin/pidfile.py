"""The pid file (``pid_file``): written by the supervisor at start, removed at exit.

``l7lb reload`` and ``l7lb stop`` read it to find the supervisor when neither
the admin socket nor the admin listener is configured (``pidof`` cannot: the
process is ``python3``, not ``l7lb``). A pid file can be stale: the machine
rebooted, or the supervisor was killed with SIGKILL, and its pid may since
belong to another program. So a pid counts only while that process is alive
and its command line names l7lb; anything else is stale, replaced at start
and reported as "not running" by the tools.

Beside it, ``<pid_file>.reload`` holds the verdict of the last reload (JSON,
with a sequence number), so that ``l7lb reload`` through the pid file can
report the supervisor's verdict rather than guess it.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from typing import Any

STATUS_SUFFIX = ".reload"


class PidFileError(Exception):
    """The pid file cannot be taken: another l7lb runs, or it cannot be written."""


@dataclass(frozen=True, slots=True)
class PidFileState:
    """What a pid file says: ``pid`` is 0 when absent or unreadable."""

    path: str
    pid: int
    running: bool  # the pid is alive and is an l7lb
    reason: str  # why not running ("" when running)


def process_is_l7lb(pid: int) -> bool:
    """Alive (not a zombie) and its command line names l7lb (Linux's /proc;
    elsewhere, alive is enough)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by someone else: look at its command line
    try:
        # a zombie (exited, not yet waited for) has an empty command line
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"l7lb" in f.read()
    except FileNotFoundError:
        return not os.path.isdir("/proc/self")  # no /proc at all: trust kill(0)
    except OSError:
        return True


def read_pid_file(path: str) -> PidFileState:
    try:
        with open(path, "rb") as f:
            text = f.read(64).decode("ascii", "replace").strip()
    except FileNotFoundError:
        return PidFileState(path, 0, False, f"no pid file {path}")
    except OSError as exc:
        return PidFileState(path, 0, False, f"cannot read {path}: {exc.strerror or exc}")
    if not text.isdigit() or int(text) <= 0:
        return PidFileState(path, 0, False, f"pid file {path} holds no pid ({text[:20]!r})")
    pid = int(text)
    if not process_is_l7lb(pid):
        return PidFileState(path, pid, False, f"stale pid file {path}: pid {pid} is not l7lb")
    return PidFileState(path, pid, True, "")


def _write_atomically(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)  # readers see the old file or the new one, never half


def acquire(path: str, pid: int) -> str:
    """Write ``pid`` to ``path``. A live l7lb's pid file is refused
    (PidFileError); a stale one is replaced, and the returned note says so
    (empty otherwise)."""
    state = read_pid_file(path)
    if state.running and state.pid != pid:
        raise PidFileError(f"pid file {path}: l7lb is already running with pid {state.pid}")
    note = state.reason if state.pid else ""
    try:
        _write_atomically(path, f"{pid}\n".encode())
    except OSError as exc:
        raise PidFileError(f"cannot write pid file {path}: {exc.strerror or exc}") from None
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path + STATUS_SUFFIX)  # a verdict of an earlier run is not ours
    return note


def release(path: str, pid: int) -> None:
    """Remove the pid file (and the reload status) if it still names ``pid``."""
    if read_pid_file(path).pid == pid:
        for name in (path + STATUS_SUFFIX, path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)


def write_reload_status(path: str, pid: int, seq: int, verdict: dict[str, Any]) -> None:
    """Record the verdict of reload number ``seq`` beside the pid file."""
    data = json.dumps({"pid": pid, "seq": seq, **verdict}).encode() + b"\n"
    _write_atomically(path + STATUS_SUFFIX, data)


def read_reload_status(path: str) -> dict[str, Any]:
    """The last verdict recorded beside the pid file; {} when there is none."""
    try:
        with open(path + STATUS_SUFFIX, "rb") as f:
            data = json.loads(f.read(1 << 20))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
