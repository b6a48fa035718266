"""Fixtures for the TLS tests: certificates made in tmp dirs, never committed."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from l7lb.tls.certtool import make_self_signed, new_key, write_key

MakeCert = Callable[..., tuple[str, str]]


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("certs")


@pytest.fixture(scope="session")
def make_cert(cert_dir: Path) -> MakeCert:
    """make_cert(cn, *sans, kind="ec", days=30) -> (cert path, key path); cached by args."""
    made: dict[tuple[object, ...], tuple[str, str]] = {}

    def make(cn: str, *sans: str, kind: str = "ec", days: int = 30) -> tuple[str, str]:
        args = (cn, sans, kind, days)
        if args not in made:
            stem = f"{cn.replace('*', 'star')}-{kind}-{len(made)}"
            key = new_key(kind)
            now = dt.datetime.now(dt.UTC)
            if days < 0:  # an expired certificate
                now = now + dt.timedelta(days=days * 2)
                days = -days
            cert = make_self_signed(key, cn, list(sans), days, now=now)
            cpath, kpath = cert_dir / f"{stem}.pem", cert_dir / f"{stem}.key"
            cpath.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            write_key(kpath, key)
            made[args] = (str(cpath), str(kpath))
        return made[args]

    return make


@pytest.fixture
def server_proc(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The session server in its own process (as in the supervisor): (socket path, process)."""
    path = str(tmp_path / "s.sock")
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "session_server_proc.py"), path],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
        yield path, proc
    finally:
        os.kill(proc.pid, signal.SIGCONT)  # in case a test stopped it
        proc.terminate()
        proc.wait(10)
