"""tools/fuzz.py itself: it lists its targets, runs for the time asked, reports what it ran and
keeps one input per kind of finding. Run as a subprocess (it sets L7LB_PURE for itself)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
FUZZ = ROOT / "tools" / "fuzz.py"


def fuzz(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(FUZZ), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_lists_every_target() -> None:
    out = fuzz("--list")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        "request",
        "response",
        "chunked",
        "clienthello",
        "cookie",
        "jsessionid",
    ]


def test_unknown_target_is_refused() -> None:
    out = fuzz("nope", "--engine", "hypothesis")
    assert out.returncode == 2 and "unknown target 'nope'" in out.stderr


@pytest.mark.parametrize(
    "engine",
    [
        "hypothesis",
        pytest.param(
            "atheris",
            marks=pytest.mark.skipif(
                importlib.util.find_spec("atheris") is None, reason="atheris is not installed"
            ),
        ),
    ],
)
def test_runs_for_the_time_asked_and_reports(engine: str, tmp_path: Path) -> None:
    out = fuzz("jsessionid", "--engine", engine, "--minutes", "0.03", "--workdir", str(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    stats = json.loads((tmp_path / "jsessionid" / "stats.json").read_text())
    assert stats["target"] == "jsessionid"
    assert stats["executions"] > 10
    assert stats["findings_total"] == 0
    assert stats["seconds"] < 60
