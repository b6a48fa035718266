"""The ipvsadm-restore lines l7lb ipvs writes go through ipvsadm's own parser,
and the kernel would be told exactly the plan.

IPVS is not in this kernel, so ipvsadm runs with fake_ipvs.c preloaded: a
stand-in for the kernel's IPVS socket options that records each command
instead of acting on it. What is real: ipvsadm-restore (it clears the rules and
drops comments), ipvsadm's argument parser and the structures it fills."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from ipvs_helpers import ipvs_policies, matrix, require

from l7lb.config.ipvs import IpvsMethod
from l7lb.config.load import load_config
from l7lb.config.model import Config
from l7lb.ipvs.ipvsadm import render_ipvsadm
from l7lb.ipvs.plan import Plan, plan

HERE = Path(__file__).resolve().parent
# <linux/ip_vs.h>: commands (offsets from IP_VS_BASE_CTL) and flags
SET_ADD, SET_FLUSH, SET_ADDDEST = 2, 5, 7
SVC_PERSISTENT, SVC_SCHED1 = 0x1, 0x8  # SCHED1 = sh-fallback / mh-fallback
CONN_MASQ, CONN_DROUTE = 0, 3


@pytest.fixture(scope="module")
def fake_ipvs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require("ipvsadm")
    require("ipvsadm-restore")
    cc = require("cc")
    library = tmp_path_factory.mktemp("fake_ipvs") / "fake_ipvs.so"
    subprocess.run(
        [cc, "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", str(library),
         str(HERE / "fake_ipvs.c"), "-ldl"],
        check=True,
        timeout=120,
    )  # fmt: skip
    return library


def restore(text: str, library: Path, tmp_path: Path) -> tuple[int, list[dict[str, str]]]:
    """Run ``ipvsadm-restore`` on ``text``: its exit status and the commands IPVS got."""
    log = tmp_path / "ipvs.log"
    log.unlink(missing_ok=True)
    env = dict(os.environ, LD_PRELOAD=str(library), FAKE_IPVS_LOG=str(log))
    done = subprocess.run(
        ["ipvsadm-restore"], input=text, env=env, capture_output=True, text=True, timeout=30
    )
    lines = log.read_text().splitlines() if log.exists() else []
    return done.returncode, [dict(f.split("=", 1) for f in line.split()) for line in lines]


def expected(p: Plan) -> list[dict[str, str]]:
    """What the kernel should be told for ``p``: flush, then each service and its
    real servers (a group as one service per member)."""
    out = [{"cmd": str(SET_FLUSH)}]
    for service in p.services:
        flags = (SVC_PERSISTENT if service.persistence_timeout else 0) | (
            SVC_SCHED1 if service.scheduler_flags else 0
        )
        keys = [("0.0.0.0", 0)] if service.fwmark else list(service.endpoints)
        for address, port in keys:
            key = {
                "protocol": "6",
                "addr": address,
                "port": str(port),
                "fwmark": str(service.fwmark),
            }
            out.append(
                {
                    "cmd": str(SET_ADD),
                    **key,
                    "sched": service.scheduler.value,
                    "flags": str(flags),
                    "timeout": str(service.persistence_timeout),
                }
            )
            for rs in service.real_servers:
                out.append(
                    {
                        "cmd": str(SET_ADDDEST),
                        **key,
                        "sched": "",
                        "flags": "0",
                        "timeout": "0",
                        "dest": rs.address,
                        "dport": str(rs.port or port),
                        "conn_flags": str(
                            CONN_DROUTE if service.method is IpvsMethod.DR else CONN_MASQ
                        ),
                        "weight": str(rs.weight),
                    }
                )
    return out


@pytest.mark.parametrize("path", ipvs_policies(), ids=lambda p: p.name)
def test_ipvsadm_takes_the_policy(path: Path, fake_ipvs: Path, tmp_path: Path) -> None:
    p = plan(load_config(str(path)), str(path))
    status, commands = restore(render_ipvsadm(p), fake_ipvs, tmp_path)
    assert status == 0
    assert commands == expected(p)


@pytest.mark.parametrize(("name", "cfg"), matrix(), ids=[name for name, _ in matrix()])
def test_ipvsadm_takes_every_combination(
    name: str, cfg: Config, fake_ipvs: Path, tmp_path: Path
) -> None:
    p = plan(cfg, name)
    status, commands = restore(render_ipvsadm(p), fake_ipvs, tmp_path)
    assert status == 0
    assert commands == expected(p)
    assert len(commands) > 1 + len(p.services)


def test_the_lvs_dr_policy_in_kernel_terms(fake_ipvs: Path, tmp_path: Path) -> None:
    """Spelt out once: one persistent fwmark service, two directors by direct routing."""
    path = Path(__file__).resolve().parents[2] / "policies" / "lvs-dr.toml"
    _, commands = restore(render_ipvsadm(plan(load_config(str(path)), "x")), fake_ipvs, tmp_path)
    assert [
        (c["cmd"], c["fwmark"], c.get("sched"), c["flags"], c["timeout"], c.get("dest"))
        for c in commands[1:]
    ] == [
        ("2", "1", "wlc", "1", "300", None),
        ("7", "1", "", "0", "0", "10.0.0.11"),
        ("7", "1", "", "0", "0", "10.0.0.12"),
    ]
    assert {c.get("conn_flags") for c in commands[2:]} == {"3"}


def test_ipvsadm_refuses_a_broken_rule(fake_ipvs: Path, tmp_path: Path) -> None:
    """The check can fail: ipvsadm's parser stops at a rule it cannot read."""
    status, commands = restore("-A -t 192.0.2.10:99999 -s wlc\n", fake_ipvs, tmp_path)
    assert status != 0
    assert commands == [{"cmd": str(SET_FLUSH)}]
