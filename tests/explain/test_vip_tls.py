"""Which VIP and which certificate: https-offload.toml with real certificate files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from explain_helpers import POLICIES, Result, make_cert

from l7lb.config.load import load_config
from l7lb.explain.request import Destination
from l7lb.explain.vip import VipError, choose_vip

Run = Callable[..., Result]


@pytest.fixture
def offload(policy: Callable[..., Path], tmp_path: Path) -> str:
    """policies/https-offload.toml with its certificate files made in tmp_path."""
    certs = tmp_path / "certs"
    certs.mkdir()
    make_cert(certs, "www", "www.example.com", "example.com", kind="ec")
    make_cert(certs, "www-rsa", "www.example.com", "example.com", kind="rsa")
    make_cert(certs, "api-wildcard", "*.api.example.com")
    return str(policy("https-offload.toml", {"/etc/l7lb/certs/": f"{certs}/"}))


def test_sni_exact_groups_rsa_and_ecdsa(run: Run, offload: str) -> None:
    out = run("-c", offload, "--json", "https://example.com/").json
    assert out["vip"]["name"] == "https"
    tls = out["tls"]
    assert (tls["sni"], tls["outcome"], tls["name_ok"], tls["problems"]) == (
        "example.com",
        "exact",
        True,
        [],
    )
    # the ECDSA and the RSA certificate serve the same names: one context, both offered
    assert [c["key"] for c in tls["certificates"]] == ["EC 256", "RSA 2048"]
    assert out["route"] == "www"


def test_sni_wildcard_one_label_against_route_any_depth(run: Run, offload: str) -> None:
    out = run("-c", offload, "--json", "https://v1.api.example.com/x").json
    assert out["tls"]["outcome"] == "wildcard"
    assert out["tls"]["certificates"][0]["names"] == ["*.api.example.com"]
    assert out["route"] == "api"
    # two labels deep: the route still matches (nginx-style wildcard) but no certificate
    # covers the name (RFC 6125: one label), so the client gets the default and a warning
    res = run("-c", offload, "https://a.v1.api.example.com/x")
    assert "SNI a.v1.api.example.com: no certificate names it: the default certificate" in res.out
    assert "the certificate does not name the URL's host" in res.out
    assert "MATCH" in res.out


def test_no_sni_for_an_ip_literal_and_strict_sni_refusal(run: Run, offload: str) -> None:
    out = run("-c", offload, "--json", "-H", "Host: www.example.com", "https://192.0.2.60/").json
    assert out["tls"]["sni"] is None
    assert out["tls"]["outcome"] == "default-no-sni"
    assert out["route"] == "www"

    strict = Path(offload)
    strict.write_text(strict.read_text().replace("strict_sni = false", "strict_sni = true"))
    out = run("-c", offload, "--json", "https://unknown.example.org/").json
    assert out["tls"]["outcome"] == "refused"
    assert out["answer"]["by"] == "tls"
    assert "unrecognized_name" in out["answer"]["summary"]
    assert out["routes"] == []


def test_scheme_mismatch_and_redirect_twin(run: Run, offload: str) -> None:
    out = run("-c", offload, "--json", "http://www.example.com:80/a?b=1").json
    assert out["vip"]["name"] == "http-twin"
    assert out["answer"]["summary"] == "301 redirect to https://www.example.com/a?b=1"
    out = run("-c", offload, "--json", "--vip", "https", "http://www.example.com/").json
    assert out["answer"]["status"] == 400
    assert "plain HTTP there gets a readable 400" in out["answer"]["summary"]
    out = run("-c", offload, "--json", "--vip", "http-twin", "https://www.example.com/").json
    assert out["answer"]["status"] == 400
    assert "speaks plain HTTP" in out["answer"]["summary"]


def test_unreadable_certificate_is_a_problem_not_a_crash(run: Run) -> None:
    res = run("-c", str(POLICIES / "https-offload.toml"), "https://www.example.com/")
    assert res.rc == 0, res.err
    assert "SNI www.example.com: unknown (a certificate file cannot be read)" in res.out
    assert "problem: /etc/l7lb/certs/www.pem: cannot read" in res.out
    assert "answer      pool www, server" in res.out


def test_choose_vip_by_address_port_scheme_and_name() -> None:
    config = load_config(str(POLICIES / "persistence-source.toml"))
    pick = lambda d: choose_vip(config, d, None).vip.name  # noqa: E731
    assert pick(Destination("http", "192.0.2.50", 80)) == "site-http"
    assert pick(Destination("https", "site.example.com", 443)) == "site-https"
    assert choose_vip(config, None, "site-https").vip.name == "site-https"
    with pytest.raises(VipError, match=r"no vip listens on 192\.0\.2\.51:80"):
        pick(Destination("http", "192.0.2.51", 80))
    with pytest.raises(VipError, match="no vip named 'nope'"):
        choose_vip(config, None, "nope")
    wild = load_config(str(POLICIES / "virtual-hosts.toml"))  # listens on 0.0.0.0:80
    assert choose_vip(wild, Destination("http", "10.1.2.3", 80), None).vip.name == "www"
    with pytest.raises(VipError):
        choose_vip(wild, Destination("http", "2001:db8::1", 80), None)
