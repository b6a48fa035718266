"""The TLS parameters compare.py pins for every proxy, and the s_client probe that checks them:
the parser on real s_client output, and each proxy set-up started as compare.py starts it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import tlsparams
from harness.processes import Managed, StartError, free_port
from harness.runner import Bench, Settings, probe_tls
from harness.scenarios import SCENARIOS, VARIANTS
from harness.tlsparams import Negotiated, mismatches, parse_s_client

from l7lb import native

REPO = Path(__file__).resolve().parents[2]

# openssl s_client 3.0 against HAProxy 2.6, TLS 1.3 with ALPN, GET / HTTP/1.0 on stdin
S_CLIENT_13 = """\
CONNECTED(00000003)
---
Server certificate
subject=CN = localhost
---
Peer signature type: ECDSA
Server Temp Key: X25519, 253 bits
---
SSL handshake has read 1021 bytes and written 387 bytes
Verification error: self-signed certificate
---
New, TLSv1.3, Cipher is TLS_AES_128_GCM_SHA256
Server public key is 256 bit
ALPN protocol: h2
Early data was not sent
---
Post-Handshake New Session Ticket arrived:
SSL-Session:
    Protocol  : TLSv1.3
    Cipher    : TLS_AES_128_GCM_SHA256
---
read R BLOCK
---
Post-Handshake New Session Ticket arrived:
SSL-Session:
    Protocol  : TLSv1.3
