"""End-to-end: VIP TLS settings that had no test (issue 15, section 8): ``ciphersuites``
(TLS 1.3, set through l7lb's libssl shim) and ``session_lifetime`` expiry.

openssl s_client names the TLS 1.3 suites it offers (Python's ssl cannot); the refusal of
an expired session is read from the proxy's own counters (``show tls``), so an expired
session is told from a lookup that did not answer.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest
from procs import free_port, start_backend, start_proxy
from test_tls_proxy import client_ctx, https_get, make_cert, tls_config
from tlscounters import refused, show_tls

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def backend():
    b = start_backend("b1")
    yield b
    b.stop()


def s_client_tls13(port: int, suites: str) -> str:
    """The TLS 1.3 suite openssl s_client agreed on offering only ``suites``; "" if the
    handshake failed."""
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}"]
    argv += ["-servername", "www.example.com", "-tls1_3", "-ciphersuites", suites]
    r = subprocess.run(
        argv,
        input=b"",
        capture_output=True,
        timeout=30,
    )
    m = re.search(rb"^New, TLSv1.3, Cipher is (\S+)", r.stdout, re.MULTILINE)
    return m.group(1).decode() if m else ""


def test_ciphersuites_limit_the_tls13_suites(tmp_path, backend):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (CI installs it with apt)")
    cert = make_cert(tmp_path, "www.example.com")
    port = free_port()
    cfg = tls_config(port, backend.address, [cert]).replace(
        "tickets = true }", 'tickets = true, ciphersuites = "TLS_CHACHA20_POLY1305_SHA256" }'
    )
    assert "ciphersuites" in cfg
    p = start_proxy(tmp_path, cfg, port)
    try:
        both = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"
        assert s_client_tls13(port, both) == "TLS_CHACHA20_POLY1305_SHA256"
        assert s_client_tls13(port, "TLS_AES_128_GCM_SHA256") == ""  # nothing in common
        assert "TLS session sharing disabled" not in p.error_log()  # the shim set them
    finally:
        p.stop()
    # the control: without the key, the same clients get the suites they prefer
    (tmp_path / "default").mkdir()
    p = start_proxy(tmp_path / "default", tls_config(port, backend.address, [cert]), port)
    try:
        assert s_client_tls13(port, both) == "TLS_AES_128_GCM_SHA256"
        assert s_client_tls13(port, "TLS_AES_128_GCM_SHA256") == "TLS_AES_128_GCM_SHA256"
    finally:
        p.stop()


def test_sessions_expire_after_session_lifetime(tmp_path, backend):
    """A TLS 1.2 session resumes within session_lifetime (3 s) and is refused after it:
    the proxy counts a full handshake (not a failure), and no lookup went unanswered."""
    cert = make_cert(tmp_path, "www.example.com")
    port = free_port()
    sock = f"{tmp_path}/admin.sock"
    cfg = tls_config(
        port, backend.address, [cert], tickets=False, top=f'admin_socket = "{sock}"'
    ).replace("tickets = false }", 'tickets = false, session_lifetime = "3s" }')
    cfg += '[log]\nlevel = "debug"\naccess = "off"\n'
    assert 'session_lifetime = "3s"' in cfg
    p = start_proxy(tmp_path, cfg, port, workers=1)
    try:
        ctx = client_ctx(tickets=False, version="1.2")
        status, _, reused, session, _, _ = https_get(port, "www.example.com", ctx)
        issued = time.monotonic()
        assert status == 200 and not reused
        assert https_get(port, "www.example.com", ctx, session=session)[2], "control: resumes"
        assert time.monotonic() - issued < 3, "too slow to show the session alive"
        # OpenSSL counts whole seconds: 3 s are past for certain after 4
        time.sleep(max(0.0, issued + 4.5 - time.monotonic()))
        before = show_tls(sock)
        status, _, reused, _, _, _ = https_get(port, "www.example.com", ctx, session=session)
        assert status == 200 and not reused
        why = refused(before, show_tls(sock), "tls", p.error_log())
        assert why is None, why
    finally:
        p.stop()
