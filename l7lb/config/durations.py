"""Durations in configuration: a number of seconds, or text such as ``"500ms"``.

Units are ``ms``, ``s``, ``m`` and ``h``; parts add up (``"1m30s"`` is 90 s).
Every duration becomes a float number of seconds here, once, so nothing on the
request path parses text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal

# How many seconds one of each unit is. Milliseconds divide (not multiply by
# 0.001) so "500ms" is exactly 0.5 and formatting round-trips.
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|h|m|s))+")

DURATION_HINT = 'write a number of seconds (2, 0.5) or a string like "500ms", "2s", "5m", "1h"'


class DurationError(ValueError):
    """The value is not a duration; ``hint`` says how to write one."""

    def __init__(self, message: str, hint: str = DURATION_HINT) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def parse_duration(value: object) -> float:
    """Return ``value`` in seconds; raise DurationError if it is not a duration.

    Accepts an int or float (seconds) or a string of ``<number><unit>`` parts.
    Negative, infinite and NaN values are refused; zero is allowed (callers
    that need a positive duration check that themselves).
    """
    if isinstance(value, bool):
        # TOML booleans are Python ints: `timeout = true` must not mean 1 s.
        raise DurationError(f"expected a duration, got a boolean ({str(value).lower()})")
    if isinstance(value, int | float):
        seconds = float(value)
        if math.isnan(seconds) or math.isinf(seconds):
            raise DurationError(f"{value} is not a finite duration")
        if seconds < 0:
            raise DurationError(f"{value} is negative")
        return seconds
    if not isinstance(value, str):
        raise DurationError(f"expected a duration, got {type(value).__name__}")
    text = value.strip().lower()
    if not text:
        raise DurationError('"" is not a duration')
    if _WHOLE.fullmatch(text) is None:
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            hint = f'a string needs a unit: write "{text}s", or the number {text} without quotes'
            raise DurationError(f'"{value}" has no unit', hint)
        raise DurationError(f'"{value}" is not a duration')
    total = 0.0
    for number, unit in _PART.findall(text):
        if unit == "ms":
            total += float(number) / 1000
        else:
            total += float(number) * _UNIT_SECONDS[unit]
    return total


def format_duration(seconds: float) -> str:
    """The shortest unit string that ``parse_duration`` turns back into ``seconds``."""
    if seconds < 0 or math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"not a duration: {seconds!r}")
    if seconds == 0:
        return "0s"
    for unit in ("h", "m"):
        count = seconds / _UNIT_SECONDS[unit]
        if count == int(count) and count * _UNIT_SECONDS[unit] == seconds:
            return f"{int(count)}{unit}"
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    millis = round(seconds * 1000)
    if millis / 1000 == seconds:
        return f"{millis}ms"
    # repr is the shortest text that reads back as the same float; Decimal
    # spells it without an exponent, which the unit grammar has no room for.
    return f"{format(Decimal(repr(seconds)), 'f')}s"


def parse_durations(
    table: Mapping[str, object],
    limits: Mapping[str, tuple[float, float, str]],
    where: str,
    issues: list[tuple[str, str, str]],
) -> dict[str, float]:
    """The keys of ``limits`` present in ``table``, in seconds, each checked
    against its (low, high, example) range; problems are appended to ``issues``
    as (key path, message, hint) and the key is left out."""
    out: dict[str, float] = {}
    for key, (low, high, example) in limits.items():
        if key not in table:
            continue
        try:
            seconds = parse_duration(table[key])
        except DurationError as exc:
            issues.append((f"{where}.{key}", exc.message, exc.hint))
            continue
        if not low <= seconds <= high:
            issues.append(
                (
                    f"{where}.{key}",
                    f"{seconds:g}s is out of range",
                    f"use {low:g}s to {high:g}s, e.g. {key} = {example!r}",
                )
            )
        else:
            out[key] = seconds
    return out
