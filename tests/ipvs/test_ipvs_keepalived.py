"""keepalived's own configuration check (``keepalived -t``) accepts every
keepalived.conf l7lb ipvs writes: for every shipped policy with an [ipvs]
section, on each host it names, and for every valid scheduler x method x bundle.
keepalived -t exits non-zero on errors and on warnings, so a keyword it would
ignore, or a port it would clear, fails here too. IPVS is not in this kernel:
the file is checked, never run."""

from __future__ import annotations

from pathlib import Path

import pytest
from ipvs_helpers import ipvs_policies, keepalived_check, matrix

from l7lb.config.load import load_config
from l7lb.config.model import Config
from l7lb.ipvs.keepalived import render_keepalived
from l7lb.ipvs.plan import plan


def _nodes(cfg: Config) -> list[str]:
    vrrp = cfg.ipvs.vrrp
    named = [name for name, _ in vrrp.nodes] if vrrp is not None else []
    return [*named, "some-other-host"]  # a host not named reads the plain priority


def test_the_shipped_policies_include_the_lvs_dr_set_up() -> None:
    names = [path.name for path in ipvs_policies()]
    assert "lvs-dr.toml" in names
    assert len(names) >= 3


@pytest.mark.parametrize("path", ipvs_policies(), ids=lambda p: p.name)
def test_keepalived_accepts_the_policy(path: Path, tmp_path: Path) -> None:
    cfg = load_config(str(path))
    text = render_keepalived(plan(cfg, str(path)))
    for node in _nodes(cfg):
        status, said = keepalived_check(text, tmp_path, node)
        assert (status, said) == (0, ""), f"{path.name} as host {node}:\n{said}"


@pytest.mark.parametrize(("name", "cfg"), matrix(), ids=[name for name, _ in matrix()])
def test_keepalived_accepts_every_combination(name: str, cfg: Config, tmp_path: Path) -> None:
    status, said = keepalived_check(render_keepalived(plan(cfg, name)), tmp_path, "lvs1")
    assert (status, said) == (0, ""), said


def test_the_check_catches_a_broken_file(tmp_path: Path) -> None:
    """The check above can fail: keepalived refuses what it would ignore or change."""
    name, cfg = matrix()[0]
    text = render_keepalived(plan(cfg, name))
    for wrong in (
        text.replace("lvs_sched rr", "lvs_sched rrr"),
        text.replace("connect_port 8081", "connect_port 80810"),
        text.replace("advert_int 1", "advert_int 0.5"),
        text[: text.rindex("}")],
    ):
        assert wrong != text
        status, said = keepalived_check(wrong, tmp_path)
        assert status != 0 and said
