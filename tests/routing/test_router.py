"""Router: each condition, first-match order, and the host rules."""

from __future__ import annotations

import ipaddress
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.config.model import HeaderMatch, Match, Route
from l7lb.routing.router import Router


def r(name: str, **match: object) -> Route:
    return Route(name=name, match=Match(**match), pool="p")  # type: ignore[arg-type]


def pick(router: Router, **kw: object) -> str | None:
    args: dict[str, object] = {
        "method": b"GET",
        "host": b"www.example.com",
        "path": b"/",
        "headers": [],
        "source": "192.0.2.10",
    }
    args.update(kw)
    route = router.route(**args)  # type: ignore[arg-type]
    return None if route is None else route.name


def test_first_match_wins_and_none_when_nothing_matches() -> None:
    router = Router((r("api", path_prefix="/api"), r("api2", path_prefix="/api"), r("any")))
    assert pick(router, path=b"/api/x") == "api"
    assert pick(router, path=b"/web") == "any"
    assert pick(Router((r("api", path_prefix="/api"),)), path=b"/web") is None
    assert pick(Router(()), path=b"/") is None


def test_exact_host_ignores_case_port_and_trailing_dot() -> None:
    router = Router((r("h", hosts=("www.example.com",)),))
    for host in (
        b"www.example.com",
        b"WWW.Example.COM",
        b"www.example.com:8080",
        b"www.example.com.",
    ):
        assert pick(router, host=host) == "h", host
    assert pick(router, host=b"example.com") is None
    assert pick(router, host=b"") is None
    assert pick(router, host=b"www.example.com.evil.net") is None


def test_wildcard_host_matches_any_depth_but_not_the_bare_domain() -> None:
    # nginx semantics, documented in router.py
    router = Router((r("w", hosts=("*.example.com",)),))
    assert pick(router, host=b"a.example.com") == "w"
    assert pick(router, host=b"a.b.example.com:443") == "w"
    assert pick(router, host=b"A.Example.Com") == "w"
    assert pick(router, host=b"example.com") is None
    assert pick(router, host=b"badexample.com") is None
    assert pick(router, host=b".example.com") is None


def test_hosts_list_is_an_or_of_exact_and_wildcard() -> None:
    router = Router((r("m", hosts=("example.com", "*.example.org")),))
    assert pick(router, host=b"example.com") == "m"
    assert pick(router, host=b"x.example.org") == "m"
    assert pick(router, host=b"example.org") is None


def test_ipv6_literal_host() -> None:
    router = Router((r("v6", hosts=("[2001:db8::1]",)), r("v6bare", hosts=("2001:db8::2",))))
    assert pick(router, host=b"[2001:DB8::1]:8443") == "v6"
    assert pick(router, host=b"[2001:db8::2]") == "v6bare"
    assert pick(router, host=b"[2001:db8::3]") is None


def test_idn_host_compared_in_punycode() -> None:
    router = Router((r("idn", hosts=("bücher.example",)),))
    assert pick(router, host=b"xn--bcher-kva.example") == "idn"


def test_path_prefix_is_a_plain_prefix() -> None:
    router = Router((r("p", path_prefix="/static/"),))
    assert pick(router, path=b"/static/app.js") == "p"
    assert pick(router, path=b"/static") is None
    assert pick(router, path=b"/x/static/") is None


def test_path_regex_has_search_semantics() -> None:
    router = Router((r("re", path_regex=re.compile(r"\.(png|jpe?g)$")),))
    assert pick(router, path=b"/img/a.png") == "re"
    assert pick(router, path=b"/img/a.jpeg") == "re"
    assert pick(router, path=b"/img/a.png/x") is None
    anchored = Router((r("a", path_regex=re.compile(r"^/v[0-9]+/")),))
    assert pick(anchored, path=b"/v2/users") == "a"
    assert pick(anchored, path=b"/api/v2/users") is None


def test_path_regex_sees_non_ascii_bytes_losslessly() -> None:
    router = Router((r("u", path_regex=re.compile("/café$")),))
    assert pick(router, path="/café".encode()) == "u"
    assert pick(router, path=b"/caf\xff") is None  # invalid UTF-8 does not raise


