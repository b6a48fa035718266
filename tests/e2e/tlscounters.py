"""The proxy's own account of TLS handshakes (``l7lb admin show tls``), for tests that must
tell "the proxy refused to resume" from "the lookup never answered".

A client sees the same thing in both cases: a full handshake. The proxy's counters and log
say which it was: a refused resumption is one more ``full`` handshake on that VIP, no
handshake failure, and no store lookup that ran out of time (``lookups_answered``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field

_VIP = re.compile(r"^vip (\S+): (\d+) full, (\d+) resumed")
_FAILED = re.compile(r"^  failed (\S+): (\d+)")


@dataclass
class VipHandshakes:
    full: int = 0
    resumed: int = 0
    failures: dict[str, int] = field(default_factory=dict)


def show_tls(admin_socket: str) -> dict[str, VipHandshakes]:
    """``l7lb admin -s SOCKET show tls``, parsed: per VIP, summed over the workers."""
    r = subprocess.run(
        [sys.executable, "-m", "l7lb", "admin", "-s", admin_socket, "show", "tls"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr + r.stdout
    out: dict[str, VipHandshakes] = {}
    current: VipHandshakes | None = None
    for line in r.stdout.splitlines():
        if m := _VIP.match(line):
            current = out[m.group(1)] = VipHandshakes(int(m.group(2)), int(m.group(3)))
        elif (m := _FAILED.match(line)) and current is not None:
            current.failures[m.group(1)] = int(m.group(2))
    return out


# What a worker logs when a session lookup got no answer in time (or none at all): the
# shared store opens an outage ("store ... unreachable: no answer within ..."), the
# supervisor's session server times out at debug level (the tests that look for it set
# [log] level = "debug").
LOOKUP_UNANSWERED = ("unreachable", "prefetch timed out", "prefetch failed")


def lookups_answered(error_log: str) -> bool:
    """True when no session lookup of this proxy ran out of time or failed."""
    return not any(text in error_log for text in LOOKUP_UNANSWERED)


def refused(
    before: dict[str, VipHandshakes], after: dict[str, VipHandshakes], vip: str, error_log: str
) -> str | None:
    """Why the handshakes on ``vip`` between the two snapshots were not one refused
    resumption (one more full handshake, nothing resumed, nothing failed, every lookup
    answered); None when they were."""
    b, a = before.get(vip, VipHandshakes()), after.get(vip, VipHandshakes())
    if (a.full - b.full, a.resumed - b.resumed) != (1, 0):
        return f"vip {vip}: {a.full - b.full} full, {a.resumed - b.resumed} resumed (want 1, 0)"
    if a.failures != b.failures:
        return f"vip {vip}: handshake failures {b.failures} -> {a.failures}"
    if not lookups_answered(error_log):
        lines = [ln for ln in error_log.splitlines() if any(t in ln for t in LOOKUP_UNANSWERED)]
        return "a session lookup was not answered, so nothing was refused:\n" + "\n".join(lines)
    return None
