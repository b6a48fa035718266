"""``l7lb explain`` on routes: every condition, with the shipped policies where they
have it and small inline configurations where they do not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from explain_helpers import Result

Run = Callable[..., Result]


def conds(route: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(c["kind"], c["ok"]) for c in route["conditions"]]


def test_path_prefix_and_regex_path_split(run: Run) -> None:
    cfg = str(Path("policies/path-split.toml").resolve())
    out = run("-c", cfg, "--json", "http://192.0.2.1:8080/api/users?id=3").json
    assert out["vip"]["name"] == "site"
    assert out["route"] == "api"
    assert [(r["name"], r["matched"], r["chosen"]) for r in out["routes"]] == [
        ("api", True, True),
        ("api-root", False, False),
        ("web", True, False),  # the catch-all matches too, but comes later
    ]
    assert conds(out["routes"][0]) == [("path_prefix", True)]
    assert out["routes"][0]["conditions"][0]["wanted"] == ["/api/"]
    assert out["decision"]["pool"] == "api"

    out = run("-c", cfg, "--json", "http://192.0.2.1:8080/api").json
    assert out["route"] == "api-root"
    assert conds(out["routes"][0]) == [("path_prefix", False)]
    assert conds(out["routes"][1]) == [("path_regex", True)]
    assert out["routes"][1]["conditions"][0]["wanted"] == ["^/api$"]

    # "/apiary" is the trap the policy's comment names: neither api route takes it
    out = run("-c", cfg, "--json", "http://192.0.2.1:8080/apiary").json
    assert out["route"] == "web"
    assert [r["matched"] for r in out["routes"]] == [False, False, True]
    assert out["routes"][2]["conditions"] == []


def test_text_output_says_why(run: Run) -> None:
    res = run("-c", "policies/path-split.toml", "http://192.0.2.1:8080/apiary")
    assert res.rc == 0, res.err
    assert "path_prefix /api/: no (path /apiary)" in res.out
    assert "path_regex ^/api$: no (path /apiary)" in res.out
    assert "no conditions: matches every request" in res.out
    assert "answer      pool web, server" in res.out


def test_host_exact_wildcard_and_redirect_virtual_hosts(run: Run) -> None:
    cfg = "policies/virtual-hosts.toml"
    out = run("-c", cfg, "--json", "http://blog.example.com/post/1").json
    assert out["route"] == "blog"
    shop = out["routes"][0]
    assert conds(shop) == [("host", False)]
    assert shop["conditions"][0]["wanted"] == ["shop.example.com", "*.shop.example.com"]

    out = run("-c", cfg, "--json", "http://a.b.shop.example.com/cart").json
    assert out["route"] == "shop"
    assert out["routes"][0]["conditions"][0]["hits"] == ["*.shop.example.com"]

    out = run("-c", cfg, "--json", "-H", "Host: SHOP.example.com.:80", "http://192.0.2.1/").json
    assert out["route"] == "shop"
    assert out["routes"][0]["conditions"][0]["hits"] == ["shop.example.com"]

    out = run("-c", cfg, "--json", "http://weblog.example.com/2019/post?x=1").json
    assert out["route"] == "old-blog"
    assert out["answer"] == {
        "by": "l7lb",
        "status": 301,
        "summary": "301 redirect to https://blog.example.com/2019/post",
    }
    assert out["pool"] is None and out["backend"] is None

    res = run("-c", cfg, "http://example.net/")
    assert res.rc == 0
    assert "answer      404: no route matches this request" in res.out


def test_static_response_sorry_page(run: Run) -> None:
    out = run("-c", "policies/sorry-page.toml", "--json", "http://legacy.example.com/").json
    assert out["route"] == "maintenance"
    assert out["answer"]["status"] == 503
    assert out["answer"]["by"] == "l7lb"


INLINE = """
[[vip]]
name = "v"
listen = ["127.0.0.1:8080"]

  [[vip.route]]
  name = "writes"
  method = ["POST", "PUT"]
  pool = "a"

  [[vip.route]]
  name = "beta"
  header = { "X-Beta" = "1", "X-User" = { regex = '^[0-9]+$' } }
  pool = "a"

  [[vip.route]]
  name = "office"
  source = ["10.0.0.0/8", "2001:db8::/32"]
  pool = "a"

  [[vip.route]]
  name = "debug"
  header = { "X-Debug" = true }
  pool = "a"

[pool.a]
  [[pool.a.server]]
  address = "10.9.0.1:80"
"""


def test_method_header_and_source_conditions(run: Run, inline: Callable[[str], Path]) -> None:
    cfg = str(inline(INLINE))
    url = "http://127.0.0.1:8080/"
    out = run("-c", cfg, "--json", "-X", "PUT", url).json
    assert out["route"] == "writes"
    assert out["routes"][0]["conditions"][0] == {
        "kind": "method",
        "wanted": ["POST", "PUT"],
        "ok": True,
        "hits": ["POST", "PUT"],
    }

    out = run("-c", cfg, "--json", "-H", "X-Beta: 1", "-H", "X-User: 42", url).json
    assert out["route"] == "beta"
    assert [c["wanted"] for c in out["routes"][1]["conditions"]] == [
        ["x-beta = 1"],
        ["x-user ~ ^[0-9]+$"],
    ]

    out = run("-c", cfg, "--json", "-H", "X-Beta: 1", "-H", "X-User: bob", url).json
    assert conds(out["routes"][1]) == [("header", True), ("header", False)]
    assert out["route"] is None
    assert out["answer"]["status"] == 404

    out = run("-c", cfg, "--json", "--from", "10.20.30.40", url).json
    assert out["route"] == "office"
    assert out["routes"][2]["conditions"][0]["hits"] == ["10.0.0.0/8"]
    out = run("-c", cfg, "--json", "--from", "2001:db8::9", url).json
    assert out["routes"][2]["conditions"][0]["hits"] == ["2001:db8::/32"]
    out = run("-c", cfg, "--json", "--from", "192.0.2.1", "-H", "X-Debug: on", url).json
    assert out["route"] == "debug"
    assert conds(out["routes"][2]) == [("source", False)]

    text = run("-c", cfg, "--from", "192.0.2.1", "-H", "X-User: bob", url).out
    assert "header x-user ~ ^[0-9]+$: no (x-user: 'bob')" in text
    assert "source 10.0.0.0/8, 2001:db8::/32: no (client 192.0.2.1)" in text
    assert "header x-debug: no (no x-debug)" in text
