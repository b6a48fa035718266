"""[vip.limits] and the request body keys of [timeouts]: values, defaults, and errors that
name the key path and the fix."""

from __future__ import annotations

import textwrap

import pytest

from l7lb.config.limits import RateError, parse_byte_rate
from l7lb.config.load import ConfigError, ConfigIssue, parse_config
from l7lb.config.model import Timeouts, VipLimits
from l7lb.config.summary import summarize

POOL = """
[pool.web]
  [[pool.web.server]]
  address = "10.0.0.1:80"
"""


def config(limits: str = "", timeouts: str = "") -> str:
    return (
        textwrap.dedent(
            f"""
        [timeouts]
        {timeouts}

        [[vip]]
        name = "www"
        listen = ["127.0.0.1:8080"]
        {limits}
          [[vip.route]]
          pool = "web"
        """
        )
        + POOL
    )


def issues(text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.errors


def one(text: str) -> ConfigIssue:
    found = issues(text)
    assert len(found) == 1, found
    return found[0]


# ---- request bodies --------------------------------------------------------------------------


def test_body_defaults() -> None:
    t = parse_config(config()).timeouts
    assert (t.body_min_rate, t.body_rate_window, t.body_deadline) == (1024, 10.0, 0.0)
    assert t == Timeouts()


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("0", 0),
        ("2048", 2048),
        ('"1KiB/s"', 1024),
        ('"512B/s"', 512),
        ('"1.5KiB/s"', 1536),
        ('"2MiB/s"', 2 * 1024 * 1024),
        ('"1 KiB/s"', 1024),
    ],
)
def test_body_min_rate_values(text: str, rate: int) -> None:
    t = parse_config(config(timeouts=f"body_min_rate = {text}")).timeouts
    assert t.body_min_rate == rate


def test_body_window_and_deadline() -> None:
    t = parse_config(config(timeouts='body_rate_window = "2s"\nbody_deadline = "5m"')).timeouts
    assert (t.body_rate_window, t.body_deadline) == (2.0, 300.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"1KB/s"', '"1KB/s" is not a rate'),
        ('"1024"', '"1024" has no unit'),
        ("-1", "-1 is negative"),
        ("true", "got a boolean"),
        ("1.5", "got float"),
        ('"2048MiB/s"', "more than"),
    ],
)
def test_body_min_rate_errors(text: str, message: str) -> None:
    issue = one(config(timeouts=f"body_min_rate = {text}"))
    assert issue.path == "timeouts body_min_rate"
    assert message in issue.message
    assert "KiB/s" in issue.hint


def test_body_rate_window_must_be_positive() -> None:
    issue = one(config(timeouts="body_rate_window = 0"))
    assert issue.path == "timeouts body_rate_window"


def test_parse_byte_rate_refuses_other_types() -> None:
    with pytest.raises(RateError):
        parse_byte_rate([1024])


# ---- [vip.limits] ------------------------------------------------------------------------


def test_no_limits_by_default() -> None:
    assert parse_config(config()).vips[0].limits is None


def test_limits_values_and_defaults() -> None:
    cfg = parse_config(config("limits = { max_conn_per_source = 50, rate_per_source = 20 }"))
    limits = cfg.vips[0].limits
    assert limits == VipLimits(max_conn_per_source=50, rate_per_source=20.0)
    assert (limits.rate_window, limits.mask, limits.mask6, limits.max_sources) == (
        10.0,
        32,
        64,
        100_000,
    )
    assert limits.window_limit == 200.0


def test_limits_as_a_table() -> None:
    cfg = parse_config(
        config(
            '[vip.limits]\nrate_per_source = 0.5\nrate_window = "1m"\nmask = 24\nmask6 = 48\n'
            "max_sources = 1000"
        )
    )
    assert cfg.vips[0].limits == VipLimits(0, 0.5, 60.0, 24, 48, 1000)


@pytest.mark.parametrize(
    ("limits", "path", "message", "hint"),
    [
        ("limits = {}", 'vip "www" limits', "sets no limit", "max_conn_per_source"),
        ("limits = 5", 'vip "www" limits', "must be a table", "[vip.limits]"),
        (
            "limits = { rate_per_sorce = 5 }",
            'vip "www" limits rate_per_sorce',
            "unknown key",
            "rate_per_source",
        ),
        (
            'limits = { rate_per_source = "20/s" }',
            'vip "www" limits rate_per_source',
            "expected a number",
            "e.g. 20",
        ),
        (
            "limits = { rate_per_source = -1 }",
            'vip "www" limits rate_per_source',
            "out of range",
            "0 to",
        ),
        (
            'limits = { rate_per_source = 0.05, rate_window = "10s" }',
            'vip "www" limits rate_per_source',
            "less than one request",
            "at least 1",
        ),
        (
            'limits = { rate_per_source = 5, rate_window = "2h" }',
            'vip "www" limits rate_window',
            "out of range",
            "100ms to 1h",
        ),
        (
            'limits = { rate_per_source = 5, rate_window = "soon" }',
            'vip "www" limits rate_window',
            "not a duration",
            "",
        ),
        (
            "limits = { max_conn_per_source = 1.5 }",
            'vip "www" limits max_conn_per_source',
            "expected an integer",
            "",
        ),
        (
            "limits = { max_conn_per_source = 5, mask = 33 }",
            'vip "www" limits mask',
            "out of range",
            "0 to 32",
        ),
        (
            "limits = { max_conn_per_source = 5, max_sources = 0 }",
            'vip "www" limits max_sources',
            "out of range",
            "",
        ),
    ],
)
def test_limits_errors(limits: str, path: str, message: str, hint: str) -> None:
    issue = one(config(limits))
    assert issue.path == path
    assert message in issue.message
    assert hint in issue.hint


def test_a_limit_key_at_the_vip_level_says_where_it_belongs() -> None:
    issue = one(config("rate_per_source = 20"))
    assert issue.path == 'vip "www" rate_per_source'
    assert "[vip.limits]" in issue.hint


def test_summary_shows_limits_and_body_rules() -> None:
    text = summarize(
        parse_config(
            config(
                "limits = { max_conn_per_source = 50, rate_per_source = 20 }",
                'body_min_rate = "2KiB/s"\nbody_deadline = "1m"',
            )
        )
    )
    assert "request bodies: at least 2048 bytes/s over every 10s window; whole within 1m" in text
    assert "per client address: 50 connections, 20 requests/s over 10s" in text
