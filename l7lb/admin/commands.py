"""Admin commands: one line in, a ``Command`` out; ``show servers`` as text.

Sans-IO, shared by the socket server (which answers) and the command line
tool (which refuses a malformed command before connecting)::

    show servers
    show tls
    show limits                   the busiest client addresses of VIPs with [vip.limits]
    set-weight POOL SERVER N      N from 0 to 256; 0 drains like weight 0 in LVS
    drain POOL SERVER             sticky clients only, no new ones
    drain POOL SERVER --deadline D    ... and from D on (10m, 1h30m) they move too
    maint POOL SERVER             no traffic at all
    ready POOL SERVER             back to normal
    reload                        reload the configuration file; answers the verdict
    stop                          stop as on SIGTERM (drain_grace, then drain)
    help
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from l7lb.balancing.pool_state import MAX_WEIGHT
from l7lb.balancing.server_state import ServerState
from l7lb.config.durations import DurationError, parse_duration
from l7lb.limits.board import LimitRow

MAX_LINE = 1024  # bytes, newline included: commands are short, input is hostile
STATE_VERBS = ("drain", "maint", "ready")
MAX_DEADLINE = 7 * 86400.0  # a drain deadline further away is a typo
HELP = """\
commands:
  show servers                 pools and servers: weight, state, connections, persistence
  show tls                     per TLS VIP: full and resumed handshakes, failures by reason
  show limits                  per VIP with [vip.limits]: the busiest client addresses
  set-weight POOL SERVER N     set a server's weight (0-256) on every worker
  drain POOL SERVER [--deadline 10m]
                               keep sticky clients (until the deadline), send no new ones
  maint POOL SERVER            send nothing (maintenance)
  ready POOL SERVER            back in rotation
  reload                       reload the configuration file (l7lb reload -c FILE)
  stop                         stop: drain_grace, then drain (l7lb stop -c FILE)
"""


class AdminError(Exception):
    """A command that cannot be carried out; answered as ``error: <message>``."""


class UnknownServer(AdminError):
    """The command names a pool or server the configuration does not have
    (the admin HTTP listener answers it with 404)."""


@dataclass(frozen=True, slots=True)
class Command:
    # "show-servers" | "show-tls" | "show-limits" | "set-weight" | "drain" | "maint" | "ready"
    # | "reload" | "stop" | "help"
    verb: str
    pool: str = ""
    server: str = ""
    weight: int = 0
    deadline: float = 0.0  # drain: seconds until stuck clients move too; 0 = never


@dataclass(frozen=True, slots=True)
class ReloadVerdict:
    """What the supervisor decided about one reload: accepted (the new generation
    serves) or rejected with its reasons (the running configuration keeps serving)."""

    accepted: bool
    generation: int
    config_path: str
    errors: tuple[str, ...] = field(default=())

    def text(self) -> str:
        """The admin socket's answer (and ``l7lb reload``'s output)."""
        if self.accepted:
            return f"reload accepted: {self.config_path} (generation {self.generation})\n"
        lines = [f"error: reload of {self.config_path} rejected; the running configuration"]
        lines[0] += f" (generation {self.generation}) keeps serving:"
        lines += [f"error:   {e}" for e in self.errors]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "generation": self.generation,
            "config": self.config_path,
            "errors": list(self.errors),
        }


def check_weight(value: object) -> int:
    """A weight as the admin takes it: an integer from 0 to MAX_WEIGHT (or its
    decimal text); AdminError otherwise."""
    number = int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else value
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= MAX_WEIGHT:
        raise AdminError(f"weight must be an integer from 0 to {MAX_WEIGHT}, not {value!r}")
    return number


def check_deadline(value: object) -> float:
    """A drain deadline as the admin gives it: a duration ("10m", "90s", or seconds),
    more than 0 and at most 7 days; AdminError otherwise."""
    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        raise AdminError(f"deadline: {exc.message} ({exc.hint})") from None
    if not 0 < seconds <= MAX_DEADLINE:
        raise AdminError(f"deadline must be more than 0s and at most 7 days, not {value!r}")
    return seconds


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
        if args == ["limits"]:
            return Command("show-limits")
        raise AdminError("usage: show servers | show tls | show limits")
    if verb == "set-weight":
        if len(args) != 3:
            raise AdminError("usage: set-weight POOL SERVER N")
        pool, server, text = args
        return Command("set-weight", pool, server, check_weight(text))
    if verb in ("reload", "stop"):
        if args:
            raise AdminError(f"usage: {verb} (no arguments)")
        return Command(verb)
    if verb == "drain" and len(args) == 4 and args[2] == "--deadline":
        return Command(verb, args[0], args[1], deadline=check_deadline(args[3]))
    if verb in STATE_VERBS:
        if len(args) != 2:
            extra = " [--deadline 10m]" if verb == "drain" else ""
            raise AdminError(f"usage: {verb} POOL SERVER{extra}")
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
    sticky: int = 0  # draining: sticky clients seen in the last minute (balancing.drain)
    left: float = -1.0  # draining with a deadline: seconds until it (0: passed); -1: none

    @classmethod
    def from_state(cls, pool: str, s: ServerState, entries: int, now: float) -> ServerRow:
        """A row for one worker's ``ServerState``; ``now`` on the loop's clock."""
        drain = s.drain
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
            sticky=drain.clients(now) if drain is not None else 0,
            left=-1.0 if drain is None or math.isinf(drain.until) else max(0.0, drain.until - now),
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


_HEAD = ("Server", "Address", "Weight", "State", "Active", "Requests", "Persist", "Sticky", "Left")


def format_left(seconds: float) -> str:
    """Time left to a drain deadline, whole seconds ("4m10s"); "-" without one."""
    if seconds < 0:
        return "-"
    whole = math.ceil(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


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
            str(r.sticky) if r.state == "drain" else "-",
            format_left(r.left) if r.state == "drain" else "-",
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


_LIMIT_HEAD = ("Source", "Conns", "Req/s", "InWindow", "Refused", "429s")


def format_limits(rows: Sequence[LimitRow]) -> str:
    """``show limits``: per VIP, the busiest client addresses (connections open on this
    director, requests per second over the rate window, the window's count the limit is
    compared with, connections refused and requests answered 429 since the start)."""
    if not rows:
        return "no client address counted (no VIP has [vip.limits], or no traffic yet)\n"
    cells = [
        (
            r.source,
            str(r.connections),
            f"{r.rate:.1f}",
            f"{r.requests:.0f}",
            str(r.refused),
            str(r.limited),
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(_LIMIT_HEAD)]

    def line(prefix: str, values: Sequence[str]) -> str:
        text = "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True))
        return (prefix + text).rstrip()

    out = [line("  -> ", _LIMIT_HEAD)]
    current: str | None = None
    for row, values in zip(rows, cells, strict=True):
        if row.vip != current:
            current = row.vip
            out.append(f"vip {row.vip}")
        out.append(line("  -> ", values))
    return "\n".join(out) + "\n"