def test_methods() -> None:
    router = Router((r("w", methods=("POST", "PUT")), r("rest")))
    assert pick(router, method=b"POST") == "w"
    assert pick(router, method=b"PUT") == "w"
    assert pick(router, method=b"GET") == "rest"


def test_header_present_exact_and_regex() -> None:
    router = Router(
        (
            r("exact", headers=(HeaderMatch(b"x-env", value="canary"),)),
            r("regex", headers=(HeaderMatch(b"user-agent", regex=re.compile(r"(?i)mobile")),)),
            r("present", headers=(HeaderMatch(b"x-debug"),)),
            r("rest"),
        )
    )
    assert pick(router, headers=[(b"x-env", b"canary")]) == "exact"
    assert pick(router, headers=[(b"x-env", b"Canary")]) == "rest"  # exact is case-sensitive
    assert pick(router, headers=[(b"user-agent", b"Foo Mobile/1")]) == "regex"
    assert pick(router, headers=[(b"x-debug", b"")]) == "present"
    assert pick(router, headers=[(b"x-other", b"canary")]) == "rest"
    # a repeated header matches when any one of its fields does
    assert pick(router, headers=[(b"x-env", b"prod"), (b"x-env", b"canary")]) == "exact"


def test_all_conditions_must_hold() -> None:
    route = r(
        "all",
        hosts=("api.example.com",),
        path_prefix="/v1",
        methods=("GET",),
        headers=(HeaderMatch(b"x-key"),),
    )
    router = Router((route,))
    good = {"host": b"api.example.com", "path": b"/v1/x", "headers": [(b"x-key", b"1")]}
    assert pick(router, **good) == "all"
    changes: tuple[dict[str, object], ...] = (
        {"host": b"www.example.com"},
        {"path": b"/v2"},
        {"method": b"POST"},
        {"headers": []},
    )
    for change in changes:
        assert pick(router, **{**good, **change}) is None, change


def test_sources_by_cidr_v4_v6_and_mapped() -> None:
    router = Router(
        (
            r(
                "office",
                sources=(
                    ipaddress.ip_network("10.1.0.0/16"),
                    ipaddress.ip_network("2001:db8:1::/48"),
                ),
            ),
            r("rest"),
        )
    )
    assert pick(router, source="10.1.200.3") == "office"
    assert pick(router, source="10.2.0.1") == "rest"
    assert pick(router, source="2001:db8:1::99") == "office"
    assert pick(router, source="2001:db8:2::99") == "rest"
    assert pick(router, source="::ffff:10.1.0.1") == "office"  # dual-stack listener
    assert pick(router, source="") == "rest"  # Unix socket peer: no IP, no match
    assert pick(router, source="not an ip") == "rest"


def test_source_is_not_parsed_when_no_route_needs_it() -> None:
    # an unparsable source must not matter to routes without source conditions
    router = Router((r("a", path_prefix="/a"), r("b")))
    assert pick(router, source="garbage", path=b"/a") == "a"


@settings(max_examples=100, deadline=None)
@given(
    st.ip_addresses(v=4),
    st.integers(min_value=0, max_value=32),
    st.ip_addresses(v=4),
)
def test_source_match_agrees_with_ipaddress(
    net_ip: ipaddress.IPv4Address, prefix: int, client: ipaddress.IPv4Address
) -> None:
    net = ipaddress.ip_network(f"{net_ip}/{prefix}", strict=False)
    router = Router((r("in", sources=(net,)),))
    assert (pick(router, source=str(client)) == "in") == (client in net)


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[a-z]{1,5}(\.[a-z]{1,5}){0,3}", fullmatch=True))
def test_wildcard_agrees_with_suffix_rule(host: str) -> None:
    router = Router((r("w", hosts=("*.ab.cd",)),))
    expected = host.endswith(".ab.cd")
    assert (pick(router, host=host.encode()) == "w") == expected
