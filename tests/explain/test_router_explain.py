"""Router.explain: every condition judged, and never at odds with Router.route."""

from __future__ import annotations

import dataclasses
import ipaddress
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.config.model import HeaderMatch, Match, Route
from l7lb.routing.router import Router, describe_header


def r(name: str, **match: object) -> Route:
    return Route(name=name, match=Match(**match), pool="p")  # type: ignore[arg-type]


def explain(router: Router, **kw: object) -> list[tuple[str, bool, list[tuple[str, bool]]]]:
    args: dict[str, object] = {
        "method": b"GET",
        "host": b"www.example.com",
        "path": b"/",
        "headers": [],
        "source": "192.0.2.10",
    }
    args.update(kw)
    return [
        (v.route.name, v.matched, [(c.kind, c.ok) for c in v.conditions])
        for v in router.explain(**args)  # type: ignore[arg-type]
    ]


def test_every_route_is_judged_in_order_even_after_a_match() -> None:
    router = Router((r("api", path_prefix="/api"), r("any"), r("api2", path_prefix="/api")))
    got = explain(router, path=b"/api/x")
    assert got == [
        ("api", True, [("path_prefix", True)]),
        ("any", True, []),
        ("api2", True, [("path_prefix", True)]),
    ]
    got = explain(router, path=b"/web")
    assert [m for _, m, _ in got] == [False, True, False]


def test_all_conditions_judged_without_short_cut() -> None:
    # the method fails first in route(); explain still says the host would match
    router = Router((r("x", methods=("POST",), hosts=("www.example.com",), path_prefix="/a"),))
    [(_, matched, conds)] = explain(router, method=b"GET", path=b"/a/b")
    assert not matched
    assert conds == [("method", False), ("host", True), ("path_prefix", True)]


def test_host_exact_and_wildcard_hits() -> None:
    router = Router((r("h", hosts=("example.com", "*.example.com", "other.net")),))
    for host, hits in (
        (b"example.com", ("example.com",)),
        (b"A.B.Example.COM:8080", ("*.example.com",)),
        (b"example.org", ()),
        (b"", ()),
    ):
        [v] = router.explain(b"GET", host, b"/", [], "192.0.2.1")
        [cond] = v.conditions
        assert cond.kind == "host"
        assert cond.hits == hits, host
        assert cond.ok == bool(hits) == v.matched


def test_path_prefix_and_regex() -> None:
    router = Router(
        (r("p", path_prefix="/api/"), r("re", path_regex=re.compile(r"^/api$"))),
    )
    for path, want in ((b"/api/x", [True, False]), (b"/api", [False, True]), (b"/apiary", [0, 0])):
        got = [v.matched for v in router.explain(b"GET", b"h", path, [], "192.0.2.1")]
        assert got == [bool(w) for w in want], path
    [_, v] = router.explain(b"GET", b"h", b"/api", [], "192.0.2.1")
    assert v.conditions[0].wanted == ("^/api$",)


def test_methods() -> None:
    router = Router((r("m", methods=("GET", "HEAD")),))
    [v] = router.explain(b"HEAD", b"h", b"/", [], "192.0.2.1")
    assert v.matched and v.conditions[0].wanted == ("GET", "HEAD")
    [v] = router.explain(b"POST", b"h", b"/", [], "192.0.2.1")
    assert not v.matched and not v.conditions[0].ok and v.conditions[0].hits == ()


def test_headers_present_value_regex_each_judged() -> None:
    hs = (
        HeaderMatch(b"x-present"),
        HeaderMatch(b"x-value", value="yes"),
        HeaderMatch(b"x-regex", regex=re.compile(r"^[0-9]+$")),
    )
    router = Router((r("h", headers=hs),))
    assert [describe_header(h) for h in hs] == ["x-present", "x-value = yes", "x-regex ~ ^[0-9]+$"]
    headers = [(b"x-present", b""), (b"x-value", b"no"), (b"x-value", b"yes"), (b"x-regex", b"4a")]
    [v] = router.explain(b"GET", b"h", b"/", headers, "192.0.2.1")
    assert [(c.kind, c.ok) for c in v.conditions] == [
        ("header", True),
        ("header", True),  # a repeated header matches when one of its fields does
        ("header", False),
    ]
    assert not v.matched


