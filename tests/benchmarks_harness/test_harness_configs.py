import shutil
import subprocess
from pathlib import Path

import pytest
from harness import configs, tlsparams
from harness.machine import cpu_model, foreign_python, l7lb_build
from harness.runner import make_cert

from l7lb.config.load import load_config


def test_l7lb_config_loads_with_l7lbs_own_loader(tmp_path: Path) -> None:
    path = tmp_path / "l7lb.toml"
    path.write_text(configs.l7lb(8080, [9001, 9002], "h11", cert=None, cookie=False))
    cfg = load_config(str(path))
    assert cfg.http.parser == "h11"
    assert cfg.log.access == "off"
    (pool,) = cfg.pools.values()
    assert pool.max_idle == 256
    assert [str(s.address) for s in pool.servers] == ["127.0.0.1:9001", "127.0.0.1:9002"]


def test_l7lb_tls_and_cookie_tables_are_rendered() -> None:
    cert = configs.Cert("/c.crt", "/c.key", "/c.pem")
    text = configs.l7lb(8443, [9001], "httptools", cert=cert, cookie=True)
    assert '[vip.tls]\n  certificates = [{cert = "/c.crt", key = "/c.key"}]' in text
    assert '[pool.bench.persistence]\n  mode = "cookie"' in text


def test_l7lb_tls_is_pinned_through_its_own_keys(tmp_path: Path) -> None:
    cert = make_cert(tmp_path, "ecdsa-p256")
    path = tmp_path / "l7lb.toml"
    path.write_text(configs.l7lb(8443, [9001], "httptools", cert=cert, cookie=False))
    (vip,) = load_config(str(path)).vips
    assert vip.tls is not None
    assert vip.tls.ciphersuites == tlsparams.TLS13_SUITE == "TLS_AES_128_GCM_SHA256"
    assert vip.tls.ciphers == tlsparams.TLS12_CIPHERS
    assert vip.tls.tickets_per_handshake == tlsparams.TICKETS == 2  # l7lb's default is 1
    assert "ciphers" not in configs.l7lb(8080, [9001], "httptools", cert=None, cookie=False)


def test_peers_are_pinned_alike() -> None:
    cert = configs.Cert("/c.crt", "/c.key", "/c.pem")
    h = configs.haproxy(8443, [9001], cert, cookie=False)
    assert "ssl-default-bind-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128" in h
    assert "ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256\n" in h
    assert "ssl-default-bind-curves X25519\n" in h
    n = configs.nginx_proxy(8443, [9001], "/tmp", cert)
    assert "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256;" in n
    assert "ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;" in n
    assert "ssl_ecdh_curve X25519;" in n
    assert "listen 127.0.0.1:8443 ssl backlog" in n


def test_http2_set_ups() -> None:
    cert = configs.Cert("/c.crt", "/c.key", "/c.pem")
    assert "ssl crt /c.pem alpn h2,http/1.1\n" in configs.haproxy(1, [2], cert, False, http2=True)
    assert "listen 127.0.0.1:1 ssl http2 backlog" in configs.nginx_proxy(1, [2], "/t", cert, True)
    # and a scenario that does not ask for it does not get it
    assert "alpn http/1.1\n" in configs.haproxy(1, [2], cert, False)


def test_haproxy_config_settings() -> None:
    text = configs.haproxy(8080, [9001, 9002], cert=None, cookie=False)
    for line in ("nbthread 1", "maxconn 4000", "http-reuse always", "option http-keep-alive"):
        assert line in text
    assert "bind 127.0.0.1:8080\n" in text
    assert "cookie" not in text
    tls = configs.haproxy(8443, [9001], configs.Cert("/c.crt", "/c.key", "/c.pem"), cookie=True)
    assert "bind 127.0.0.1:8443 ssl crt /c.pem alpn http/1.1" in tls
    assert "cookie SRV insert indirect nocache" in tls
    assert "server s1 127.0.0.1:9001 cookie s1" in tls


