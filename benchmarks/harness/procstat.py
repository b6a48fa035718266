"""CPU time and parentage of processes, read from ``/proc/PID/stat`` (proc(5))."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# utime and stime are in clock ticks; 100 on every Linux we know of, but ask.
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    comm: str
    state: str
    ppid: int
    utime: int  # clock ticks
    stime: int  # clock ticks
    cutime: int = 0  # clock ticks of children it has waited for (reaped)
    cstime: int = 0

    @property
    def cpu_ticks(self) -> int:
        return self.utime + self.stime


def parse_stat(text: str) -> ProcStat:
    """Parse one ``/proc/PID/stat`` line.

    ``comm`` is in parentheses and may itself hold spaces and ")" (a process can name itself
    anything), so the fields after it are found from the LAST ")" on the line.
    """
    open_paren = text.index("(")
    close_paren = text.rindex(")")
    pid = int(text[:open_paren].strip())
    comm = text[open_paren + 1 : close_paren]
    rest = text[close_paren + 1 :].split()
    # rest[0] is field 3 (state); utime, stime, cutime and cstime are fields 14 to 17.
    return ProcStat(
        pid=pid,
        comm=comm,
        state=rest[0],
        ppid=int(rest[1]),
        utime=int(rest[11]),
        stime=int(rest[12]),
        cutime=int(rest[13]),
        cstime=int(rest[14]),
    )


def read_stat(pid: int, proc: Path = Path("/proc")) -> ProcStat:
    return parse_stat((proc / str(pid) / "stat").read_text())


def cpu_seconds(pids: list[int], proc: Path = Path("/proc")) -> float:
    """User + system CPU seconds used so far by ``pids`` (their own threads included)."""
    return sum(read_stat(pid, proc).cpu_ticks for pid in pids) / CLK_TCK


def children(pid: int, proc: Path = Path("/proc")) -> list[int]:
    """Direct children of ``pid``, found by scanning ``/proc`` (``pgrep -P`` does the same;
    ``/proc/PID/task/TID/children`` needs CONFIG_PROC_CHILDREN, absent on some kernels)."""
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            st = parse_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked
        if st.ppid == pid:
            found.append(st.pid)
    return sorted(found)


def descendants(pid: int, proc: Path = Path("/proc")) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        kids = children(todo.pop(), proc)
        out.extend(kids)
        todo.extend(kids)
    return out


def tree_cpu_seconds(root: int, proc: Path = Path("/proc")) -> float:
    """CPU seconds used so far by ``root`` and every live descendant, each with the CPU of the
    children it has reaped (``cutime + cstime``), so a process that exits between two readings
    still counts: its time moves into its parent's ``cutime``. The difference of two readings
    is what the whole tree used in between: l7lb's supervisor (which runs the session server)
    and workers, nginx's master and worker, HAProxy's one process alike."""
    ticks = 0
    for pid in [root, *descendants(root, proc)]:
        try:
            st = read_stat(pid, proc)
        except (OSError, ValueError, IndexError):
            continue  # exited while we looked: its parent has its time, or will
        ticks += st.utime + st.stime + st.cutime + st.cstime
    return ticks / CLK_TCK