def test_source_cidrs() -> None:
    nets = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32"))
    router = Router((r("s", sources=nets),))
    for source, hits in (
        ("10.1.2.3", ("10.0.0.0/8",)),
        ("::ffff:10.9.9.9", ("10.0.0.0/8",)),  # a dual-stack listener's IPv4 client
        ("2001:db8::5", ("2001:db8::/32",)),
        ("192.0.2.1", ()),
        ("-", ()),  # a Unix socket peer
    ):
        [v] = router.explain(b"GET", b"h", b"/", [], source)
        assert v.conditions[0].hits == hits, source
        assert v.matched == bool(hits)


def test_every_match_field_is_explained() -> None:
    # A condition added to Match (and to route()) but not to explain() would let
    # explain call a route matched while listing no failing condition: fail here.
    samples: dict[str, object] = {
        "hosts": ("nomatch.example",),
        "path_prefix": "/nomatch",
        "path_regex": re.compile("^/nomatch$"),
        "methods": ("DELETE",),
        "headers": (HeaderMatch(b"x-nomatch"),),
        "sources": (ipaddress.ip_network("198.51.100.0/24"),),
    }
    assert {f.name for f in dataclasses.fields(Match)} == set(samples)
    for name, value in samples.items():
        [v] = Router((r("x", **{name: value}),)).explain(b"GET", b"h", b"/", [], "192.0.2.1")
        assert not v.matched
        assert [c.ok for c in v.conditions] == [False], name


_HOSTS = ("example.com", "*.example.com", "a.example.com", "b.test")
_NETS = ("10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32")
_HEADER_CONDS = (
    HeaderMatch(b"x-a"),
    HeaderMatch(b"x-a", value="1"),
    HeaderMatch(b"x-b", regex=re.compile("^[0-9]+$")),
)

routes_st = st.builds(
    lambda i, hosts, prefix, regex, methods, headers, nets: r(
        f"r{i}",
        hosts=tuple(hosts),
        path_prefix=prefix,
        path_regex=re.compile(regex) if regex else None,
        methods=tuple(methods),
        headers=tuple(headers),
        sources=tuple(ipaddress.ip_network(n) for n in nets),
    ),
    st.integers(0, 99),
    st.lists(st.sampled_from(_HOSTS), max_size=2, unique=True),
    st.sampled_from([None, "/", "/api", "/api/"]),
    st.sampled_from([None, "^/api$", "x"]),
    st.lists(st.sampled_from(["GET", "POST", "HEAD"]), max_size=2, unique=True),
    st.lists(st.sampled_from(_HEADER_CONDS), max_size=2),
    st.lists(st.sampled_from(_NETS), max_size=2, unique=True),
)


@settings(max_examples=300, deadline=None)
@given(
    routes=st.lists(routes_st, max_size=5),
    method=st.sampled_from([b"GET", b"POST", b"HEAD"]),
    host=st.sampled_from(
        [b"example.com", b"A.example.com:80", b"x.a.example.com.", b"b.test", b""]
    ),
    path=st.sampled_from([b"/", b"/api", b"/api/x", b"/xyz", b"/apiary"]),
    headers=st.lists(
        st.tuples(st.sampled_from([b"x-a", b"x-b"]), st.sampled_from([b"1", b"2", b"z"])),
        max_size=3,
    ),
    source=st.sampled_from(["10.1.1.1", "192.0.2.9", "2001:db8::1", "::ffff:10.0.0.1", "-"]),
)
def test_explain_agrees_with_route(
    routes: list[Route],
    method: bytes,
    host: bytes,
    path: bytes,
    headers: list[tuple[bytes, bytes]],
    source: str,
) -> None:
    router = Router(tuple(routes))
    verdicts = router.explain(method, host, path, headers, source)
    assert [v.route for v in verdicts] == routes
    chosen = router.route(method, host, path, headers, source)
    first = next((v.route for v in verdicts if v.matched), None)
    assert first is chosen
    for v in verdicts:
        # a route matches exactly when every condition explain lists holds
        assert v.matched == all(c.ok for c in v.conditions)
        for c in v.conditions:
            assert c.ok == bool(c.hits)
            assert set(c.hits) <= set(c.wanted)
