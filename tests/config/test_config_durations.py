"""Duration parsing: numbers are seconds, strings carry units."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.config.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (2, 2.0),
        (0.25, 0.25),
        (0, 0.0),
        ("500ms", 0.5),
        ("2s", 2.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        ("1m30s", 90.0),
        ("1h1m1s1ms", 3661.001),
        (" 2S ", 2.0),
    ],
)
def test_parse(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2", '"2" has no unit'),
        ("", '"" is not a duration'),
        ("2 s", '"2 s" is not a duration'),
        ("2d", '"2d" is not a duration'),
        ("-2s", '"-2s" is not a duration'),
        ("s", '"s" is not a duration'),
        (-1, "-1 is negative"),
        (math.inf, "inf is not a finite duration"),
        (math.nan, "nan is not a finite duration"),
        (True, "expected a duration, got a boolean (true)"),
        ([1], "expected a duration, got list"),
    ],
)
def test_reject(value: object, message: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(value)
    assert info.value.message == message
    assert info.value.hint


def test_unitless_string_hint_offers_both_spellings() -> None:
    with pytest.raises(DurationError) as info:
        parse_duration("30")
    assert info.value.hint == 'a string needs a unit: write "30s", or the number 30 without quotes'


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.5, "500ms"),
        (2, "2s"),
        (90, "90s"),
        (300, "5m"),
        (7200, "2h"),
        (1.25, "1250ms"),
    ],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_format_round_trips_any_float(seconds: float) -> None:
    text = format_duration(seconds)
    assert "e" not in text
    assert parse_duration(text) == seconds


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**9))
def test_whole_milliseconds_round_trip(millis: int) -> None:
    seconds = millis / 1000
    assert parse_duration(f"{millis}ms") == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=999), st.sampled_from(["h", "m", "s"])),
        min_size=1,
        max_size=4,
    )
)
def test_parts_add_up(parts: list[tuple[int, str]]) -> None:
    unit = {"h": 3600, "m": 60, "s": 1}
    text = "".join(f"{count}{name}" for count, name in parts)
    assert parse_duration(text) == sum(count * unit[name] for count, name in parts)
