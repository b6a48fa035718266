"""Cookie jar, request building, weighted paths and option parsing: plain data in, data out."""

from __future__ import annotations

import collections

import pytest
from hypothesis import given
from hypothesis import strategies as st

from l7lb.bench.cookies import CookieJar, parse_set_cookie
from l7lb.bench.options import (
    BackendIdSpec,
    BenchOptions,
    OptionError,
    build_parser,
    options_from_args,
    parse_path_weight,
)
from l7lb.bench.request import RequestTemplate, weighted_cycle
from l7lb.bench.stats import RunStats


def test_set_cookie_name_value_and_attributes() -> None:
    assert parse_set_cookie("SRV=b1; Path=/; HttpOnly", 0) == ("SRV", "b1", False)
    assert parse_set_cookie('id="a=b"; Secure', 0) == ("id", "a=b", False)
    assert parse_set_cookie("novalue", 0) is None
    assert parse_set_cookie("=x", 0) is None


def test_max_age_zero_and_past_expires_delete() -> None:
    jar = CookieJar()
    jar.set_cookie("a=1", 0)
    jar.set_cookie("b=2; Max-Age=60", 0)
    assert jar.header == "a=1; b=2"
    jar.set_cookie("a=; Max-Age=0", 0)
    assert jar.header == "b=2"
    jar.set_cookie("b=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT", 1000.0)
    assert jar.header == ""
    # Max-Age wins over Expires (RFC 6265 5.3).
    jar.set_cookie("c=3; Max-Age=10; Expires=Thu, 01 Jan 1970 00:00:00 GMT", 1000.0)
    assert jar.get("c") == "3"


def test_weighted_cycle_interleaves() -> None:
    assert weighted_cycle([("/a", 2), ("/b", 1)]) == ["/a", "/b", "/a"]
    cycle = weighted_cycle([("/a", 3), ("/b", 1), ("/c", 2)])
    assert collections.Counter(cycle) == {"/a": 3, "/b": 1, "/c": 2}


@given(st.lists(st.integers(min_value=1, max_value=20), min_size=1, max_size=6))
def test_weighted_cycle_counts_match_weights(weights: list[int]) -> None:
    paths = [(f"/{i}", w) for i, w in enumerate(weights)]
    counts = collections.Counter(weighted_cycle(paths))
    assert counts == {p: w for p, w in paths}


def test_request_bytes() -> None:
    template = RequestTemplate("POST", "example.test", [("/x", 1)], [("X-A", "1")], b"hello")
    data = template.render(0, "a=1; b=2", close=True)
    assert data == (
        b"POST /x HTTP/1.1\r\nHost: example.test\r\nUser-Agent: l7lb-bench/0.1\r\n"
        b"Content-Length: 5\r\nX-A: 1\r\nCookie: a=1; b=2\r\nConnection: close\r\n\r\nhello"
    )
    plain = RequestTemplate("GET", "h", [("/", 1)], [("Host", "other")])
    assert plain.render(0, "", False) == (
        b"GET / HTTP/1.1\r\nUser-Agent: l7lb-bench/0.1\r\nHost: other\r\n\r\n"
    )


def test_path_weight_parsing() -> None:
    assert parse_path_weight("/a") == ("/a", 1)
    assert parse_path_weight("/a:3") == ("/a", 3)
    assert parse_path_weight("/a:b") == ("/a:b", 1)
    with pytest.raises(OptionError):
        parse_path_weight("a")


def parse(*argv: str) -> BenchOptions:
    return options_from_args(build_parser().parse_args(list(argv)))


def test_options() -> None:
    opts = parse("http://h/", "--new-conn", "-c", "4", "-p", "8", "--check-sticky", "header:X-B")
    assert opts.keepalive == 1
    assert opts.procs == 4  # never more processes than connections
    assert opts.check_sticky == BackendIdSpec("header", "x-b")
    assert opts.to_dict()["check_sticky"] == "header:x-b"
    for bad in (["ftp://h/"], ["http://h/", "-c", "0"], ["http://h/", "--check-sticky", "x"], []):
        with pytest.raises(OptionError):
            parse(*bad)


def test_stats_stickiness_and_merge() -> None:
    a, b = RunStats(), RunStats()
    for backend in ("b1", "b1", "b2", "b1"):
        a.record_backend(0, backend)
    b.record_backend(1, "b2")
    b.record_error("reset", 0)
    a.record_response(200, 100, 0)
    a.merge(RunStats.from_wire(b.to_wire()))
    s = a.summary()
    assert s["stickiness"]["violations"] == 1
    assert s["stickiness"]["switches"] == 2
    assert s["stickiness"]["spread"] == {"b1": 1, "b2": 1}
    assert s["stickiness"]["violation_samples"] == {"0": ["b1", "b2"]}
    assert s["errors"] == {"reset": 1}
    assert s["requests"] == 2 and s["error_ratio"] == 0.5


def test_stats_handshakes_per_url_and_second_merge() -> None:
    a, b = RunStats(), RunStats()
    a.started_at, b.started_at = 100.5, 100.2
    a.record_connection(10, True, False, 0, "https://a/")
    a.record_connection(10, True, True, 1, "https://b/")
    b.record_connection(10, True, True, 1, "https://a/")
    b.record_connection(10, True, True, 2, "https://b/")
    b.record_connection(10, False, False, 2)  # plain HTTP: no handshake, no URL breakdown
    a.merge(RunStats.from_wire(b.to_wire()))
    s = a.summary()
    assert s["started_at"] == 100.2  # the first process to start
    assert s["handshakes"] == {"full": 1, "resumed": 3, "resumed_ratio": 0.75}
    assert s["by_url"] == {
        "https://a/": {"connections": 2, "full": 1, "resumed": 1, "resumed_ratio": 0.5},
        "https://b/": {"connections": 2, "full": 0, "resumed": 2, "resumed_ratio": 1.0},
    }
    per_second = {
        t["second"]: (t["handshakes_full"], t["handshakes_resumed"]) for t in s["timeline"]
    }
    assert per_second == {0: (1, 0), 1: (0, 2), 2: (0, 1)}
