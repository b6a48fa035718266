"""Every persistence mode end to end at the sans-IO level: lookup, backend
headers, response headers and table updates, with real PoolState objects."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.balancing import ServerState
from l7lb.balancing.pool_state import PoolState
from l7lb.config.load import parse_config
from l7lb.config.model import Pool
from l7lb.persistence.policy import NOT_STUCK, Stickiness, Sticky
from l7lb.persistence.setcookie import get_cookie
from l7lb.persistence.shared import StickTables, StickUpdate

NOW = 1_800_000_000.0
SECRET = "0123456789abcdef-test-secret"
Headers = list[tuple[bytes, bytes]]


def pools(
    persistence: str, servers: int = 3, extra_pool: str = "", routes: bool = False
) -> dict[str, Pool]:
    lines = []
    for i in range(1, servers + 1):
        route = f'route = "node{i}"' if routes else ""
        lines.append(f'[[pool.web.server]]\nname = "s{i}"\naddress = "10.0.0.{i}:80"\n{route}\n')
    text = textwrap.dedent(
        f"""
        [[vip]]
        name = "www"
        listen = ["127.0.0.1:8080"]
          [[vip.route]]
          pool = "web"

        [pool.web.persistence]
        {persistence}
        """
    )
    text += "\n".join(lines) + extra_pool
    return parse_config(text).pools


def make(persistence: str, tables: StickTables | None = None, **kw: object) -> Stickiness:
    pool = pools(persistence, **kw)["web"]  # type: ignore[arg-type]
    return Stickiness(pool, PoolState(pool), tables or StickTables())


def set_cookies(headers: Headers) -> list[bytes]:
    return [v for k, v in headers if k == b"set-cookie"]


def cookie_request(set_cookie: bytes) -> Headers:
    return [(b"host", b"www"), (b"cookie", b"a=1; " + set_cookie.split(b";")[0])]


COOKIE = f'mode = "cookie"\nsecret = "{SECRET}"'


# ---- cookie insertion ---------------------------------------------------------


def test_cookie_first_response_sets_cookie_and_next_request_sticks() -> None:
    s = make(COOKIE)
    assert s.enabled
    sticky = s.lookup(b"/", [(b"host", b"www")], "192.0.2.1", NOW)
    assert sticky is NOT_STUCK
    server = s.state.by_name["s2"]
    headers, updates = s.response_headers([(b"content-length", b"0")], server, sticky, False, NOW)
    assert updates == []
    (value,) = set_cookies(headers)
    assert value.startswith(b"L7LB=")
    assert b"; Path=/; HttpOnly" in value and b"Secure" not in value
    assert (b"cache-control", b"private") in headers  # nocache is the default
    again = s.lookup(b"/x", cookie_request(value), "198.51.100.9", NOW + 5)
    assert again.server is server and again.source == "cookie"


def test_a_new_cookie_header_with_a_known_l7lb_cookie_is_not_checked_again() -> None:
    """The application's own cookies change from request to request (a new Cookie header
    each time): l7lb's cookie in it, already checked, is not decoded again (the very same
    answer comes back), and a forged one is still checked and refused."""
    s = make(COOKIE)
    server = s.state.by_name["s2"]
    headers, _ = s.response_headers([(b"content-length", b"0")], server, NOT_STUCK, False, NOW)
    (value,) = set_cookies(headers)
    ours = value.split(b";")[0]
    first = s.lookup(b"/", [(b"host", b"www"), (b"cookie", b"app=1; " + ours)], "192.0.2.1", NOW)
    assert first.server is server and first.source == "cookie"
    for i in range(2, 5):
        header = b"app=%d; " % i + ours
        again = s.lookup(b"/", [(b"host", b"www"), (b"cookie", header)], "192.0.2.1", NOW)
        assert again is first
    forged = ours[:-2] + (b"AA" if not ours.endswith(b"AA") else b"BB")
    refused = s.lookup(
        b"/", [(b"host", b"www"), (b"cookie", b"app=9; " + forged)], "192.0.2.1", NOW
    )
    assert refused is NOT_STUCK


def test_cookie_indirect_hides_cookie_and_does_not_resend() -> None:
    s = make(COOKIE)
    server = s.state.by_name["s1"]
    headers, _ = s.response_headers([], server, NOT_STUCK, True, NOW)
    (value,) = set_cookies(headers)
    req = cookie_request(value)
    sticky = s.lookup(b"/", req, "192.0.2.1", NOW + 1)
    assert s.request_headers(req, sticky) == [(b"host", b"www"), (b"cookie", b"a=1")]
    out, _ = s.response_headers([(b"x", b"y")], server, sticky, True, NOW + 1)
    assert out == [(b"x", b"y")]  # valid value: no Set-Cookie, no Cache-Control change


def test_cookie_indirect_keeps_empty_fields_after_the_cookie() -> None:
    # stripping l7lb's cookie used to drop every empty-valued field that followed it
    s = make(COOKIE)
    server = s.state.by_name["s1"]
    headers, _ = s.response_headers([], server, NOT_STUCK, False, NOW)
    ours = set_cookies(headers)[0].split(b";")[0]
    for cookie, kept in ((b"a=1; " + ours, [(b"cookie", b"a=1")]), (ours, [])):
        req = [(b"host", b"www"), (b"cookie", cookie), (b"x-empty", b""), (b"x-after", b"1")]
        sticky = s.lookup(b"/", req, "192.0.2.1", NOW)
        assert sticky.server is server
        assert s.request_headers(req, sticky) == [
            (b"host", b"www"),
            *kept,
            (b"x-empty", b""),
            (b"x-after", b"1"),
        ]


def test_cookie_without_indirect_reaches_backend_and_is_resent() -> None:
    s = make(COOKIE + "\nindirect = false\nnocache = false")
    server = s.state.by_name["s1"]
    headers, _ = s.response_headers([], server, NOT_STUCK, False, NOW)
    req = cookie_request(set_cookies(headers)[0])
    sticky = s.lookup(b"/", req, "192.0.2.1", NOW)
    assert s.request_headers(req, sticky) is req
    out, _ = s.response_headers([], server, sticky, False, NOW + 1)
    assert len(set_cookies(out)) == 1
    assert not any(k == b"cache-control" for k, _ in out)


def test_cookie_secure_on_tls_and_attributes() -> None:
    s = make(
        COOKIE + '\nname = "SRV"\npath = "/app"\ndomain = "example.com"\n'
        'max_age = "1h"\nsamesite = "None"'
    )
    server = s.state.by_name["s3"]
    tls, _ = s.response_headers([], server, NOT_STUCK, True, NOW)
    (value,) = set_cookies(tls)
    assert value.split(b"=", 1)[0] == b"SRV"
    assert value.endswith(
        b"; Path=/app; Domain=example.com; Max-Age=3600; Secure; HttpOnly; SameSite=None"
    )
    plain, _ = s.response_headers([], server, NOT_STUCK, False, NOW)
    (value,) = set_cookies(plain)
    assert b"Secure" not in value and b"SameSite" not in value


def test_cookie_nocache_privatises_existing_cache_control() -> None:
    s = make(COOKIE)
    out, _ = s.response_headers(
        [(b"cache-control", b"public, max-age=60")], s.state.servers[0], NOT_STUCK, False, NOW
    )
    assert (b"cache-control", b"max-age=60, private") in out


@pytest.mark.parametrize("mangle", ["truncate", "flip", "empty", "garbage", "other_pool"])
def test_cookie_forged_values_are_not_stuck(mangle: str) -> None:
    s = make(COOKIE)
    headers, _ = s.response_headers([], s.state.by_name["s2"], NOT_STUCK, False, NOW)
    value = set_cookies(headers)[0].split(b";")[0].split(b"=", 1)[1]
    if mangle == "truncate":
        value = value[:-1]
    elif mangle == "flip":
        value = value[:10] + (b"A" if value[10:11] != b"A" else b"B") + value[11:]
    elif mangle == "empty":
        value = b""
    elif mangle == "garbage":
        value = b"\xff\x00;=" * 9
    else:
        # a valid value of a pool with the same server names but another name
        other_text = '\n[pool.api]\n[[pool.api.server]]\nname = "s2"\naddress = "10.1.0.2:80"\n'
        other = pools(COOKIE, extra_pool=other_text + f"[pool.api.persistence]\n{COOKIE}\n")
        api = other["api"]
        sa = Stickiness(api, PoolState(api), StickTables())
        h, _ = sa.response_headers([], sa.state.by_name["s2"], NOT_STUCK, False, NOW)
        value = set_cookies(h)[0].split(b";")[0].split(b"=", 1)[1]
    sticky = s.lookup(b"/", [(b"cookie", b"L7LB=" + value)], "192.0.2.1", NOW)
    assert sticky.server is None
    # and the response gives the client a fresh, valid cookie
    out, _ = s.response_headers([], s.state.by_name["s1"], sticky, False, NOW)
    assert len(set_cookies(out)) == 1


def test_cookie_values_minted_within_a_second_are_reused_per_server_and_scheme() -> None:
    # new clients in the same second get the same value (it depends on nothing else),
    # never another server's or scheme's, and a later second mints a fresh one
    s = make(COOKIE)
    s1, s2 = s.state.by_name["s1"], s.state.by_name["s2"]

    def minted(server: ServerState, secure: bool, now: float) -> bytes:
        headers, _ = s.response_headers([], server, NOT_STUCK, secure, now)
        (value,) = set_cookies(headers)
        return value

    first = minted(s1, False, NOW)
    assert minted(s1, False, NOW + 0.5) == first
    assert minted(s2, False, NOW + 0.5) != first
    assert b"Secure" in minted(s1, True, NOW + 0.5)
    later = minted(s1, False, NOW + 1)
    assert later != first
    for value, at in ((first, NOW), (later, NOW + 1)):
        stuck = s.lookup(b"/", cookie_request(value), "p", at)
        assert stuck.server is s1 and stuck.cookie is not None
        assert stuck.cookie.issued == int(at)
    assert s.lookup(b"/", cookie_request(minted(s2, False, NOW + 1)), "p", NOW + 1).server is s2


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=80))
def test_cookie_arbitrary_values_never_stick(value: bytes) -> None:
    s = make(COOKIE)
    assert s.lookup(b"/", [(b"cookie", b"L7LB=" + value)], "192.0.2.1", NOW).server is None


def test_cookie_max_idle_expiry_and_refresh() -> None:
    s = make(COOKIE + '\nmax_idle = "100s"\nmax_life = "1000s"')
    server = s.state.by_name["s1"]
    headers, _ = s.response_headers([], server, NOT_STUCK, False, NOW)
    req = cookie_request(set_cookies(headers)[0])
    early = s.lookup(b"/", req, "p", NOW + 10)
    assert early.server is server
    assert set_cookies(s.response_headers([], server, early, False, NOW + 10)[0]) == []
    late = s.lookup(b"/", req, "p", NOW + 30)  # a quarter of max_idle passed: refresh
    refreshed, _ = s.response_headers([], server, late, False, NOW + 30)
    (new,) = set_cookies(refreshed)
    assert s.lookup(b"/", req, "p", NOW + 101).server is None  # old value idle too long
    assert s.lookup(b"/", cookie_request(new), "p", NOW + 101).server is server
    assert s.lookup(b"/", cookie_request(new), "p", NOW + 1001).server is None  # max_life


def test_cookie_redispatch_restick() -> None:
    s = make(COOKIE)
    s1, s2 = s.state.by_name["s1"], s.state.by_name["s2"]
    headers, _ = s.response_headers([], s1, NOT_STUCK, False, NOW)
    sticky = s.lookup(b"/", cookie_request(set_cookies(headers)[0]), "p", NOW)
    s.state.mark_down("s1")
    assert s.usable(s1, 0.0) == "down"
    # the caller picks s2 instead: the client gets a cookie for s2
    out, _ = s.response_headers([], s2, sticky, False, NOW)
    moved = s.lookup(b"/", cookie_request(set_cookies(out)[0]), "p", NOW)
    assert moved.server is s2


# ---- server states ----------------------------------------------------------------


def test_drained_server_is_used_for_sticky_clients_but_not_new_ones() -> None:
    s = make(COOKIE)
    s1 = s.state.by_name["s1"]
    s.state.set_admin("s1", "drain")
    assert s.usable(s1, 0.0) == "ok"
    picks = {s.state.pick("192.0.2.1", None).name for _ in range(20)}  # type: ignore[union-attr]
    assert "s1" not in picks
    s.state.set_weight("s1", 0)
    s.state.set_admin("s1", "ready")
    assert s.usable(s1, 0.0) == "ok"
    s.state.set_admin("s1", "maint")
    assert s.usable(s1, 0.0) == "maint"


def test_usable_down_backoff_and_full() -> None:
    base = pools(COOKIE)["web"]
    pool = dataclasses.replace(base, servers=(dataclasses.replace(base.servers[0], max_conn=1),))
    s = Stickiness(pool, PoolState(pool), StickTables())
    s1 = s.state.servers[0]
    assert s.usable(s1, 5.0) == "ok"
    s.state.acquire(s1)
    assert s.usable(s1, 5.0) == "full"
    s.state.release(s1)
    s.state.mark_down("s1", until=10.0)
    assert s.usable(s1, 5.0) == "down"
    assert s.usable(s1, 10.0) == "ok"


# ---- prefix ---------------------------------------------------------------------------


def test_prefix_round_trip() -> None:
    s = make(f'mode = "prefix"\nsecret = "{SECRET}"')
    s3 = s.state.by_name["s3"]
    resp = [(b"set-cookie", b"JSESSIONID=abc123; Path=/; HttpOnly"), (b"x", b"1")]
    out, updates = s.response_headers(resp, s3, NOT_STUCK, False, NOW)
    assert updates == []
    (value,) = set_cookies(out)
    prefixed = value.split(b";")[0].split(b"=", 1)[1]
    assert prefixed.endswith(b"~abc123") and len(prefixed) == 8 + 1 + 6
    assert b"10.0.0" not in prefixed and b"s3" not in prefixed
    req = [(b"cookie", b"JSESSIONID=" + prefixed + b"; other=x")]
    sticky = s.lookup(b"/", req, "p", NOW)
    assert sticky.server is s3 and sticky.source == "prefix"
    assert s.request_headers(req, sticky) == [(b"cookie", b"JSESSIONID=abc123; other=x")]
    # unknown id: not stuck, and no cookie of l7lb's own is ever added
    bogus = [(b"cookie", b"JSESSIONID=AAAAAAAA~abc123")]
    assert s.lookup(b"/", bogus, "p", NOW).server is None
    assert s.response_headers([(b"x", b"1")], s3, NOT_STUCK, False, NOW)[0] == [(b"x", b"1")]


# ---- jsessionid ---------------------------------------------------------------------------


def test_jsessionid_route_suffix_in_path_cookie_and_query() -> None:
    s = make('mode = "jsessionid"\nquery_param = "sid"\nlearn = false', routes=True)
    node2 = s.state.by_name["s2"]
    for target, headers in (
        (b"/app;jsessionid=ABC.node2?x=1", []),
        (b"/app;JSESSIONID=ABC.node2", []),
        (b"/app", [(b"cookie", b"JSESSIONID=ABC.node2")]),
        (b"/app?x=1&sid=ABC.node2", []),
    ):
        sticky = s.lookup(target, headers, "p", NOW)
        assert sticky.server is node2 and sticky.source == "route", target
        assert s.request_headers(headers, sticky) is headers
    assert s.lookup(b"/app;jsessionid=ABC.node9", [], "p", NOW).server is None
    assert s.lookup(b"/app?jsessionid=ABC.node2", [], "p", NOW).server is None


def test_jsessionid_learned_from_set_cookie() -> None:
    tables = StickTables()
    s = make('mode = "jsessionid"\ntimeout = "60s"', tables=tables)
    s1 = s.state.by_name["s1"]
    first = s.lookup(b"/login", [], "p", NOW)
    assert first.server is None
    _, updates = s.response_headers(
        [(b"set-cookie", b"JSESSIONID=F00D; Path=/")], s1, first, False, NOW
    )
    assert updates == [StickUpdate("web", b"F00D", "s1")]
    by_cookie = s.lookup(b"/", [(b"cookie", b"JSESSIONID=F00D")], "p", NOW + 1)
    by_path = s.lookup(b"/a;jsessionid=F00D", [], "p", NOW + 1)
    assert by_cookie.server is s1 and by_path.server is s1 and by_path.source == "learned"
    assert s.dispatched(by_path, s1, NOW + 1) == []  # known everywhere, announced lately
    assert s.entries(NOW + 1) == {"s1": 1}
    assert s.lookup(b"/a;jsessionid=F00D", [], "p", NOW + 200).server is None  # idle expiry
    # a deletion is not learned
    _, none = s.response_headers(
        [(b"set-cookie", b"JSESSIONID=; Max-Age=0")], s1, NOT_STUCK, False, NOW
    )
    assert none == []


def test_jsessionid_learned_redispatch_resticks() -> None:
    s = make('mode = "jsessionid"')
    s1, s2 = s.state.by_name["s1"], s.state.by_name["s2"]
    s.response_headers([(b"set-cookie", b"JSESSIONID=abc")], s1, NOT_STUCK, False, NOW)
    sticky = s.lookup(b"/;jsessionid=abc", [], "p", NOW)
    assert sticky.server is s1
    assert s.dispatched(sticky, s2, NOW) == [StickUpdate("web", b"abc", "s2")]
    assert s.lookup(b"/;jsessionid=abc", [], "p", NOW).server is s2


def test_jsessionid_route_known_is_not_learned() -> None:
    s = make('mode = "jsessionid"', routes=True)
    _, updates = s.response_headers(
        [(b"set-cookie", b"JSESSIONID=xyz.node1")], s.state.by_name["s1"], NOT_STUCK, False, NOW
    )
    assert updates == []


def test_learned_entries_cross_workers_via_updates() -> None:
    worker_a = make('mode = "jsessionid"', tables=StickTables())
    worker_b = make('mode = "jsessionid"', tables=StickTables())
    s3a = worker_a.state.by_name["s3"]
    _, updates = worker_a.response_headers(
        [(b"set-cookie", b"JSESSIONID=sess1")], s3a, NOT_STUCK, False, NOW
    )
    assert worker_b.lookup(b"/;jsessionid=sess1", [], "p", NOW).server is None
    for u in updates:
        assert worker_b.apply(StickUpdate.from_json(u.to_json()), NOW)
    assert (
        worker_b.lookup(b"/;jsessionid=sess1", [], "p", NOW).server is worker_b.state.by_name["s3"]
    )


def test_busy_entry_is_reannounced_before_other_copies_expire() -> None:
    s = make('mode = "jsessionid"\ntimeout = "100s"')
    s1 = s.state.by_name["s1"]
    s.response_headers([(b"set-cookie", b"JSESSIONID=q")], s1, NOT_STUCK, False, NOW)
    sticky = s.lookup(b"/;jsessionid=q", [], "p", NOW + 10)
    assert s.dispatched(sticky, s1, NOW + 10) == []
    sticky = s.lookup(b"/;jsessionid=q", [], "p", NOW + 40)
    assert s.dispatched(sticky, s1, NOW + 40) == [StickUpdate("web", b"q", "s1")]


def test_stick_update_json_rejects_garbage() -> None:
    u = StickUpdate("t", b"\x00\xff", "s")
    assert StickUpdate.from_json(u.to_json().encode()) == u
    for bad in ("", "[]", '{"table":"t","key":"**","server":"s"}', '{"table":1}'):
        with pytest.raises(ValueError):
            StickUpdate.from_json(bad)


# ---- source address --------------------------------------------------------------------------


def test_source_mask_sticks_a_network() -> None:
    s = make('mode = "source"\nmask = 24\nmask6 = 64')
    s2 = s.state.by_name["s2"]
    first = s.lookup(b"/", [], "192.0.2.10", NOW)
    assert first.server is None and first.key == bytes([192, 0, 2, 0])
    assert s.dispatched(first, s2, NOW) == [StickUpdate("web", bytes([192, 0, 2, 0]), "s2")]
    same_net = s.lookup(b"/", [], "192.0.2.200", NOW + 1)
    assert same_net.server is s2 and same_net.source == "source"
    assert s.lookup(b"/", [], "::ffff:192.0.2.7", NOW + 1).server is s2
    assert s.lookup(b"/", [], "192.0.3.1", NOW + 1).server is None
    assert s.lookup(b"/", [], "-", NOW).key is None  # not an address: never an error
    assert s.lookup(b"/", [], "192.0.2.1", NOW + 400).server is None  # 360 s default


def test_source_table_shared_between_pools() -> None:
    extra = textwrap.dedent(
        """
        [pool.tls]
        [pool.tls.persistence]
        mode = "source"
        table = "site"
        [[pool.tls.server]]
        name = "s1"
        address = "10.0.0.1:443"
        [[pool.tls.server]]
        name = "s2"
        address = "10.0.0.2:443"
        """
    )
    cfg = pools('mode = "source"\ntable = "site"', extra_pool=extra)
    tables = StickTables()
    web = Stickiness(cfg["web"], PoolState(cfg["web"]), tables)
    tls = Stickiness(cfg["tls"], PoolState(cfg["tls"]), tables)
    sticky = web.lookup(b"/", [], "203.0.113.5", NOW)
    web.dispatched(sticky, web.state.by_name["s2"], NOW)
    got = tls.lookup(b"/", [], "203.0.113.5", NOW)
    assert got.server is tls.state.by_name["s2"]
    assert tables.names() == ["site"]
    assert tls.entries(NOW) == {"s2": 1}


def test_none_mode_is_inert() -> None:
    pool = pools('mode = "none"')["web"]
    s = Stickiness(pool, PoolState(pool), StickTables())
    headers: Headers = [(b"cookie", b"L7LB=x")]
    assert not s.enabled
    assert s.lookup(b"/", headers, "p", NOW) is NOT_STUCK
    assert s.request_headers(headers, NOT_STUCK) is headers
    assert s.response_headers(headers, s.state.servers[0], NOT_STUCK, True, NOW) == (headers, [])
    assert s.dispatched(Sticky(), s.state.servers[0], NOW) == []
    assert get_cookie(headers, b"L7LB") == b"x"


def test_tables_survive_reload_and_retain() -> None:
    tables = StickTables()
    s = make('mode = "source"', tables=tables)
    s.dispatched(s.lookup(b"/", [], "192.0.2.1", NOW), s.state.by_name["s1"], NOW)
    again = make('mode = "source"\ntimeout = "10m"', tables=tables)  # the reloaded runtime
    assert again.lookup(b"/", [], "192.0.2.1", NOW + 500).server is again.state.by_name["s1"]
    tables.retain([])
    assert tables.names() == []
    assert not tables.apply(StickUpdate("web", b"k", "s1"), NOW)


def test_repeated_cookie_headers_answer_alike_from_the_cache() -> None:
    """The per-pool cache of Cookie header values must not change any answer."""
    from l7lb.persistence import policy as mod

    s = make(COOKIE)
    server = s.state.by_name["s2"]
    hs, _ = s.response_headers([], server, NOT_STUCK, False, NOW)
    (value,) = set_cookies(hs)
    headers = cookie_request(value)
    first = s.lookup(b"/", headers, "192.0.2.1", NOW)
    again = s.lookup(b"/", list(headers), "192.0.2.1", NOW + 1000)
    assert first.server is server and again.server is server
    assert s.request_headers(headers, first) == [(b"host", b"www"), (b"cookie", b"a=1")]
    assert s.request_headers(headers, again) == [(b"host", b"www"), (b"cookie", b"a=1")]
    cookie = value.split(b";")[0]
    forged = [(b"cookie", b"a=1; " + cookie[:-2] + (b"AB" if cookie[-2:] != b"AB" else b"CD"))]
    assert s.lookup(b"/", forged, "192.0.2.1", NOW).server is None
    assert s.lookup(b"/", forged, "192.0.2.1", NOW).server is None
    # hostile long values are answered but never kept
    long = [(b"cookie", b"x=" + b"y" * (mod._CACHE_KEY_MAX + 1))]
    assert s.lookup(b"/", long, "192.0.2.1", NOW).server is None
    assert long[0][1] not in (s._cookie_seen or {})


def test_cookie_cache_is_off_when_cookies_expire() -> None:
    """With max_idle or max_life the answer depends on the time: never cached."""
    s = make(COOKIE + '\nmax_life = "10s"')
    hs, _ = s.response_headers([], s.state.by_name["s1"], NOT_STUCK, False, NOW)
    (value,) = set_cookies(hs)
    assert s.lookup(b"/", cookie_request(value), "192.0.2.1", NOW + 5).server is not None
    assert s.lookup(b"/", cookie_request(value), "192.0.2.1", NOW + 11).server is None


def test_distinct_cookie_headers_stop_filling_the_caches_and_replays_refill_them() -> None:
    """Clients whose application cookie changes on every request (no header comes twice)
    leave the header caches nearly empty; the answers, and the header the backend gets, are
    those of a cached header. Headers that repeat again fill them again."""
    from l7lb.persistence.admission import SAMPLE, WINDOW

    s = make(COOKIE)
    server = s.state.by_name["s3"]
    hs, _ = s.response_headers([], server, NOT_STUCK, False, NOW)
    (value,) = set_cookies(hs)
    ours = value.split(b";")[0]
    seen = s._cookie_seen
    assert seen is not None
    for i in range(3 * WINDOW):
        req = [(b"host", b"www"), (b"cookie", ours + b"; session=%d" % i)]
        sticky = s.lookup(b"/", req, "192.0.2.1", NOW)
        assert sticky.server is server, i
        assert s.request_headers(req, sticky) == [
            (b"host", b"www"),
            (b"cookie", b"session=%d" % i),
        ]
    # the first window's misses all fill them; of the 2 * WINDOW + 1 after it, one in SAMPLE
    assert len(seen) == len(s._stripped) == WINDOW - 1 + (2 * WINDOW + 1 + SAMPLE - 1) // SAMPLE
    # the same headers sent again: the remembered ones hit, and bring every miss back
    for _ in range(2):
        for i in range(WINDOW, 3 * WINDOW):
            req = [(b"host", b"www"), (b"cookie", ours + b"; session=%d" % i)]
            assert s.lookup(b"/", req, "192.0.2.1", NOW).server is server
    assert len(seen) > 2 * WINDOW
    # a header remembered and one asked about later than its lookup both strip right
    old = [(b"cookie", ours + b"; session=%d" % (WINDOW + 1))]
    s.lookup(b"/", [(b"cookie", b"other=1; " + ours)], "192.0.2.1", NOW)
    assert s.request_headers(old, NOT_STUCK) == [(b"cookie", b"session=%d" % (WINDOW + 1))]
