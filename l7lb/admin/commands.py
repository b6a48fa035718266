"""Admin commands: one line in, a ``Command`` out; ``show servers`` as text.

Sans-IO, shared by the socket server (which answers) and the command line
tool (which refuses a malformed command before connecting)::

    show servers
    set-weight POOL SERVER N      N from 0 to 256; 0 drains like weight 0 in LVS
    drain POOL SERVER             sticky clients only, no new ones
    maint POOL SERVER             no traffic at all
    ready POOL SERVER             back to normal
    help
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from l7lb.balancing.pool_state import MAX_WEIGHT
from l7lb.balancing.server_state import ServerState

MAX_LINE = 1024  # bytes, newline included: commands are short, input is hostile
STATE_VERBS = ("drain", "maint", "ready")
HELP = """\
commands:
  show servers                 pools and servers: weight, state, connections, persistence
  show tls                     per TLS VIP: full and resumed handshakes, failures by reason
  set-weight POOL SERVER N     set a server's weight (0-256) on every worker
  drain POOL SERVER            keep sticky clients, send no new ones
  maint POOL SERVER            send nothing (maintenance)
  ready POOL SERVER            back in rotation
"""


class AdminError(Exception):
    """A command that cannot be carried out; answered as ``error: <message>``.
    The handler raises it for an unknown pool or server."""


@dataclass(frozen=True, slots=True)
class Command:
    verb: str  # "show-servers" | "set-weight" | "drain" | "maint" | "ready" | "help"
    pool: str = ""
    server: str = ""
    weight: int = 0


def _printable(word: str) -> bool:
    return word.isprintable() and len(word) <= 256


def parse_command(line: bytes | str) -> Command:
    """The command on ``line`` (surrounding whitespace ignored); AdminError
    saying what is wrong otherwise."""
    if isinstance(line, bytes):
        if len(line) > MAX_LINE:
            raise AdminError(f"command longer than {MAX_LINE} bytes")
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise AdminError("command is not UTF-8") from None
    words = line.split()
    if not words:
        raise AdminError("empty command (try: help)")
    if not all(_printable(w) for w in words):
        raise AdminError("command contains control characters")
    verb, args = words[0].lower(), words[1:]
    if verb == "help" and not args:
        return Command("help")
    if verb == "show":
        if args == ["servers"]:
            return Command("show-servers")
        if args == ["tls"]:
            return Command("show-tls")
        raise AdminError("usage: show servers | show tls")
    if verb == "set-weight":
        if len(args) != 3:
            raise AdminError("usage: set-weight POOL SERVER N")
        pool, server, text = args
        if not text.isascii() or not text.isdigit() or int(text) > MAX_WEIGHT:
            raise AdminError(f"weight must be an integer from 0 to {MAX_WEIGHT}, not {text!r}")
        return Command("set-weight", pool, server, int(text))
    if verb in STATE_VERBS:
        if len(args) != 2:
            raise AdminError(f"usage: {verb} POOL SERVER")
        return Command(verb, args[0], args[1])
    raise AdminError(f"unknown command {words[0]!r} (try: help)")


@dataclass(frozen=True, slots=True)
class ServerRow:
    """One line of ``show servers`` (counts summed over the workers)."""

    pool: str
    server: str
    address: str
    weight: int
    state: str  # "up" | "down" | "drain" | "maint"
    backup: bool = False
    active: int = 0
    requests: int = 0
    entries: int = 0  # live persistence table entries pointing at it

    @classmethod
    def from_state(cls, pool: str, s: ServerState, entries: int, now: float) -> ServerRow:
        """A row for one worker's ``ServerState``; ``now`` on the loop's clock."""
        return cls(
            pool=pool,
            server=s.name,
            address=str(s.server.address),
            weight=s.weight,
            state=state_label(s, now),
            backup=s.server.backup,
            active=s.active,
            requests=s.requests,
            entries=entries,
        )


def state_label(s: ServerState, now: float) -> str:
    """maint, down (health or passive back-off), drain (admin drain or weight
    0: sticky clients only), else up."""
    if s.admin == "maint":
        return "maint"
    if not s.up or s.down_until > now:
        return "down"
    if s.admin == "drain" or s.weight == 0:
        return "drain"
    return "up"


_HEAD = ("Server", "Address", "Weight", "State", "Active", "Requests", "Persist")


def format_servers(rows: Sequence[ServerRow]) -> str:
    """A table in the spirit of ``ipvsadm -Ln``: one block per pool, one
    ``->`` line per server."""
    if not rows:
        return "no pools\n"
    cells = [
        (
            r.server,
            r.address,
            str(r.weight),
            r.state + (",backup" if r.backup else ""),
            str(r.active),
            str(r.requests),
            str(r.entries),
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(_HEAD)]

    def line(prefix: str, values: Sequence[str]) -> str:
        text = "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True))
        return (prefix + text).rstrip()

    out = ["Pool", line("  -> ", _HEAD)]
    current: str | None = None
    for row, values in zip(rows, cells, strict=True):
        if row.pool != current:
            current = row.pool
            out.append(f"pool {row.pool}")
        out.append(line("  -> ", values))
    return "\n".join(out) + "\n"


def format_tls(counters: Mapping[str, Mapping[str, Any]]) -> str:
    """``show tls``: per VIP, handshakes full and resumed (by kind) and failures
    (by reason), summed over the workers."""
    if not counters:
        return "no TLS VIP\n"
    lines = []
    for vip, c in counters.items():
        full = int(c.get("full", 0))
        resumed = dict(c.get("resumed", {}))
        total = full + sum(resumed.values())
        ratio = f"{100 * sum(resumed.values()) / total:.1f} %" if total else "-"
        lines.append(f"vip {vip}: {full} full, {sum(resumed.values())} resumed ({ratio})")
        for kind, n in sorted(resumed.items()):
            lines.append(f"  resumed {kind}: {n}")
        for reason, n in sorted(dict(c.get("failures", {})).items()):
            lines.append(f"  failed {reason}: {n}")
    return "\n".join(lines) + "\n"


def merge_tls(snapshots: Sequence[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Sum per-worker TLS counter snapshots (``TlsCounters.snapshot``) per VIP."""
    out: dict[str, dict[str, Any]] = {}
    for snap in snapshots:
        for vip, c in snap.items():
            acc = out.setdefault(vip, {"full": 0, "resumed": {}, "failures": {}})
            acc["full"] += int(c.get("full", 0))
            for key in ("resumed", "failures"):
                for name, n in dict(c.get(key, {})).items():
                    acc[key][name] = acc[key].get(name, 0) + int(n)
    return out
