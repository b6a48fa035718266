"""``[vip.limits]`` and the body-rate key of ``[timeouts]``: limits against single clients.

``parse_limits_table`` returns ``(path, message, hint)`` issues for ``l7lb.config.load`` to
merge with its own, like ``parse_admin_table``; ``parse_byte_rate`` reads a rate in bytes per
second (``body_min_rate``). docs/configuration.md describes every key.
"""

from __future__ import annotations

import math
import re
from typing import Any

from l7lb.config.durations import DurationError, parse_duration
from l7lb.config.model import VipLimits

Issue = tuple[str, str, str]  # (key path, what is wrong, how to fix it)

KEYS = (
    "max_conn_per_source",
    "rate_per_source",
    "rate_window",
    "mask",
    "mask6",
    "max_sources",
)
MAX_BYTE_RATE = 1 << 30  # 1 GiB/s: a minimum above any link is a typo
_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 * 1024}
_RATE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KiB|MiB)/s")
RATE_HINT = 'write bytes per second (1024) or a string like "1KiB/s", "512B/s", "1MiB/s"'
LIMITS_HINT = "e.g. [vip.limits] with rate_per_source = 20 and max_conn_per_source = 50"


class RateError(ValueError):
    """The value is not a rate in bytes per second."""


def parse_byte_rate(value: object) -> int:
    """Bytes per second from an integer or ``"<number>B/s"``, ``"KiB/s"``, ``"MiB/s"``;
    RateError saying what is wrong otherwise. 0 is allowed (no minimum)."""
    if isinstance(value, bool):
        raise RateError(f"expected a rate, got a boolean ({str(value).lower()})")
    if isinstance(value, int):
        rate = value
    elif isinstance(value, str):
        found = _RATE.fullmatch(value.strip())
        if found is None:
            if value.strip().isdigit():
                raise RateError(f'"{value}" has no unit')
            raise RateError(f'"{value}" is not a rate')
        rate = math.floor(float(found.group(1)) * _UNITS[found.group(2)])
    else:
        raise RateError(f"expected a rate, got {type(value).__name__}")
    if rate < 0:
        raise RateError(f"{rate} is negative")
    if rate > MAX_BYTE_RATE:
        raise RateError(f"{rate} bytes/s is more than {MAX_BYTE_RATE} (1 GiB/s)")
    return rate


def _at(where: str, key: str) -> str:
    return f"{where} {key}"


def _integer(
    table: dict[str, Any],
    key: str,
    default: int,
    low: int,
    high: int,
    where: str,
    issues: list[Issue],
) -> int:
    if key not in table:
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int):
        issues.append((_at(where, key), "expected an integer", f"e.g. {key} = {default or 50}"))
        return default
    if not low <= value <= high:
        issues.append((_at(where, key), f"{value} is out of range", f"use {low} to {high}"))
        return default
    return value


def parse_limits_table(table: object, where: str) -> tuple[VipLimits | None, list[Issue]]:
    """Build ``VipLimits`` from a ``[vip.limits]`` table; ``where`` is the VIP's key path
    plus ``limits``. None (with the issues) when it sets no limit or is not a table."""
    if not isinstance(table, dict):
        return None, [(where, "must be a table", LIMITS_HINT)]
    issues: list[Issue] = []
    for key in table:
        if key not in KEYS:
            issues.append((_at(where, key), "unknown key", "keys allowed here: " + ", ".join(KEYS)))
    base = VipLimits()
    max_conn = _integer(table, "max_conn_per_source", 0, 0, 1_000_000, where, issues)
    mask = _integer(table, "mask", base.mask, 0, 32, where, issues)
    mask6 = _integer(table, "mask6", base.mask6, 0, 128, where, issues)
    max_sources = _integer(table, "max_sources", base.max_sources, 1, 10_000_000, where, issues)

    rate = 0.0
    if "rate_per_source" in table:
        value = table["rate_per_source"]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            issues.append(
                (
                    _at(where, "rate_per_source"),
                    "expected a number of requests per second",
                    "e.g. 20",
                )
            )
        elif not 0 <= value <= 1_000_000:
            issues.append(
                (_at(where, "rate_per_source"), f"{value} is out of range", "use 0 to 1000000")
            )
        else:
            rate = float(value)

    window = base.rate_window
    if "rate_window" in table:
        try:
            seconds = parse_duration(table["rate_window"])
        except DurationError as exc:
            issues.append((_at(where, "rate_window"), exc.message, exc.hint))
        else:
            if not 0.1 <= seconds <= 3600:
                issues.append(
                    (_at(where, "rate_window"), f"{seconds:g}s is out of range", "use 100ms to 1h")
                )
            else:
                window = seconds

    if rate and rate * window < 1:
        issues.append(
            (
                _at(where, "rate_per_source"),
                f"{rate:g} requests/s over a {window:g}s rate_window allows less than one request",
                "raise rate_per_source or rate_window so their product is at least 1",
            )
        )
    if not issues and not max_conn and not rate:
        issues.append(
            (where, "sets no limit", "set max_conn_per_source or rate_per_source, or remove it")
        )
    if issues:
        return None, issues
    return VipLimits(max_conn, rate, window, mask, mask6, max_sources), []
