"""summarize() and check_main(): what `l7lb check` prints and returns."""

from __future__ import annotations

from pathlib import Path

import pytest

from l7lb.config.check import check_main
from l7lb.config.load import load_config, parse_config
from l7lb.config.summary import summarize

POLICIES = Path(__file__).resolve().parents[2] / "policies"


@pytest.mark.parametrize("path", sorted(POLICIES.glob("*.toml")), ids=lambda p: p.name)
def test_summary_mentions_every_vip_pool_and_server(path: Path) -> None:
    cfg = load_config(str(path))
    text = summarize(cfg)
    for vip in cfg.vips:
        assert f'vip "{vip.name}"' in text
        for address in vip.listen:
            assert str(address) in text
    for pool in cfg.pools.values():
        assert f'pool "{pool.name}" {pool.scheduler.value}' in text
        for server in pool.servers:
            assert server.name in text
            assert str(server.address) in text
    assert len(text.splitlines()) < 60  # one screen


def test_summary_lists_routes_in_order_with_actions() -> None:
    cfg = parse_config(
        """
[[vip]]
name = "www"
listen = "127.0.0.1:8080"
  [[vip.route]]
  name = "api"
  host = "*.example.com"
  path_prefix = "/api"
  method = ["GET", "POST"]
  header = { "X-Env" = "beta" }
  source = "10.0.0.0/8"
  pool = "api"
  [[vip.route]]
  path_regex = "^/old/"
  redirect = { location = "https://{host}{uri}", status = 301 }
  [[vip.route]]
  header = { "X-Debug" = true }
  respond = { status = 403, body = "no" }
[pool.api]
scheduler = "chash"
hash_key = "host"
fallback = { body = "sorry" }
  [[pool.api.server]]
  address = "10.0.0.5:80"
  weight = 0
  [[pool.api.server]]
  address = "[2001:db8::6]:80"
  backup = true
  max_conn = 50
"""
    )
    lines = summarize(cfg).splitlines()
    assert 'vip "www" listen 127.0.0.1:8080' in lines
    assert (
        "  1. [api] host *.example.com and path /api* and method GET|POST and "
        'header x-env = "beta" and source 10.0.0.0/8 -> pool "api"'
    ) in lines
    assert "  2. path ~ ^/old/ -> redirect 301 https://{host}{uri}" in lines
    assert "  3. header x-debug present -> respond 403 (2 bytes text/plain; charset=utf-8)" in lines
    assert "  otherwise: 404 from l7lb" in lines
    pool_line = next(line for line in lines if line.startswith('pool "api"'))
    assert pool_line.startswith('pool "api" chash on host, 2 servers')
    assert pool_line.endswith("fallback 503 (5 bytes text/plain; charset=utf-8)")
    server_lines = [line.split() for line in lines if line.startswith("  api-")]
    assert server_lines == [
        ["api-1", "10.0.0.5:80", "weight", "0", "drain"],
        ["api-2", "[2001:db8::6]:80", "weight", "1", "backup", "max_conn", "50"],
    ]


def test_summary_has_no_404_line_after_a_catch_all() -> None:
    cfg = load_config(str(POLICIES / "demo.toml"))
    assert "404" not in summarize(cfg)


def test_check_main_valid_prints_summary(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(POLICIES / "path-split.toml")
    assert check_main(path) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out == summarize(load_config(path)) + f"{path}: configuration OK\n"


def test_check_main_invalid_prints_every_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        """
worker = 2
[[vip]]
name = "web"
listen = ["127.0.0.1:8080"]
  [[vip.route]]
  pool = "api"
[pool.api]
  [[pool.api.server]]
  address = "10.0.0.5:80x"
"""
    )
    assert check_main(str(path)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f'{path}: worker: unknown key (hint: did you mean "workers"?)',
        f'{path}: pool "api" server 1: address "10.0.0.5:80x": port is not a number '
        '(hint: write "host:port", e.g. "10.0.0.5:80" or "[2001:db8::5]:80")',
        f"{path}: 2 errors",
    ]


def test_check_main_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "nope.toml")
    assert check_main(path) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"{path}: cannot read the file: No such file or directory",
        f"{path}: 1 error",
    ]


def test_check_reports_tls_certificates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from l7lb.tls.certtool import certs_main

    assert (
        certs_main(
            ["new", "--cn", "www.example.com", "--self-signed", "--out", str(tmp_path / "www")]
        )
        == 0
    )
    capsys.readouterr()
    cfg = tmp_path / "l7lb.toml"
    body = f"""
[[vip]]
name = "web"
listen = ["127.0.0.1:8443"]
tls = {{ certificates = [{{ cert = "{tmp_path}/www.pem", key = "{tmp_path}/www.key" }}] }}
  [[vip.route]]
  host = "shop.example.org"
  pool = "p"
[pool.p]
  [[pool.p.server]]
  address = "127.0.0.1:9001"
"""
    cfg.write_text(body)
    check_main(str(cfg))
    out, err = capsys.readouterr()
    assert "www.pem covers www.example.com" in out
    assert "shop.example.org" in out + err  # a route host no certificate covers
    missing = tmp_path / "missing.toml"
    missing.write_text(body.replace("www.pem", "nope.pem"))
    assert check_main(str(missing)) == 2
    assert "nope.pem" in capsys.readouterr().err
