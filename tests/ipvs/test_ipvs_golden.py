"""Golden files: what `l7lb ipvs` prints, byte for byte, for every shipped
policy with an [ipvs] section and for tests/ipvs/golden/group-nat.toml, in each
format. A change to the output shows up here as a diff to review.

To accept a deliberate change: L7LB_UPDATE_GOLDEN=1 pytest tests/ipvs, then
read the diff of tests/ipvs/golden/ before committing it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from ipvs_helpers import GOLDEN, ROOT, ipvs_policies

from l7lb.ipvs.command import ipvs_main

INPUTS = [p.relative_to(ROOT) for p in [*ipvs_policies(), GOLDEN / "group-nat.toml"]]
OUTPUTS = {
    "keepalived.conf": [],
    "ipvsadm": ["--format", "ipvsadm"],
    "sysctl.sh": ["--sysctl"],
}


@pytest.mark.parametrize("suffix", OUTPUTS)
@pytest.mark.parametrize("source", INPUTS, ids=str)
def test_golden(
    source: Path,
    suffix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(ROOT)  # the output names the file as given: policies/...
    assert ipvs_main(["-c", str(source), *OUTPUTS[suffix]]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    golden = GOLDEN / f"{source.stem}.{suffix}"
    if os.environ.get("L7LB_UPDATE_GOLDEN"):
        golden.write_text(out)
    assert golden.exists(), f"no {golden.name}: run with L7LB_UPDATE_GOLDEN=1 once"
    assert out == golden.read_text()


def test_no_golden_file_is_left_over() -> None:
    known = {f"{s.stem}.{suffix}" for s in INPUTS for suffix in OUTPUTS} | {"group-nat.toml"}
    assert {p.name for p in GOLDEN.iterdir()} == known
