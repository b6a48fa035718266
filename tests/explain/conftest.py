"""Fixtures for ``l7lb explain``: the shipped policies, inline configurations, the command."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from explain_helpers import POLICIES, Result

from l7lb.explain.command import explain_main


@pytest.fixture
def policy(tmp_path: Path) -> Callable[..., Path]:
    """policy("path-split.toml", {"old": "new"}) -> a copy in tmp_path, edited."""

    def make(name: str, replace: dict[str, str] | None = None) -> Path:
        text = (POLICIES / name).read_text()
        for old, new in (replace or {}).items():
            assert old in text, f"{old!r} is not in {name}"
            text = text.replace(old, new)
        out = tmp_path / name
        out.write_text(text)
        return out

    return make


@pytest.fixture
def inline(tmp_path: Path) -> Callable[[str], Path]:
    """inline(toml) -> a configuration file in tmp_path."""
    counter = [0]

    def make(text: str) -> Path:
        counter[0] += 1
        out = tmp_path / f"inline{counter[0]}.toml"
        out.write_text(text)
        return out

    return make


@pytest.fixture
def run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """run(*args, stdin=b"...") -> Result: ``l7lb explain`` in this process."""

    def call(*args: str, stdin: bytes | None = None) -> Result:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        rc = explain_main(list(args))
        captured = capsys.readouterr()
        return Result(rc, captured.out, captured.err)

    return call