@pytest.mark.skipif(not Path("/usr/sbin/haproxy").exists(), reason="haproxy not installed")
def test_haproxy_accepts_the_config(tmp_path: Path) -> None:
    cert = make_cert(tmp_path, "ecdsa-p256")
    for c, h2 in ((None, False), (cert, False), (cert, True)):
        conf = tmp_path / "h.cfg"
        conf.write_text(configs.haproxy(18080, [19001, 19002], c, cookie=True, http2=h2))
        done = subprocess.run(
            ["/usr/sbin/haproxy", "-c", "-f", str(conf)], capture_output=True, timeout=30
        )
        assert done.returncode == 0, done.stderr.decode()


@pytest.mark.skipif(not Path("/usr/sbin/nginx").exists(), reason="nginx not installed")
def test_nginx_accepts_both_configs(tmp_path: Path) -> None:
    cert = make_cert(tmp_path, "rsa-2048")
    texts = [
        configs.nginx_backend([19001, 19002], str(tmp_path), str(tmp_path)),
        configs.nginx_proxy(18080, [19001], str(tmp_path), None),
        configs.nginx_proxy(18443, [19001], str(tmp_path), cert),
        configs.nginx_proxy(18443, [19001], str(tmp_path), cert, http2=True),
        configs.nginx_validation_target(
            18081, 18082, 18444, 500, cert, str(tmp_path), str(tmp_path), 18445
        ),
    ]
    for i, text in enumerate(texts):
        conf = tmp_path / f"n{i}.conf"
        conf.write_text(text)
        done = subprocess.run(
            ["/usr/sbin/nginx", "-t", "-c", str(conf), "-p", str(tmp_path)],
            capture_output=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr.decode()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_make_cert_writes_matching_files(tmp_path: Path) -> None:
    cert = make_cert(tmp_path, "ecdsa-p256")
    combined = Path(cert.combined).read_text()
    assert "BEGIN CERTIFICATE" in combined and "PRIVATE KEY" in combined
    with pytest.raises(ValueError):
        make_cert(tmp_path, "dsa")


def test_cpu_model_from_cpuinfo() -> None:
    x86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n"
    assert cpu_model(x86) == "Intel(R) Xeon(R) Processor"
    arm = "processor\t: 0\nBogoMIPS\t: 50.00\nHardware\t: BCM2835\n"
    assert cpu_model(arm) == "BCM2835"
    assert cpu_model("") == "unknown"


def test_the_l7lb_build_is_named_with_how_it_was_made(tmp_path: Path) -> None:
    """The report header says which build was measured: none here, then a manifest that says
    "compiled nothing", then a profile-guided build of this checkout's sources."""
    from l7lb import native

    assert l7lb_build(tmp_path).startswith("not built")
    (tmp_path / "l7lb").mkdir()
    native.write_manifest(str(tmp_path), reason="no C compiler")
    assert l7lb_build(tmp_path) == "the build compiled nothing: no C compiler"
    root = Path(native.__file__).resolve().parent.parent
    if native.check(str(root), {}) != "compiled":
        pytest.skip(f"this checkout is not compiled: {native.check(str(root), {})}")
    note = native.build_note(str(root))
    assert l7lb_build(root) == (f"compiled, {note}" if note else "compiled")


def _fake_python(tmp_path: Path, name: str, body: str) -> str:
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_compare_refuses_an_interpreter_that_cannot_run_this_build(tmp_path: Path) -> None:
    """compare.py --python: each reason is named; this suite's own interpreter is accepted
    when the checkout's build is current."""
    import sys

    from l7lb import native

    root = Path(native.__file__).resolve().parent.parent
    assert foreign_python(str(tmp_path / "none"), root).startswith("does not run (")
    broken = _fake_python(tmp_path, "broken", "echo 'ModuleNotFoundError: uvloop' >&2; exit 1")
    assert foreign_python(broken, root) == (
        "cannot import l7lb and its dependencies: ModuleNotFoundError: uvloop"
    )
    other = _fake_python(tmp_path, "other", "echo 3.99; echo compiled")
    ours = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert foreign_python(other, root) == f"is Python 3.99; the build here is for {ours}"
    stale = _fake_python(tmp_path, "stale", f"echo {ours}; echo 'not built'")
    assert foreign_python(stale, root) == "does not run this checkout's build: not built"
    if native.check(str(root), {}) == "compiled":
        assert foreign_python(sys.executable, root) == ""
