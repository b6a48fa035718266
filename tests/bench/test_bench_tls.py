"""TLS resumption modes, checked against the server's own count of resumed handshakes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from l7lb.bench.cli import main

pytestmark = pytest.mark.timeout(60)


def run(tmp_path: Path, *argv: str) -> dict[str, Any]:
    out = tmp_path / "result.json"
    assert main([*argv, "--json", str(out)]) == 0
    return json.loads(out.read_text())["runs"][0]["summary"]  # type: ignore[no-any-return]


def server_split(server: Any) -> tuple[int, int]:
    handshakes = server.events("handshake")
    resumed = sum(1 for h in handshakes if h["reused"])
    return len(handshakes) - resumed, resumed


@pytest.mark.parametrize(
    ("mode", "version", "full", "resumed"),
    [
        ("none", "1.2", 12, 0),
        ("none", "1.3", 12, 0),
        # Every connection slot (3) does one full handshake, then resumes its own session.
        ("id", "1.2", 3, 9),
        ("ticket", "1.2", 3, 9),
        ("id", "1.3", 3, 9),
        ("ticket", "1.3", 3, 9),
    ],
)
def test_resumed_full_split_is_exact(
    tmp_path: Path,
    start_server: Any,
    certificate: Any,
    mode: str,
    version: str,
    full: int,
    resumed: int,
) -> None:
    cert, key = certificate
    server = start_server("--cert", str(cert), "--key", str(key))
    s = run(
        tmp_path, server.url(scheme="https"), "-n", "12", "-c", "3", "-p", "1", "--new-conn",
        "--tls-resume", mode, "--tls-version", version, "--cafile", str(cert),
    )  # fmt: skip
    assert s["errors"] == {}
    assert server_split(server) == (full, resumed)
    assert (s["handshakes"]["full"], s["handshakes"]["resumed"]) == (full, resumed)
    assert s["handshakes"]["resumed_ratio"] == round(resumed / 12, 6)
    assert {h["version"] for h in server.events("handshake")} == {f"TLSv{version}"}


def test_keepalive_reuses_connections(tmp_path: Path, start_server: Any, certificate: Any) -> None:
    cert, key = certificate
    server = start_server("--cert", str(cert), "--key", str(key))
    s = run(
        tmp_path, server.url(scheme="https"), "-n", "10", "-c", "1", "-p", "1",
        "--keepalive", "5", "-k",
    )  # fmt: skip
    assert s["connections"] == 2 == len(server.events("handshake"))
    assert server_split(server) == (1, 1)


def test_untrusted_certificate_is_a_tls_error(
    tmp_path: Path, start_server: Any, certificate: Any
) -> None:
    cert, key = certificate
    server = start_server("--cert", str(cert), "--key", str(key))
    s = run(tmp_path, server.url(scheme="https"), "-n", "3", "-c", "1", "-p", "1")
    assert s["errors"] == {"tls": 3}
    assert s["responses"] == 0


def test_sni_name_is_the_verified_name(tmp_path: Path, start_server: Any, certificate: Any) -> None:
    cert, key = certificate
    server = start_server("--cert", str(cert), "--key", str(key))
    url = server.url(scheme="https")
    common = ("-n", "2", "-c", "1", "-p", "1", "--cafile", str(cert))
    assert run(tmp_path, url, *common, "--sni", "localhost")["errors"] == {}
    assert run(tmp_path, url, *common, "--sni", "wrong.example")["errors"] == {"tls": 2}
