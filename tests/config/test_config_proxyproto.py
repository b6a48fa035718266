"""``accept_proxy``, ``proxy_trusted`` and ``send_proxy``: values, defaults, every error."""

from __future__ import annotations

import ipaddress
import textwrap
from pathlib import Path

import pytest

from l7lb.config.health_targets import check_targets
from l7lb.config.load import ConfigError, ConfigIssue, parse_config
from l7lb.config.summary import summarize


def config(
    vip_extra: str = "", pool_extra: str = "", server_extra: str = "", health: str = ""
) -> str:
    return textwrap.dedent(
        f"""
        [[vip]]
        name = "www"
        listen = ["127.0.0.1:8080"]
        {vip_extra}
          [[vip.route]]
          pool = "web"

        [pool.web]
        {pool_extra}
        {health}
          [[pool.web.server]]
          name = "a"
          address = "10.0.0.1:80"
          {server_extra}
          [[pool.web.server]]
          name = "b"
          address = "10.0.0.2:80"
        """
    )


def issues(text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.errors


def one(text: str) -> ConfigIssue:
    found = issues(text)
    assert len(found) == 1, found
    return found[0]


def test_defaults_are_off() -> None:
    cfg = parse_config(config())
    (vip,) = cfg.vips
    assert not vip.accept_proxy and vip.proxy_trusted == ()
    pool = cfg.pools["web"]
    assert pool.send_proxy == ""
    assert [s.send_proxy for s in pool.servers] == ["", ""]


def test_accept_proxy_with_trusted_networks() -> None:
    cfg = parse_config(
        config('accept_proxy = true\nproxy_trusted = ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]')
    )
    (vip,) = cfg.vips
    assert vip.accept_proxy
    assert vip.proxy_trusted == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.0.2.7/32"),
        ipaddress.ip_network("2001:db8::/32"),
    )


def test_one_string_is_one_network() -> None:
    cfg = parse_config(config('accept_proxy = true\nproxy_trusted = "10.1.0.0/16"'))
    assert cfg.vips[0].proxy_trusted == (ipaddress.ip_network("10.1.0.0/16"),)


def test_accept_proxy_needs_proxy_trusted() -> None:
    issue = one(config("accept_proxy = true"))
    assert issue.path == 'vip "www" accept_proxy'
    assert "claim any address" in issue.message
    assert "0.0.0.0/0" in issue.hint and "10.0.0.0/8" in issue.hint


def test_trusting_everyone_must_be_written() -> None:
    cfg = parse_config(config('accept_proxy = true\nproxy_trusted = ["0.0.0.0/0", "::/0"]'))
    assert len(cfg.vips[0].proxy_trusted) == 2


def test_proxy_trusted_without_accept_proxy() -> None:
    issue = one(config('proxy_trusted = ["10.0.0.0/8"]'))
    assert issue.path == 'vip "www" proxy_trusted'
    assert issue.message == "only applies with accept_proxy = true"
    issue = one(config('accept_proxy = false\nproxy_trusted = ["10.0.0.0/8"]'))
    assert issue.path == 'vip "www" proxy_trusted'


@pytest.mark.parametrize(
    ("extra", "path", "words"),
    [
        ('accept_proxy = "yes"\nproxy_trusted = ["10.0.0.0/8"]', "accept_proxy", "true or false"),
        ("accept_proxy = true\nproxy_trusted = []", "proxy_trusted", "empty list"),
        ("accept_proxy = true\nproxy_trusted = [10]", "proxy_trusted", "array of strings"),
        ('accept_proxy = true\nproxy_trusted = ["10.0.0.1/8"]', "proxy_trusted", "10.0.0.0/8"),
        ('accept_proxy = true\nproxy_trusted = ["lb1.example"]', "proxy_trusted", "CIDR"),
        (
            'accept_proxy = true\nproxy_trusted = ["10.0.0.0/8", "300.1.1.1"]',
            "proxy_trusted entry 2",
            "not a network",
        ),
    ],
)
def test_bad_vip_values(extra: str, path: str, words: str) -> None:
    issue = one(config(extra))
    assert issue.path == f'vip "www" {path}'
    assert words in f"{issue.message} {issue.hint}"


