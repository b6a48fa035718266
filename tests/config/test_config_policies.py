"""Every shipped policy loads; the demo matches what docs and README promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from l7lb.config.load import load_config, parse_config
from l7lb.config.model import Address, Scheduler

POLICIES = Path(__file__).resolve().parents[2] / "policies"


def test_the_policies_directory_has_the_documented_files() -> None:
    names = {path.name for path in POLICIES.glob("*.toml")}
    assert {"demo.toml", "virtual-hosts.toml", "path-split.toml", "sorry-page.toml"} <= names


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
