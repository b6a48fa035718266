"""The host script of ``l7lb ipvs --sysctl``: valid sh, one part per role, the
commands each part runs, and sysctl keys this kernel knows.

The commands it would run (sysctl, ip, iptables, modprobe) change the host,
so the script runs here against stand-ins on PATH that record their
arguments; the shell, the case dispatch and the idempotent iptables idiom are
real."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from ipvs_helpers import POOLS, VIPS, config, ipvs_policies, matrix, require

from l7lb.config.load import load_config
from l7lb.config.model import Config
from l7lb.ipvs.plan import plan
from l7lb.ipvs.sysctl import render_sysctl

FRONT = '[ipvs]\ndirectors = ["10.0.0.11", "10.0.0.12"]\nhealth_port = 8081\n'
STAND_IN = """#!/bin/sh
echo "$(basename "$0") $*" >> "$RECORD"
# iptables -C: the rule is not there yet, so the script adds it
[ "$(basename "$0")" = iptables ] && [ "$3" = -C ] && exit 1
exit 0
"""


def run(script: str, role: str, tmp_path: Path) -> tuple[int, list[str], str]:
    """Run ``script`` for ``role``: exit status, the commands it ran, stderr."""
    sh = require("sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("sysctl", "ip", "iptables", "modprobe"):
        (bin_dir / name).write_text(STAND_IN)
        (bin_dir / name).chmod(0o755)
    record = tmp_path / f"{role}.log"
    record.unlink(missing_ok=True)
    path = tmp_path / "lvs-hosts.sh"
    path.write_text(script)
    done = subprocess.run(
        [sh, str(path), role],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "RECORD": str(record)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    ran = record.read_text().splitlines() if record.exists() else []
    return done.returncode, ran, done.stderr


def script_for(cfg: Config) -> str:
    return render_sysctl(plan(cfg, "f.toml"))


def test_lvs_dr_directors_and_ipvs_director(tmp_path: Path) -> None:
    text = FRONT + 'bundle = "fwmark"\npersistence_timeout = 300\n'
    script = script_for(config(text))
    assert run(script, "director", tmp_path) == (
        0,
        [
            "sysctl -w net.ipv4.ip_nonlocal_bind=1",
            "sysctl -w net.ipv4.conf.all.arp_ignore=1",
            "sysctl -w net.ipv4.conf.all.arp_announce=2",
            "ip addr replace 192.0.2.10/32 dev lo",
            "ip addr replace 192.0.2.11/32 dev lo",
        ],
        "",
    )
    mark = "PREROUTING -d {} -p tcp -m multiport --dports {} -j MARK --set-mark {}"
    assert run(script, "ipvs", tmp_path) == (
        0,
        [
            "modprobe ip_vs",
            "sysctl -w net.ipv4.vs.expire_quiescent_template=1",
            "iptables -t mangle -C " + mark.format("192.0.2.10/32", "80,443", 1),
            "iptables -t mangle -A " + mark.format("192.0.2.10/32", "80,443", 1),
            "iptables -t mangle -C " + mark.format("192.0.2.11/32", "443", 2),
            "iptables -t mangle -A " + mark.format("192.0.2.11/32", "443", 2),
        ],
        "",
    )


def test_an_unknown_role_is_a_usage_error(tmp_path: Path) -> None:
    status, ran, err = run(script_for(config(FRONT)), "realserver", tmp_path)
    assert (status, ran) == (2, [])
    assert err.endswith("usage: " + str(tmp_path / "lvs-hosts.sh") + " director|ipvs\n")


def test_nat_routes_instead_of_hiding_the_vip(tmp_path: Path) -> None:
    vips = VIPS.replace('"192.0.2.10:', '"0.0.0.0:').replace("192.0.2.11:443", "0.0.0.0:8443")
    text = FRONT + 'method = "NAT"\naddresses = ["192.0.2.10"]\n'
    script = script_for(config(text, vips=vips))
    assert run(script, "director", tmp_path)[1] == ["sysctl -w net.ipv4.ip_nonlocal_bind=1"]
    assert "default gateway" in script
    assert run(script, "ipvs", tmp_path)[1] == ["sysctl -w net.ipv4.ip_forward=1"]


def test_the_local_l7lb_alone_needs_no_arp_settings(tmp_path: Path) -> None:
    script = script_for(config('[ipvs]\ndirectors = ["127.0.0.1"]\nhealth_port = 8081\n'))
    assert run(script, "director", tmp_path)[1] == ["sysctl -w net.ipv4.ip_nonlocal_bind=1"]
    assert run(script, "ipvs", tmp_path)[:2] == (0, [])


def test_realservers_behind_a_local_vip_with_direct_routing(tmp_path: Path) -> None:
    pools = POOLS + '[pool.lvs]\n[[pool.lvs.server]]\naddress = "192.0.2.60:80"\n'
    text = '[ipvs]\n[[ipvs.local_vip]]\naddress = "192.0.2.60:80"\nrealservers = ["10.0.6.1"]\n'
    script = script_for(config(text + 'method = "DR"\n', pools=pools))
    assert run(script, "realserver", tmp_path)[1] == [
        "sysctl -w net.ipv4.conf.all.arp_ignore=1",
        "sysctl -w net.ipv4.conf.all.arp_announce=2",
        "ip addr replace 192.0.2.60/32 dev lo",
    ]
    nat = script_for(config(text, pools=pools))
    assert run(nat, "realserver", tmp_path)[0] == 2
    assert run(nat, "ipvs", tmp_path)[1] == ["sysctl -w net.ipv4.ip_forward=1"]


def test_more_than_fifteen_ports_take_several_rules(tmp_path: Path) -> None:
    listen = ", ".join(f'"192.0.2.10:{port}"' for port in range(8000, 8020))
    vips = f'[[vip]]\nname = "many"\nlisten = [{listen}]\n  [[vip.route]]\n  pool = "web"\n'
    text = FRONT + 'bundle = "fwmark"\nscheduler = "mh"\n'
    ran = run(script_for(config(text, vips=vips)), "ipvs", tmp_path)[1]
    added = [line.split("--dports ")[1].split()[0] for line in ran if " -A " in line]
    assert added == [",".join(map(str, range(8000, 8015))), ",".join(map(str, range(8015, 8020)))]


@pytest.mark.parametrize("path", ipvs_policies(), ids=lambda p: p.name)
def test_the_policy_scripts_are_valid_sh(path: Path, tmp_path: Path) -> None:
    script = render_sysctl(plan(load_config(str(path)), str(path)))
    script_path = tmp_path / "s.sh"
    script_path.write_text(script)
    assert subprocess.run([require("sh"), "-n", str(script_path)], timeout=30).returncode == 0
    for role in ("director", "ipvs"):
        status, _, err = run(script, role, tmp_path)
        assert (status, err) == (0, "")


def _sysctl_keys(script: str) -> set[str]:
    return {
        line.split()[2].split("=")[0]
        for line in script.splitlines()
        if line.strip().startswith("sysctl -w")
    }


def test_every_sysctl_key_exists_in_this_kernel() -> None:
    """net.ipv4.vs.* appear only once ip_vs is loaded (the script loads it first);
    this kernel has no IPVS, so those are checked by name only."""
    keys: set[str] = set()
    for _, cfg in matrix():
        keys |= _sysctl_keys(script_for(cfg))
    for path in ipvs_policies():
        keys |= _sysctl_keys(render_sysctl(plan(load_config(str(path)), str(path))))
    assert "net.ipv4.conf.all.arp_ignore" in keys
    for key in sorted(keys):
        if key.startswith("net.ipv4.vs."):
            assert key == "net.ipv4.vs.expire_quiescent_template"
            continue
        assert Path("/proc/sys", *key.split(".")).exists(), key