def test_send_proxy_per_pool_and_per_server() -> None:
    cfg = parse_config(config(pool_extra='send_proxy = "v2"', server_extra='send_proxy = "v1"'))
    pool = cfg.pools["web"]
    assert pool.send_proxy == "v2"
    assert [s.send_proxy for s in pool.servers] == ["v1", "v2"]
    cfg = parse_config(config(pool_extra='send_proxy = "v1"', server_extra='send_proxy = "none"'))
    assert [s.send_proxy for s in cfg.pools["web"].servers] == ["", "v1"]
    cfg = parse_config(config(server_extra='send_proxy = "v2"'))
    assert [s.send_proxy for s in cfg.pools["web"].servers] == ["v2", ""]


@pytest.mark.parametrize(
    ("where", "value", "words"),
    [
        ("pool", "true", 'write send_proxy = "v2"'),
        ("pool", '"v3"', '"none", "v1", "v2"'),
        ("pool", '"V2"', "not a PROXY protocol version"),
        ("server", "2", "a int"),
        ("server", '"send-proxy-v2"', "not a PROXY protocol version"),
    ],
)
def test_bad_send_proxy(where: str, value: str, words: str) -> None:
    line = f"send_proxy = {value}"
    text = config(pool_extra=line) if where == "pool" else config(server_extra=line)
    issue = one(text)
    assert issue.path == (
        'pool "web" send_proxy' if where == "pool" else 'pool "web" server 1 send_proxy'
    )
    assert words in f"{issue.message} {issue.hint}"


def test_misplaced_key_is_pointed_home() -> None:
    text = config() + "\n[timeouts]\naccept_proxy = true\n"
    issue = one(text)
    assert issue.path == "timeouts accept_proxy"
    assert "[[vip]]" in issue.hint


def test_health_checks_follow_send_proxy_on_the_server_port() -> None:
    health = '[pool.web.health]\ncheck = "http"\npath = "/health"'
    cfg = parse_config(config(server_extra='send_proxy = "v2"', health=health))
    assert [t.send_proxy for t in check_targets(cfg)] == ["v2", ""]
    # a separate check port is another listener: no header unless it is the traffic's
    health_port = health + "\nport = 8081"
    cfg = parse_config(config(pool_extra='send_proxy = "v1"', health=health_port))
    assert [t.send_proxy for t in check_targets(cfg)] == ["", ""]


def test_check_summary_shows_both_directions() -> None:
    cfg = parse_config(
        config(
            'accept_proxy = true\nproxy_trusted = ["10.0.1.0/24"]',
            pool_extra='send_proxy = "v2"',
            server_extra='send_proxy = "none"',
        )
    )
    text = summarize(cfg)
    assert "  PROXY header first, from 10.0.1.0/24 only\n" in text
    lines = text.splitlines()
    assert not next(x for x in lines if "10.0.0.1:80" in x).endswith("send PROXY v2")
    assert next(x for x in lines if "10.0.0.2:80" in x).endswith("send PROXY v2")


def test_a_vip_fed_by_ipvs_cannot_expect_a_header() -> None:
    policies = Path(__file__).resolve().parents[2] / "policies"
    text = (policies / "lvs-dr.toml").read_text()
    assert not [v for v in parse_config(text).vips if v.accept_proxy]
    first = text.index("[[vip]]")
    at = text.index("\n", text.index("listen", first)) + 1
    changed = text[:at] + 'accept_proxy = true\nproxy_trusted = ["10.0.1.0/24"]\n' + text[at:]
    issue = one(changed)
    assert issue.path.endswith("accept_proxy") and issue.path.startswith("vip ")
    assert "carry no PROXY header" in issue.message
    assert "IPVS keeps the client's address" in issue.hint
