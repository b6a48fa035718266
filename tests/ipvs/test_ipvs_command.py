"""``l7lb ipvs`` on the command line: what it prints, and its exit status for
a file without [ipvs], an invalid file and a wrong option."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ipvs_helpers import POLICIES, POOLS, ROOT, VIPS

from l7lb.cli import USAGE, main
from l7lb.config.load import load_config
from l7lb.ipvs.command import ipvs_main
from l7lb.ipvs.ipvsadm import render_ipvsadm
from l7lb.ipvs.keepalived import render_keepalived
from l7lb.ipvs.plan import plan
from l7lb.ipvs.sysctl import render_sysctl

LVS_DR = str(POLICIES / "lvs-dr.toml")


def test_usage_lists_the_command() -> None:
    assert "  ipvs -c FILE [--format keepalived|ipvsadm] [--sysctl]\n" in USAGE


@pytest.mark.parametrize(
    ("options", "render"),
    [
        ([], render_keepalived),
        (["--format", "keepalived"], render_keepalived),
        (["--format", "ipvsadm"], render_ipvsadm),
        (["--sysctl"], render_sysctl),
        (["--format", "ipvsadm", "--sysctl"], render_sysctl),
    ],
)
def test_each_output(
    options: list[str], render: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ipvs", "-c", LVS_DR, *options]) == 0
    out, err = capsys.readouterr()
    assert callable(render)
    assert (out, err) == (render(plan(load_config(LVS_DR), LVS_DR)), "")


def test_a_file_without_ipvs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "l7lb.toml"
    path.write_text(VIPS + POOLS)
    assert ipvs_main(["-c", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"{path}: no [ipvs] section, nothing to write (hint: add [ipvs] with directors = "
        "[...]; see docs/lvs.md)\n"
    )


def test_an_invalid_file_prints_every_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "l7lb.toml"
    path.write_text(VIPS + POOLS + '[ipvs]\ndirectors = ["10.0.0.11:80"]\nmethod = "TUN"\n')
    assert ipvs_main(["-c", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f'{path}: ipvs directors 1: "10.0.0.11:80": a director takes no port (hint: write the '
        "address only (10.0.0.11): the port is the VIP's port)",
        f'{path}: ipvs method: unknown value "TUN" (hint: one of "DR", "NAT")',
        f"{path}: 2 errors",
    ]


def test_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ipvs_main(["-c", str(tmp_path / "nope.toml")]) == 2
    assert "cannot read the file" in capsys.readouterr().err


def test_a_wrong_format(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        ipvs_main(["-c", LVS_DR, "--format", "nft"])
    assert info.value.code == 2
    assert "invalid choice: 'nft'" in capsys.readouterr().err


def test_the_installed_command(tmp_path: Path) -> None:
    """The real entry point, as an operator runs it: output redirected to a file."""
    out = tmp_path / "keepalived.conf"
    with out.open("w") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "l7lb", "ipvs", "-c", "policies/lvs-dr.toml"],
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert (done.returncode, done.stderr) == (0, "")
    assert out.read_text() == (ROOT / "tests/ipvs/golden/lvs-dr.keepalived.conf").read_text()
