"""The machine and tool versions a run used, for the report header."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class Machine:
    nproc: int
    cpu_model: str
    kernel: str
    loadavg: str  # at the start: other work on a shared machine makes figures noisy
    versions: dict[str, str]
    commit: str


def cpu_model(cpuinfo: str) -> str:
    """The first "model name" of /proc/cpuinfo (x86), else "Hardware"/"Processor" (arm)."""
    for key in ("model name", "Hardware", "Processor"):
        for line in cpuinfo.splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == key and value.strip():
                return value.strip()
    return "unknown"


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    text = (done.stdout + done.stderr).decode(errors="replace").strip()
    return text.splitlines()[0] if text else "unknown"


def _dist(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def git_commit(repo: Path) -> str:
    """Short commit, plus a note when the working tree differs from it (read-only git calls)."""
    head = _first_line(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"])
    try:
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        dirty = b""
    return f"{head} (with uncommitted changes)" if dirty else head


def loadavg(path: Path = Path("/proc/loadavg")) -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    try:
        return " ".join(path.read_text().split()[:3])
    except OSError:
        return "?"


def cpu_times(stat: str) -> tuple[int, int]:
    """(idle, total) clock ticks of all CPUs from the "cpu" line of ``/proc/stat`` (proc(5)):
    idle counts idle and iowait; total adds user, nice, system, irq, softirq and steal (guest
    time is already inside user)."""
    for line in stat.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            ticks = [int(f) for f in fields[1:9]]
            return ticks[3] + ticks[4], sum(ticks)
    raise ValueError("no 'cpu' line in /proc/stat")


def idle_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Share of all CPUs' time that was idle between two ``cpu_times`` readings."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else float("nan")


def read_cpu_times(path: Path = Path("/proc/stat")) -> tuple[int, int]:
    return cpu_times(path.read_text())


def l7lb_build(repo: Path) -> str:
    """What the compiled l7lb under ``repo`` is: "compiled", "compiled, <how>" (e.g.
    profile-guided), or why it is not (the runner then refuses the compiled set-ups)."""
    from l7lb import native

    state = native.check(str(repo), {})
    note = native.build_note(str(repo)) if state == "compiled" else ""
    return f"{state}, {note}" if note else state


def interpreter(python: str) -> str:
    """The version and path of the interpreter that runs the Python proxies, as it says."""
    out = _first_line([python, "-c", "import sys; print(sys.version.split()[0], sys.executable)"])
    return out or f"{python} (did not run)"


_PROBE = (
    "import sys, uvloop, httptools\n"
    "from l7lb import native\n"
    "print('%d.%d' % sys.version_info[:2]); print(native.check())\n"
)


def foreign_python(python: str, repo: Path) -> str:
    """Why ``python`` cannot run ``repo``'s l7lb as this interpreter would, or "": it must
    run, be this CPython minor version (the build's ABI), have uvloop and httptools, and find
    the build in ``repo`` current."""
    try:
        done = subprocess.run(
            [python, "-c", _PROBE], cwd=repo, capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"does not run ({exc})"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"cannot import l7lb and its dependencies: {last}"
    version, state = [*done.stdout.splitlines(), "", ""][:2]
    ours = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if version != ours:
        return f"is Python {version}; the build here is for {ours}"
    if state != "compiled":
        return f"does not run this checkout's build: {state}"
    return ""


def collect(repo: Path, python: str = sys.executable) -> Machine:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    versions = {
        "haproxy": _first_line(["/usr/sbin/haproxy", "-v"]),
        "nginx": _first_line(["/usr/sbin/nginx", "-v"]),
        "wrk": _first_line(["/usr/bin/wrk", "-v"]),
        "h2load": _first_line(["/usr/bin/h2load", "--version"]),
        "openssl": _first_line(["openssl", "version"]),
        "python": sys.version.split()[0],
        "uvloop": _dist("uvloop"),
        "httptools": _dist("httptools"),
        "h11": _dist("h11"),
        "l7lb build": l7lb_build(repo),
        "python under test": interpreter(python),
    }
    return Machine(
        nproc=os.cpu_count() or 0,
        cpu_model=cpu_model(info),
        kernel=f"{platform.system()} {platform.release()}",
        loadavg=loadavg(),
        versions=versions,
        commit=git_commit(repo),
    )
