"""Whatever values a file holds, the loader answers a Config or a ConfigError, never a crash."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.config.load import ConfigError, parse_config
from l7lb.config.model import Config

POLICIES = Path(__file__).resolve().parents[2] / "policies"
SOURCES = [path.read_text() for path in sorted(POLICIES.glob("*.toml"))]
# `key = value` lines whose value fits on the line (not multi-line strings)
ASSIGNMENT = re.compile(r'^(\s*[A-Za-z_"\-]+\s*=\s*)(.+)$', re.MULTILINE)

VALUES = st.sampled_from(
    [
        '""',
        '"x"',
        "-1",
        "0",
        "257",
        "1.5",
        "nan",
        "true",
        "[]",
        "[1, 2]",
        '["a", 1]',
        "{}",
        "{ x = 1 }",
        '"10.0.0.1:0"',
        '"[::1]"',
        '"("',
        '"*"',
        '"0.0.0.0:8080"',
        "1979-05-27",
    ]
)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(range(len(SOURCES))),
    st.lists(st.tuples(st.integers(min_value=0), VALUES), min_size=1, max_size=4),
)
def test_mutated_policy_never_crashes(which: int, changes: list[tuple[int, str]]) -> None:
    text = SOURCES[which]
    for position, value in changes:
        lines = list(ASSIGNMENT.finditer(text))
        if not lines:
            break
        line = lines[position % len(lines)]
        if '"""' in line.group(2):
            continue
        text = text[: line.start(2)] + value + text[line.end(2) :]
    try:
        result = parse_config(text)
    except ConfigError as exc:
        assert exc.errors
        for issue in exc.errors:
            assert issue.message
    else:
        assert isinstance(result, Config)
