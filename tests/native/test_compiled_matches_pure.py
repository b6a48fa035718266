"""The compiled hot path and its pure-Python source agree on thousands of damaged inputs.

mypyc compiles the same source, but its semantics differ at the edges (declared types are
checked at run time, attribute reads follow mypy's narrowing); a differential run is the check
that they do not differ on what clients and servers can send.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from l7lb import native

ROOT = Path(native.__file__).resolve().parent.parent
TRACE = Path(__file__).with_name("trace_hot_path.py")
BUILT = native.check(str(ROOT), {}) == "compiled"  # the build, whatever L7LB_PURE says here


def _trace(pure: bool, seed: int, count: int) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "L7LB_PURE"}
    env["PYTHONHASHSEED"] = "0"  # one order for sets (RequestHead.dropped) in both runs
    if pure:
        env["L7LB_PURE"] = "1"
    run = subprocess.run(
        [sys.executable, str(TRACE), str(seed), str(count)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout.splitlines()


@pytest.mark.skipif(not BUILT, reason="no compiled build to compare (tools/build_native.py)")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_compiled_and_pure_trace_the_same(seed: int) -> None:
    compiled = _trace(False, seed, 1500)
    pure = _trace(True, seed, 1500)
    assert compiled[0].startswith("hot path compiled with mypyc"), compiled[0]
    assert pure[0] == "hot path runs as pure Python: L7LB_PURE is set"
    assert len(compiled) == len(pure) == 1501
    for i, (c, p) in enumerate(zip(compiled[1:], pure[1:], strict=True)):
        assert c == p, f"input {i} (seed {seed}): compiled {c!r} != pure {p!r}"
    # the inputs reach every outcome: heads, bodies, upgrades and errors
    text = "\n".join(pure)
    for seen in ("RequestHead(", "ResponseHead(", "Data(", "END", "Upgrade(", "ProtocolError("):
        assert seen in text, seen
