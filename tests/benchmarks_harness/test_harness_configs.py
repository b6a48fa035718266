import shutil
import subprocess
from pathlib import Path

import pytest
from harness import configs
from harness.machine import cpu_model
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
    for c in (None, cert):
        conf = tmp_path / "h.cfg"
        conf.write_text(configs.haproxy(18080, [19001, 19002], c, cookie=True))
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
        configs.nginx_validation_target(
            18081, 18082, 18444, 500, cert, str(tmp_path), str(tmp_path)
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
