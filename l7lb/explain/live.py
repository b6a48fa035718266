"""``--live``: the running director's server states, from its admin socket.

``show servers`` (``l7lb.admin.commands.format_servers``) is read by its
header row: each column starts where its title starts, so added columns do
not break the reading. What it gives is applied to the explain's
``PoolState`` objects with the calls the workers use for admin and health
messages (``set_weight``, ``set_admin``, ``mark_down``).

Not available through the socket: the stick tables' entries (learned session
ids, source addresses) and the rotation position of rr/wrr; explain says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from l7lb.admin.client import send_command
from l7lb.explain.decision import PoolStates

_ROW = "  -> "
_COLUMN = re.compile(r"\S+(?: \S+)*")  # titles are separated by two spaces or more


class LiveError(Exception):
    """The admin socket cannot be read; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class LiveRow:
    pool: str
    server: str
    weight: int
    state: str  # up | down | drain | maint (a ",backup" suffix removed)
    active: int


def parse_servers(text: str) -> list[LiveRow]:
    """The rows of a ``show servers`` answer; LiveError when it is not one."""
    if text.startswith("error:"):
        raise LiveError(f"the admin socket answered: {text.strip()}")
    lines = text.splitlines()
    if lines == ["no pools"]:
        return []
    if len(lines) < 2 or lines[0] != "Pool" or not lines[1].startswith(_ROW):
        raise LiveError("the admin socket's answer to 'show servers' is not the expected table")
    header = lines[1]
    starts = {m.group(0).lower(): m.start() for m in _COLUMN.finditer(header, len(_ROW))}
    for need in ("server", "weight", "state"):
        if need not in starts:
            raise LiveError(f"'show servers' has no {need.capitalize()} column")
    bounds = sorted(starts.values())

    def cell(line: str, title: str) -> str:
        begin = starts[title]
        later = [b for b in bounds if b > begin]
        end = later[0] if later else len(line)
        return line[begin:end].strip()

    rows: list[LiveRow] = []
    pool: str | None = None
    for line in lines[2:]:
        if line.startswith("pool "):
            pool = line[len("pool ") :]
            continue
        if not line.startswith(_ROW) or pool is None:
            raise LiveError(f"unexpected line in 'show servers': {line!r}")
        weight, active = cell(line, "weight"), cell(line, "active") if "active" in starts else "0"
        if not weight.isdigit() or not active.isdigit():
            raise LiveError(f"unexpected numbers in 'show servers': {line!r}")
        state = cell(line, "state").split(",")[0]
        rows.append(LiveRow(pool, cell(line, "server"), int(weight), state, int(active)))
    return rows


def fetch_rows(socket_path: str, timeout: float = 5.0) -> list[LiveRow]:
    try:
        answer = send_command(socket_path, "show servers", timeout)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise LiveError(f"cannot reach {socket_path}: {reason} (is l7lb running?)") from None
    if not answer:
        raise LiveError(f"{socket_path} closed without an answer")
    return parse_servers(answer)


def apply_rows(states: PoolStates, rows: list[LiveRow]) -> list[str]:
    """Put the live weights and states into ``states``; notes on what did not fit
    (a running configuration that differs from the file explained)."""
    notes: list[str] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        state = states.states.get(row.pool)
        server = state.by_name.get(row.server) if state is not None else None
        if state is None or server is None:
            notes.append(
                f"live server {row.pool}/{row.server} is not in this file: the director runs "
                "another configuration"
            )
            continue
        seen.add((row.pool, row.server))
        try:
            state.set_weight(row.server, row.weight)
        except ValueError as exc:
            notes.append(f"live server {row.pool}/{row.server}: {exc}")
        if row.state == "maint":
            state.set_admin(row.server, "maint")
        elif row.state == "down":
            state.mark_down(row.server)
        elif row.state == "drain" and row.weight > 0:
            state.set_admin(row.server, "drain")
        elif row.state not in ("up", "drain"):
            notes.append(f"live server {row.pool}/{row.server}: unknown state {row.state!r}")
        # the sum over the workers: each worker balances on its own count
        server.active = row.active
    for name, state in states.states.items():
        for s in state.servers:
            if (name, s.name) not in seen:
                notes.append(f"server {name}/{s.name} of this file is not on the running director")
    return notes
