"""Replay of the fuzzer's committed inputs, in seconds (``tools/fuzz.py`` searches for new ones).

Every file under ``corpus/TARGET/`` (seeds and inputs that reached new code) and under
``regressions/TARGET/`` (inputs that once crashed l7lb or made its implementations disagree,
named for what they found) goes through the check of ``tools/fuzz_targets.py`` for TARGET,
which raises ``Finding`` on a crash or a disagreement. The suite runs this against the compiled
build and as pure Python, so a corpus found in pure Python also guards the compiled code.

A regression whose fix belongs to a file this suite may not change carries, next to its
``NAME.bin``, a ``NAME.xfail`` holding the reason: the test then expects the failure.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent.parent / "tools"))

import fuzz_targets  # noqa: E402

TARGETS = sorted(fuzz_targets.TARGETS)


def inputs(kind: str, target: str) -> list[Path]:
    return sorted(p for p in (HERE / kind / target).glob("*") if p.suffix != ".xfail")


@pytest.mark.parametrize("target", TARGETS)
def test_corpus_replays_clean(target: str) -> None:
    files = inputs("corpus", target)
    assert len(files) >= 2, f"no corpus for {target}"
    failures = []
    for path in files:
        try:
            fuzz_targets.TARGETS[target](path.read_bytes())
        except fuzz_targets.Finding as exc:
            failures.append(f"{path.name}: {exc}")
    assert not failures, "\n".join(failures)


REGRESSIONS = [(t, p) for t in TARGETS for p in inputs("regressions", t)]


@pytest.mark.parametrize(
    ("target", "path"), REGRESSIONS, ids=[f"{t}/{p.stem}" for t, p in REGRESSIONS]
)
def test_regression_stays_fixed(target: str, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xfail = path.with_suffix(".xfail")
    if xfail.exists():
        pytest.xfail(xfail.read_text().strip())
    # these inputs were fixed to get one status from both back ends, faults or not
    monkeypatch.setattr(fuzz_targets, "STATUS_MUST_AGREE", True)
    fuzz_targets.TARGETS[target](path.read_bytes())
