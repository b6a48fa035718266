from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from procs import Backend, start_backend


@pytest.fixture
def backends() -> Iterator[list[Backend]]:
    bs = [start_backend(f"b{i}") for i in (1, 2, 3)]
    yield bs
    for b in bs:
        b.stop()
