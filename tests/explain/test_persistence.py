"""``l7lb explain`` on persistence: every mode of the shipped policies, and the
cookie decoded and checked (valid, forged, expired, malformed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from explain_helpers import POLICIES, Result, mint_cookie

from l7lb.config.load import load_config
from l7lb.persistence.cookie import CookieCodec

Run = Callable[..., Result]
COOKIE = str(POLICIES / "persistence-cookie.toml")
SHOP = "https://shop.example.com/cart"
CLIENT = ("--from", "198.51.100.7")


def head_lines(out: dict[str, Any]) -> list[str]:
    """The head's lines, field names lower-cased (the proxy keeps the client's spelling)."""
    lines = str(out["backend"]["head"]).split("\r\n")
    return lines[:1] + [_lower_name(line) for line in lines[1:]]


def _lower_name(line: str) -> str:
    name, sep, value = line.partition(":")
    return name.lower() + sep + value if sep else line


def test_cookie_absent_schedules_and_sets_one(run: Run) -> None:
    out = run("-c", COOKIE, "--json", *CLIENT, "--cookie", "theme=dark", SHOP).json
    per = out["persistence"]
    assert per["mode"] == "cookie" and per["name"] == "SHOPSRV"
    assert per["status"] == "absent" and per["stuck_to"] is None
    assert out["decision"]["how"] == "scheduled"
    server = out["decision"]["server"]
    assert server in ("shop1", "shop2", "shop3")
    [(name, value), cache] = out["response_headers"]
    assert name == "set-cookie" and value.startswith("SHOPSRV=")
    assert "; Secure" in value  # the https VIP
    assert cache == ["cache-control", "private"]  # nocache = true
    # the value names the server the request went to
    p = load_config(COOKIE).pools["shop"]
    codec = CookieCodec(p.persistence.secret, {"shop": [s.name for s in p.servers]})
    assert codec.decode(value.split(";")[0].split("=", 1)[1], "shop", 2**31, None, None) == server
    assert "cookie: theme=dark" in head_lines(out)


def test_cookie_valid_sticks_and_backend_never_sees_it(run: Run) -> None:
    value = mint_cookie(Path(COOKIE), "shop", "shop3", issued_ago=3600, seen_ago=60)
    out = run(
        "-c",
        COOKIE,
        "--json",
        *CLIENT,
        "--cookie",
        "theme=dark",
        "--cookie",
        f"SHOPSRV={value}",
        SHOP,
    ).json
    per = out["persistence"]
    assert (per["status"], per["server"], per["stuck_to"], per["lookup"]) == (
        "valid",
        "shop3",
        "shop3",
        "cookie",
    )
    assert per["value"] == value
    assert "(60m ago)" in per["facts"]["issued"]
    assert out["decision"]["how"] == "stuck" and out["decision"]["server"] == "shop3"
    assert out["backend"]["server"] == "shop3"
    # indirect: the backend gets the other cookies, not SHOPSRV; no Set-Cookie is due
    assert "cookie: theme=dark" in head_lines(out)
    assert "SHOPSRV" not in out["backend"]["head"]
    assert out["response_headers"] == []


def test_cookie_forged(run: Run) -> None:
    value = mint_cookie(Path(COOKIE), "shop", "shop3", issued_ago=60, seen_ago=60)
    forged = value[:-4] + ("AAAA" if value[-4:] != "AAAA" else "BBBB")
    out = run("-c", COOKIE, "--json", *CLIENT, "--cookie", f"SHOPSRV={forged}", SHOP).json
    per = out["persistence"]
    assert per["status"] == "forged"
    assert per["server"] == "shop3"  # what the value claims, signature aside
    assert per["stuck_to"] is None
    assert "signature does not verify" in per["why"]
    assert out["decision"]["how"] == "scheduled"
    assert out["response_headers"][0][1].startswith("SHOPSRV=")  # replaced

    # a value signed under another secret names no server of this pool at all
    other = CookieCodec(b"another secret, 32 bytes long...", {"shop": ["shop1"]})
    alien = other.encode("shop", "shop1", 1_700_000_000, 1_700_000_000)
    out = run("-c", COOKIE, "--json", *CLIENT, "--cookie", f"SHOPSRV={alien}", SHOP).json
    assert out["persistence"]["status"] == "forged"
    assert out["persistence"]["server"] is None


def test_cookie_expired_by_life_and_by_idle(run: Run) -> None:
    # max_life = "8h", max_idle = "30m" in the policy
    old = mint_cookie(Path(COOKIE), "shop", "shop2", issued_ago=9 * 3600, seen_ago=60)
    out = run("-c", COOKIE, "--json", *CLIENT, "--cookie", f"SHOPSRV={old}", SHOP).json
    per = out["persistence"]
    assert (per["status"], per["server"], per["stuck_to"]) == ("expired", "shop2", None)
    assert "max_life 8h00m" in per["why"]
    assert out["decision"]["how"] == "scheduled"

    idle = mint_cookie(Path(COOKIE), "shop", "shop2", issued_ago=3600, seen_ago=31 * 60)
    res = run("-c", COOKIE, *CLIENT, "--cookie", f"SHOPSRV={idle}", SHOP)
    assert "expired: signed for server shop2 but expired (idle 31m > max_idle 30m)" in res.out


def test_cookie_refreshed_when_a_quarter_of_max_idle_passed(run: Run) -> None:
    value = mint_cookie(Path(COOKIE), "shop", "shop1", issued_ago=3600, seen_ago=10 * 60)
    out = run("-c", COOKIE, "--json", *CLIENT, "--cookie", f"SHOPSRV={value}", SHOP).json
    assert out["decision"]["server"] == "shop1"
    [(name, fresh), _] = out["response_headers"]
    assert name == "set-cookie" and fresh.split(";")[0] != f"SHOPSRV={value}"


def test_cookie_malformed(run: Run) -> None:
    out = run("-c", COOKIE, "--json", *CLIENT, "--cookie", "SHOPSRV=shop1", SHOP).json
    assert out["persistence"]["status"] == "malformed"
    assert out["decision"]["how"] == "scheduled"


PREFIX = str(POLICIES / "persistence-prefix.toml")


def test_prefix_mode(run: Run) -> None:
    url = "http://192.0.2.30/app"
    out = run("-c", PREFIX, "--json", *CLIENT, url).json
    per = out["persistence"]
    assert per["status"] == "absent"
    ids = {k[len("id of ") :]: v for k, v in per["facts"].items()}
    assert set(ids) == {"app1", "app2"}

    value = f"{ids['app2']}~sess42"
    out = run("-c", PREFIX, "--json", *CLIENT, "--cookie", f"PHPSESSID={value}", url).json
    per = out["persistence"]
    assert (per["status"], per["server"], per["stuck_to"]) == ("valid", "app2", "app2")
    assert out["decision"]["how"] == "stuck"
    # the application sees its own value, without the prefix
    assert "cookie: PHPSESSID=sess42" in head_lines(out)

    out = run("-c", PREFIX, "--json", *CLIENT, "--cookie", "PHPSESSID=AAAAAAAA~sess42", url).json
    assert out["persistence"]["status"] == "unknown-id"
    assert out["decision"]["how"] == "scheduled"

    out = run("-c", PREFIX, "--json", *CLIENT, "--cookie", "PHPSESSID=sess42", url).json
    assert out["persistence"]["status"] == "unprefixed"


JSESSION = str(POLICIES / "persistence-jsessionid.toml")
PORTAL = "http://portal.example.com/cart"


def test_jsessionid_route_suffix_in_cookie_path_and_query(run: Run) -> None:
    out = run("-c", JSESSION, "--json", *CLIENT, "--cookie", "JSESSIONID=4F2AC1.node2", PORTAL).json
    per = out["persistence"]
    assert (per["status"], per["server"], per["found_in"], per["lookup"]) == (
        "route",
        "tomcat2",
        "cookie",
        "route",
    )
    assert out["decision"]["server"] == "tomcat2" and out["decision"]["how"] == "stuck"
    # the application's cookie is its own: it goes through untouched
    assert "cookie: JSESSIONID=4F2AC1.node2" in head_lines(out)

    out = run(
        "-c", JSESSION, "--json", *CLIENT, PORTAL.replace("/cart", "/cart;jsessionid=AB.node1")
    ).json
    assert (out["persistence"]["found_in"], out["decision"]["server"]) == ("path", "tomcat1")
    assert out["backend"]["head"].startswith("GET /cart;jsessionid=AB.node1 HTTP/1.1\r\n")

    out = run("-c", JSESSION, "--json", *CLIENT, PORTAL + "?sid=CD.node2").json
    assert (out["persistence"]["found_in"], out["decision"]["server"]) == ("query", "tomcat2")


def test_jsessionid_learned_and_unknown(run: Run) -> None:
    out = run("-c", JSESSION, "--json", *CLIENT, "--cookie", "JSESSIONID=4F2AC1", PORTAL).json
    per = out["persistence"]
    assert per["status"] == "no-route" and per["stuck_to"] is None
    assert "learned table tomcat" in per["why"]
    assert out["decision"]["how"] == "scheduled"
    assert any("asks the supervisor" in s for s in out["decision"]["steps"])

    out = run("-c", JSESSION, "--json", *CLIENT, "--cookie", "JSESSIONID=4F2AC1.node9", PORTAL).json
    assert out["persistence"]["status"] == "unknown-route"

    out = run("-c", JSESSION, "--json", *CLIENT, PORTAL).json
    assert out["persistence"]["status"] == "absent"
    assert "learned" in out["persistence"]["why"]


SOURCE = str(POLICIES / "persistence-source.toml")


def test_source_mode_key_and_record(run: Run) -> None:
    out = run("-c", SOURCE, "--json", "--from", "198.51.100.77", "http://192.0.2.50/").json
    per = out["persistence"]
    assert (per["status"], per["value"]) == ("key", "198.51.100.0/24")
    assert per["facts"]["table"] == "site"
    d = out["decision"]
    assert d["how"] == "scheduled"
    assert d["records"] == [{"table": "site", "key": "198.51.100.0/24", "server": d["server"]}]

    out = run("-c", SOURCE, "--json", "--from", "2001:db8:1:2:3::4", "https://192.0.2.50/").json
    assert out["vip"]["name"] == "site-https"
    assert out["persistence"]["value"] == "2001:db8:1:2::/64"
    assert out["decision"]["records"][0]["key"] == "2001:db8:1:2::/64"


def test_demo_policy_persistence_cookie(run: Run) -> None:
    out = run("-c", str(POLICIES / "demo.toml"), "--json", "http://127.0.0.1:8080/").json
    assert out["vip"]["name"] == "demo"
    assert out["persistence"]["name"] == "L7LB"
    # wrr 2:1:1: a fresh worker's first pick is the heaviest server
    assert out["decision"]["server"] == "demo-1"
    assert "shares: demo-1 50%, demo-2 25%, demo-3 25%" in out["decision"]["scheduler_note"]
