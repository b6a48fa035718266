"""``[metrics]``: whether workers count per request, and how often they report.

``parse_metrics_table`` returns ``(path, message, hint)`` issues for ``l7lb.config.load`` to
merge with its own, like ``parse_admin_table``. The numbers are served by the admin HTTP
listener (``GET /metrics`` and the stats page), so they are only seen with ``[admin] listen``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from l7lb.config.durations import parse_durations

Issue = tuple[str, str, str]  # (key path, what is wrong, how to fix it)

KEYS = ("enabled", "interval")


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    enabled: bool = True  # workers count every request (off: /metrics has no traffic)
    interval: float = 1.0  # seconds between a worker's reports to the supervisor


def parse_metrics_table(table: Any, where: str = "metrics") -> tuple[MetricsSettings, list[Issue]]:
    """Build ``MetricsSettings`` from ``[metrics]`` (``None``: the table is absent); on any
    problem the defaults are returned with the issues."""
    base = MetricsSettings()
    if table is None:
        return base, []
    if not isinstance(table, dict):
        return base, [(where, "must be a table", "write [metrics] with enabled = true")]
    issues: list[Issue] = []
    for key in table:
        if key not in KEYS:
            issues.append(
                (f"{where}.{key}", "unknown key", "keys allowed here: " + ", ".join(KEYS))
            )
    enabled = table.get("enabled", base.enabled)
    if not isinstance(enabled, bool):
        issues.append((f"{where}.enabled", "expected true or false", "enabled = true"))
        enabled = base.enabled
    seconds = parse_durations(table, {"interval": (0.1, 60.0, "1s")}, where, issues)
    return MetricsSettings(enabled, seconds.get("interval", base.interval)), issues
