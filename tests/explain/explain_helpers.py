"""Helpers shared by the ``l7lb explain`` tests (imported by name: see conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from l7lb.config.load import load_config
from l7lb.persistence.cookie import CookieCodec
from l7lb.tls.certtool import make_self_signed, new_key, write_key

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"


def make_cert(directory: Path, stem: str, cn: str, *sans: str, kind: str = "ec") -> str:
    """A self-signed certificate (and its key, ``stem``.key) in ``directory``."""
    key = new_key(kind)
    cert = make_self_signed(key, cn, list(sans), 30)
    path = directory / f"{stem}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    write_key(directory / f"{stem}.key", key)
    return str(path)


def mint_cookie(config: Path, pool: str, server: str, issued_ago: int, seen_ago: int) -> str:
    """A cookie value signed with the configuration's secret, dated in the past."""
    p = load_config(str(config)).pools[pool]
    codec = CookieCodec(p.persistence.secret, {p.name: [s.name for s in p.servers]})
    now = int(time.time())
    return codec.encode(p.name, server, now - issued_ago, now - seen_ago)


@dataclass
class Result:
    rc: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


def run_cli(*args: str, stdin: bytes = b"", timeout: float = 60) -> Result:
    """``python -m l7lb explain ...`` as a real process (the console entry point's path)."""
    proc = subprocess.run(
        [sys.executable, "-m", "l7lb", "explain", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        cwd=ROOT,
    )
    return Result(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