---
read R BLOCK
HTTP/1.0 200 OK
"""

S_CLIENT_12 = """\
CONNECTED(00000003)
Server Temp Key: X25519, 253 bits
---
New, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256
Server public key is 256 bit
"""

S_CLIENT_REFUSED = """\
CONNECTED(00000003)
40879B95617F0000:error:0A000410:SSL routines:ssl3_read_bytes:sslv3 alert handshake failure:\
../ssl/record/rec_layer_s3.c:1601:SSL alert number 40
---
no peer certificate available
---
New, (NONE), Cipher is (NONE)
"""


def test_parse_tls13_with_tickets_and_alpn() -> None:
    n = parse_s_client(S_CLIENT_13)
    assert n == Negotiated("TLSv1.3", "TLS_AES_128_GCM_SHA256", "X25519", 2, "h2")
    assert n.describe() == "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519, 2 tickets, ALPN h2"
    assert mismatches(n, "1.3", "ecdsa-p256", "h2") == []


def test_parse_tls12_and_a_refused_handshake() -> None:
    n = parse_s_client(S_CLIENT_12)
    assert n == Negotiated("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256", "X25519", 0, "")
    assert n.describe() == "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 X25519"
    assert mismatches(n, "1.2", "ecdsa-p256") == []
    # the RSA certificate's pinned cipher is another one
    assert mismatches(n, "1.2", "rsa-2048") == [
        "cipher ECDHE-ECDSA-AES128-GCM-SHA256, pinned ECDHE-RSA-AES128-GCM-SHA256"
    ]
    refused = parse_s_client(S_CLIENT_REFUSED)
    assert refused.protocol == "(NONE)"
    assert mismatches(refused, "1.3", "ecdsa-p256") == ["TLS 1.3 handshake failed or gave (NONE)"]
    with pytest.raises(tlsparams.ProbeError):
        parse_s_client("connect:errno=111\n")


def test_every_difference_is_named() -> None:
    # what l7lb negotiated by default before the comparison was made fair, against a client
    # that offered h2
    default = Negotiated("TLSv1.3", "TLS_AES_256_GCM_SHA384", "secp256r1", 1, "http/1.1")
    assert mismatches(default, "1.3", "ecdsa-p256", "h2") == [
        "cipher TLS_AES_256_GCM_SHA384, pinned TLS_AES_128_GCM_SHA256",
        "group secp256r1, pinned X25519",
        "1 TLS 1.3 tickets, pinned 2",
        "ALPN http/1.1 selected, h2 needed",
    ]
    # ALPN is not looked at unless the scenario needs a protocol
    assert mismatches(default, "1.3", "ecdsa-p256") == mismatches(default, "1.3", "ecdsa-p256")[:3]


def test_openssl_conf_pins_what_python_servers_cannot_set() -> None:
    text = tlsparams.openssl_conf()
    assert "system_default = system_default_sect" in text
    assert f"Groups = {tlsparams.GROUP}" in text
    assert f"Ciphersuites = {tlsparams.TLS13_SUITE}" in text
    assert f"NumTickets = {tlsparams.TICKETS}" in text


def test_s_client_command() -> None:
    argv = tlsparams.s_client_command("127.0.0.1:443", "1.3", "h2,http/1.1")
    assert argv[:4] == ["openssl", "s_client", "-connect", "127.0.0.1:443"]
    assert "-tls1_3" in argv and "-ign_eof" in argv
    assert argv[argv.index("-alpn") + 1] == "h2,http/1.1"
    assert "-alpn" not in tlsparams.s_client_command("h:1", "1.2")
    assert "-tls1_2" in tlsparams.s_client_command("h:1", "1.2")


# -- each proxy set-up, started as compare.py starts it --------------------------------------

INSTALLED = {
    "l7lb": True,
    "floor": True,
    "haproxy": Path("/usr/sbin/haproxy").exists(),
    "nginx": Path("/usr/sbin/nginx").exists(),
}


@pytest.fixture
def bench() -> Iterator[Bench]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    # nginx reads from here as "nobody": not under pytest's 0700 tmp_path
    with tempfile.TemporaryDirectory(prefix="l7lb-tlsparams-") as tmp:
        Path(tmp).chmod(0o755)
        b = Bench(Path(tmp), Settings(runs=1, duration=1, repo=REPO, log=lambda _m: None))
        b.backend_ports = [free_port()]  # nothing listens: the probes need no backend
        yield b


def _started(bench: Bench, scenario: str, label: str) -> tuple[Managed, int]:
    port = free_port()
    proc, _ = bench._start_proxy(SCENARIOS[scenario], VARIANTS[label], port)
    proc.start()
    try:
        proc.wait_listening(port)
    except StartError:
        proc.stop()
        raise
    return proc, port


def _refuses_p256(port: int) -> bool:
    """A client offering only P-256 must fail against a proxy pinned to X25519."""
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_3", "-groups", "P-256"]
    done = subprocess.run(
        argv, input=tlsparams.PROBE_REQUEST, capture_output=True, timeout=20, check=False
    )
    return parse_s_client(done.stdout.decode(errors="replace")).protocol == "(NONE)"


@pytest.mark.parametrize(
    "label", ["l7lb-httptools", "floor-parse", "haproxy", "nginx"], ids=lambda x: x
)
def test_each_proxy_negotiates_the_pinned_parameters(bench: Bench, label: str) -> None:
    if not INSTALLED[VARIANTS[label].proxy]:
        pytest.skip(f"{label} not installed")
    if label == "l7lb-httptools" and native.check() != "compiled":
        label = "l7lb-httptools-pure"  # the compiled variant refuses to run on a pure build
    proc, port = _started(bench, "tls-keepalive-small", label)
    try:
        seen, problems = probe_tls(port, "ecdsa-p256")
        # l7lb's supervisor listens before its worker serves: the first probe may race it
        if problems and VARIANTS[label].proxy == "l7lb":
            seen, problems = probe_tls(port, "ecdsa-p256")
        assert problems == []
        assert [what for _, what in seen] == [
            "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519, 2 tickets",
            "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 X25519",
        ]
        assert _refuses_p256(port)  # pinned, not merely preferred (l7lb: OPENSSL_CONF)
    finally:
        proc.stop()


@pytest.mark.parametrize("label", ["haproxy", "nginx"])
def test_h2_set_ups_select_h2_by_alpn(bench: Bench, label: str) -> None:
    if not INSTALLED[label]:
        pytest.skip(f"{label} not installed")
    proc, port = _started(bench, "h2-small", label)
    try:
        seen, problems = probe_tls(port, "ecdsa-p256", "h2")
        assert problems == []
        assert seen[0][1].endswith(", ALPN h2")
    finally:
        proc.stop()
    # and the HTTP/1.1 scenarios do not offer it
    proc, port = _started(bench, "tls-keepalive-small", label)
    try:
        _, problems = probe_tls(port, "ecdsa-p256", "h2")
        assert problems == ["ALPN http/1.1 selected, h2 needed"]
    finally:
        proc.stop()
