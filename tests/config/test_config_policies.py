"""Every shipped policy loads; the demo matches what docs and README promise."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from l7lb.config.load import load_config, parse_config
from l7lb.config.model import Address, PersistenceMode, Scheduler
from l7lb.tls.settings import TlsSettings

POLICIES = Path(__file__).resolve().parents[2] / "policies"


def test_the_policies_directory_has_the_documented_files() -> None:
    names = {path.name for path in POLICIES.glob("*.toml")}
    assert {"demo.toml", "virtual-hosts.toml", "path-split.toml", "sorry-page.toml"} <= names
    assert {
        "persistence-cookie.toml",
        "persistence-prefix.toml",
        "persistence-jsessionid.toml",
        "persistence-source.toml",
        "https-offload.toml",
        "two-directors.toml",
    } <= names


def test_every_policy_is_listed_in_the_configuration_reference() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    for path in POLICIES.glob("*.toml"):
        assert f"| `{path.name}` |" in text, path.name


@pytest.mark.parametrize("path", sorted(POLICIES.glob("*.toml")), ids=lambda p: p.name)
def test_policy_loads(path: Path) -> None:
    cfg = load_config(str(path))
    assert cfg.vips
    assert cfg.source == path.read_text()


def test_demo_policy() -> None:
    cfg = load_config(str(POLICIES / "demo.toml"))
    vip, tls_vip = cfg.vips
    assert vip.listen == (Address("127.0.0.1", 8080),)
    assert tls_vip.listen == (Address("127.0.0.1", 8443),)
    assert tls_vip.tls is not None and tls_vip.routes[0].pool == "demo"
    pool = cfg.pools["demo"]
    assert pool.scheduler is Scheduler.WRR
    assert [server.address for server in pool.servers] == [
        Address("127.0.0.1", 9001),
        Address("127.0.0.1", 9002),
        Address("127.0.0.1", 9003),
    ]
    assert vip.routes[0].pool == "demo"


def test_virtual_hosts_policy_routes_by_host() -> None:
    cfg = load_config(str(POLICIES / "virtual-hosts.toml"))
    routes = cfg.vips[0].routes
    assert [(r.match.hosts, r.pool) for r in routes[:2]] == [
        (("shop.example.com", "*.shop.example.com"), "shop"),
        (("blog.example.com",), "blog"),
    ]


def test_path_split_policy_sends_api_first() -> None:
    cfg = load_config(str(POLICIES / "path-split.toml"))
    routes = cfg.vips[0].routes
    assert routes[0].match.path_prefix == "/api/"
    assert routes[0].pool == "api"
    assert routes[-1].pool == "web"
    assert routes[-1].match.hosts == () and routes[-1].match.path_prefix is None


def test_sorry_page_policy_has_a_503_fallback() -> None:
    cfg = load_config(str(POLICIES / "sorry-page.toml"))
    fallback = cfg.pools["web"].fallback_response
    assert fallback is not None
    assert fallback.status == 503
    assert b"back" in fallback.body
    assert fallback.content_type.startswith("text/html")


def test_cookie_policy_shares_one_pool_between_http_and_https() -> None:
    cfg = load_config(str(POLICIES / "persistence-cookie.toml"))
    http, https = cfg.vips
    assert http.tls is None and isinstance(https.tls, TlsSettings)
    assert {r.pool for r in http.routes} == {r.pool for r in https.routes} == {"shop"}
    p = cfg.pools["shop"].persistence
    assert p.mode is PersistenceMode.COOKIE
    assert p.indirect and p.nocache and p.name == "SHOPSRV"
    assert p.max_idle == 1800 and p.max_life == 8 * 3600
    assert len(p.secret) >= 16


def test_prefix_policy_prefixes_the_application_cookie() -> None:
    p = load_config(str(POLICIES / "persistence-prefix.toml")).pools["app"].persistence
    assert p.mode is PersistenceMode.PREFIX and p.name == "PHPSESSID" and p.secret


def test_jsessionid_policy_routes_by_suffix_and_learns() -> None:
    pool = load_config(str(POLICIES / "persistence-jsessionid.toml")).pools["tomcat"]
    p = pool.persistence
    assert p.mode is PersistenceMode.JSESSIONID and p.learn
    assert (p.name, p.path_param, p.query_param) == ("JSESSIONID", "jsessionid", "sid")
    assert p.timeout == 1800
    assert [(s.name, s.route) for s in pool.servers] == [
        ("tomcat1", "node1"),
        ("tomcat2", "node2"),
    ]


def test_source_policy_shares_one_table_across_ports() -> None:
    cfg = load_config(str(POLICIES / "persistence-source.toml"))
    http, https = cfg.pools["site-http"], cfg.pools["site-https"]
    for pool in (http, https):
        assert pool.persistence.mode is PersistenceMode.SOURCE
        assert pool.persistence.table == "site" and pool.persistence.mask == 24
    assert [s.name for s in http.servers] == [s.name for s in https.servers]
    assert isinstance(cfg.vips[1].tls, TlsSettings) and cfg.vips[0].tls is None


def test_https_offload_policy() -> None:
    cfg = load_config(str(POLICIES / "https-offload.toml"))
    https, twin = cfg.vips
    tls = https.tls
    assert isinstance(tls, TlsSettings)
    assert len(tls.certificates) == 3 and not tls.strict_sni and tls.default_certificate == 0
    assert tls.handshake_timeout == 5 and tls.session_lifetime == 600
    assert [r.match.hosts for r in https.routes] == [
        ("*.api.example.com",),
        ("www.example.com", "example.com"),
    ]
    assert twin.tls is None and twin.listen[0].port == 80
    (redirect_route,) = twin.routes
    assert redirect_route.redirect is not None
    assert redirect_route.redirect.location == "https://{hostname}{uri}"
    assert redirect_route.redirect.status == 301


def test_two_directors_policy_uses_a_shared_redis_store() -> None:
    cfg = load_config(str(POLICIES / "two-directors.toml"))
    store = cfg.store
    assert store is not None and store.shared and store.engine == "redis"
    assert store.namespace == "prod-eu" and len(store.session_keys) == 1
    assert store.timeout == 0.020 and store.ticket_rotation == 3600
    assert cfg.pools["www"].persistence.mode is PersistenceMode.SOURCE
    assert any(isinstance(v.tls, TlsSettings) for v in cfg.vips)


DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def _toml_blocks() -> list[str]:
    text = DOC.read_text()
    return [block.split("```", 1)[0] for block in text.split("```toml\n")[1:]]


def test_the_documented_file_shape_loads() -> None:
    cfg = parse_config(_toml_blocks()[0], "docs/configuration.md")
    assert cfg.workers == 2
    assert cfg.pools["api"].servers[0].name == "api1"
    assert cfg.vips[0].routes[0].match.sources


def test_the_documented_respond_sub_table_works() -> None:
    (block,) = [b for b in _toml_blocks() if "[vip.route.respond]" in b]
    text = '[[vip]]\nlisten = "127.0.0.1:1"\n' + block
    respond = parse_config(text).vips[0].routes[0].respond
    assert respond is not None and respond.status == 410
    assert respond.body == b"<h1>This site has moved</h1>\n"


def test_packaged_demo_policy_is_policies_demo() -> None:
    """`l7lb demo` reads the copy inside the package; it must not drift."""
    packaged = Path(__file__).parents[2] / "l7lb" / "demo" / "demo.toml"
    assert packaged.read_text() == (POLICIES / "demo.toml").read_text()


def test_every_whole_file_example_in_the_reference_loads() -> None:
    """Examples with a [[vip]] are complete files: each one must load as written."""
    whole = [b for b in _toml_blocks() if any(ln.startswith("[[vip]]") for ln in b.splitlines())]
    assert len(whole) >= 4
    for block in whole:
        parse_config(block, "docs/configuration.md")


def test_the_documented_tls_and_store_examples_load() -> None:
    (tls_block,) = [b for b in _toml_blocks() if "[vip.tls]" in b and "session_cache" in b]
    tls = parse_config(tls_block).vips[0].tls
    assert isinstance(tls, TlsSettings) and len(tls.certificates) == 3
    (store_block,) = [b for b in _toml_blocks() if b.startswith("[store]")]
    store = parse_config(store_block).store
    assert store is not None and store.engine == "redis" and store.namespace == "prod-eu"


def test_readme_configuration_examples_load() -> None:
    """The README's examples must run as written."""

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", readme, re.S)
    assert blocks
    for block in blocks:
        assert parse_config(block, "README.md").vips
