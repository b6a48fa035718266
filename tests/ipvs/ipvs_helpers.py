"""Helpers for tests/ipvs: small configurations built around an [ipvs] section,
and the external tools that check what l7lb ipvs writes (keepalived, ipvsadm)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from l7lb.config.load import ConfigError, load_config, parse_config
from l7lb.config.model import Config

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
GOLDEN = Path(__file__).resolve().parent / "golden"

# Two VIPs on one address (80 and 443) and one on another address: the shapes the
# mapping has to bundle or split.
VIPS = """
[[vip]]
name = "www-http"
listen = ["192.0.2.10:80"]
  [[vip.route]]
  pool = "web"

[[vip]]
name = "www-https"
listen = ["192.0.2.10:443"]
  [[vip.route]]
  pool = "web"

[[vip]]
name = "api"
listen = ["192.0.2.11:443"]
  [[vip.route]]
  pool = "web"
"""
POOLS = """
[pool.web]
  [[pool.web.server]]
  address = "10.0.8.11:80"
  [[pool.web.server]]
  address = "10.0.8.12:80"
"""


def config(ipvs: str, vips: str = VIPS, pools: str = POOLS) -> Config:
    """A configuration of ``vips`` and ``pools`` with ``ipvs`` appended as written."""
    return parse_config(vips + pools + ipvs)


def errors(ipvs: str, vips: str = VIPS, pools: str = POOLS) -> list[str]:
    """Every problem the loader finds, as ``l7lb check`` prints them (without the file)."""
    with pytest.raises(ConfigError) as info:
        parse_config(vips + pools + ipvs)
    return [str(issue) for issue in info.value.errors]


def ipvs_policies() -> list[Path]:
    """The shipped policies that have an [ipvs] section."""
    return [p for p in sorted(POLICIES.glob("*.toml")) if load_config(str(p)).ipvs is not None]


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (CI installs it with apt)")
    return path


def keepalived_check(text: str, tmp_path: Path, node: str = "l7lb-test") -> tuple[int, str]:
    """``keepalived -t`` on ``text`` as host ``node``: (exit status, what it said)."""
    keepalived = require("keepalived")
    conf = tmp_path / f"keepalived-{node}.conf"
    conf.write_text(text)
    done = subprocess.run(
        [keepalived, "-t", "-f", str(conf), "-i", node],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.returncode, done.stdout + done.stderr


# Every valid combination of scheduler, method and bundle, each with a VRRP
# instance and a local IPVS VIP, for the checks by keepalived and ipvsadm.
SCHEDULERS = ("rr", "wrr", "lc", "wlc", "sh", "mh")
_NAT_VIPS = VIPS.replace('"192.0.2.10:', '"0.0.0.0:').replace("192.0.2.11:443", "0.0.0.0:8443")
_MATRIX_POOLS = (
    POOLS
    + """
[pool.lvs]
  [pool.lvs.health]
  check = "http"
  path = "/health"
  expect = "200-299,301"
  host = "www.example.com"
  [[pool.lvs.server]]
  address = "192.0.2.60:80"
"""
)


def matrix() -> list[tuple[str, Config]]:
    """``(id, config)`` for every valid scheduler x method x bundle."""
    out: list[tuple[str, Config]] = []
    for scheduler in SCHEDULERS:
        for method in ("DR", "NAT"):
            for bundle in ("none", "fwmark", "group"):
                hashes = scheduler in ("sh", "mh")
                if bundle == "group" and not hashes:
                    continue  # refused: IPVS would split the group's client
                text = f"""
[ipvs]
directors = ["127.0.0.1", "10.0.0.12"]
health_port = 8081
scheduler = "{scheduler}"
method = "{method}"
bundle = "{bundle}"
"""
                if bundle == "fwmark" and not hashes:
                    text += "persistence_timeout = 300\n"
                if method == "NAT":
                    text += 'addresses = ["192.0.2.10", "192.0.2.11"]\n'
                text += f"""
  [[ipvs.local_vip]]
  address = "192.0.2.60:80"
  realservers = ["10.0.6.11", "10.0.6.12{":8080" if method == "NAT" else ""}"]
  method = "{method}"
  [ipvs.vrrp]
  interface = "eth0"
  virtual_router_id = 51
  nodes = {{ lvs1 = 150, lvs2 = 100 }}
"""
                vips = _NAT_VIPS if method == "NAT" else VIPS
                out.append((f"{scheduler}-{method}-{bundle}", config(text, vips, _MATRIX_POOLS)))
    return out
