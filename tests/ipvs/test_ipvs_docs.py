"""docs/lvs.md shows what `l7lb ipvs` really prints: every block that starts
with a `$ l7lb ipvs ...` line must equal that command's output, and the page
shows each shipped policy with an [ipvs] section.

To refresh the page after a deliberate change to the output:
L7LB_UPDATE_GOLDEN=1 pytest tests/ipvs/test_ipvs_docs.py, then read the diff."""

from __future__ import annotations

import os
import re
import shlex

import pytest
from ipvs_helpers import ROOT, ipvs_policies

from l7lb.config.ipvs import IPVS_KEYS, LOCAL_VIP_KEYS, VRRP_KEYS
from l7lb.config.load import parse_config
from l7lb.ipvs.command import ipvs_main

PAGE = ROOT / "docs" / "lvs.md"
BLOCK = re.compile(r"```\n(\$ l7lb ipvs [^\n]*)\n(.*?)```", re.S)


def _output(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    argv = shlex.split(command)[1:]
    assert argv[:2] == ["l7lb", "ipvs"]
    assert ipvs_main(argv[2:]) == 0, command
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_the_generated_blocks_are_what_the_command_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    text = PAGE.read_text()
    blocks = BLOCK.findall(text)
    assert len(blocks) >= 5
    if os.environ.get("L7LB_UPDATE_GOLDEN"):
        text = BLOCK.sub(lambda m: f"```\n{m[1]}\n{_output(m[1], capsys)}```", text)
        PAGE.write_text(text)
        blocks = BLOCK.findall(text)
    for command, shown in blocks:
        assert shown == _output(command, capsys), command


def test_the_page_shows_every_lvs_policy() -> None:
    commands = [command for command, _ in BLOCK.findall(PAGE.read_text())]
    for path in ipvs_policies():
        assert f"$ l7lb ipvs -c policies/{path.name}" in commands, path.name


def test_the_readme_links_the_page() -> None:
    assert "(docs/lvs.md)" in (ROOT / "README.md").read_text()


def _reference() -> str:
    text = (ROOT / "docs" / "configuration.md").read_text()
    return text[text.index("## 20. `[ipvs]`") :]


def test_the_reference_documents_every_key() -> None:
    section = _reference()
    tables = {"vrrp": "`[ipvs.vrrp]`", "local_vip": "`[[ipvs.local_vip]]`"}
    for key in (*IPVS_KEYS, *VRRP_KEYS, *LOCAL_VIP_KEYS):
        assert tables.get(key, f"`{key}`") in section, key


def test_the_reference_examples_load() -> None:
    blocks = [b.split("```", 1)[0] for b in _reference().split("```toml\n")[1:]]
    (first,) = [b for b in blocks if b.startswith("[ipvs]\n")]
    vips = '[[vip]]\nname = "www"\nlisten = ["192.0.2.80:80", "192.0.2.80:443"]\n'
    vips += '[[vip.route]]\npool = "www"\n[pool.www]\n[[pool.www.server]]\n'
    vips += 'address = "192.0.2.60:80"\n'
    ipvs = parse_config(vips + first).ipvs
    assert ipvs.directors == ("10.0.0.11", "10.0.0.12") and ipvs.vrrp.nodes
    (local,) = [b for b in blocks if b.startswith("[[ipvs.local_vip]]")]
    assert parse_config(vips + "[ipvs]\n" + local).ipvs.local_vips[0].pool == "www"
