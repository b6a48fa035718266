from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from procs import Backend, start_backend, stop_leftovers


@pytest.fixture
def backends() -> Iterator[list[Backend]]:
    bs = [start_backend(f"b{i}") for i in (1, 2, 3)]
    yield bs
    for b in bs:
        b.stop()


@pytest.fixture(autouse=True, scope="session")
def _no_leftover_processes() -> Iterator[None]:
    """Whatever a failed set-up left running is killed when the session ends."""
    yield
    stop_leftovers()
