"""The ``demo`` fixture: start ``l7lb demo`` (``demoproc.Demo``); whatever a test leaves
running is killed when it ends."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from demoproc import Demo


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[type[Demo]]:
    started: list[Demo] = []

    class Started(Demo):
        def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
            super().__init__(tmp_path, *args, env=env)
            started.append(self)

    yield Started
    for d in started:
        d.kill_everything()
