"""Byte-level expectations for the header rewriting rules."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.config.model import Address
from l7lb.http.forwarding import (
    HOP_BY_HOP,
    LocationRewriter,
    backend_request_headers,
    client_response_headers,
    serialize_request_head,
    server_authorities,
)

H = list[tuple[bytes, bytes]]


def req(headers: H, **kw: object) -> H:
    args: dict[str, object] = {
        "client_ip": "192.0.2.7",
        "scheme": b"https",
        "host": b"www.example.com",
        "via": b"l7lb",
        "forwarded": False,
        "upgrade": False,
    }
    args.update(kw)
    return backend_request_headers(headers, **args)  # type: ignore[arg-type]


def wire(headers: H) -> bytes:
    """The header block as the backend sees it."""
    return serialize_request_head(b"GET", b"/", headers).partition(b"\r\n")[2]


def test_plain_request() -> None:
    out = req([(b"host", b"www.example.com"), (b"accept", b"*/*"), (b"connection", b"keep-alive")])
    assert wire(out) == (
        b"host: www.example.com\r\n"
        b"accept: */*\r\n"
        b"x-forwarded-for: 192.0.2.7\r\n"
        b"x-forwarded-proto: https\r\n"
        b"x-forwarded-host: www.example.com\r\n"
        b"via: 1.1 l7lb\r\n"
        b"\r\n"
    )


def test_xff_appends_to_existing_chain_as_one_header() -> None:
    out = req(
        [(b"x-forwarded-for", b"203.0.113.1"), (b"x-forwarded-for", b"198.51.100.2, 10.0.0.3")]
    )
    assert [v for n, v in out if n == b"x-forwarded-for"] == [
        b"203.0.113.1, 198.51.100.2, 10.0.0.3, 192.0.2.7"
    ]


def test_spoofed_proto_and_host_are_replaced() -> None:
    out = req(
        [(b"x-forwarded-proto", b"https"), (b"x-forwarded-host", b"evil.example")],
        scheme=b"http",
    )
    assert [
        (n, v) for n, v in out if n.startswith(b"x-forwarded-p") or n == b"x-forwarded-host"
    ] == [
        (b"x-forwarded-proto", b"http"),
        (b"x-forwarded-host", b"www.example.com"),
    ]


def test_host_is_replaced_by_the_request_host() -> None:
    # absolute-form target: the caller passes its authority as host
    out = req([(b"host", b"evil.example"), (b"host", b"second")], host=b"good.example:8080")
    assert [v for n, v in out if n == b"host"] == [b"good.example:8080"]
    assert out[0] == (b"host", b"good.example:8080")


def test_no_host_at_all() -> None:
    out = req([(b"accept", b"*/*")], host=b"")
    assert [n for n, _ in out] == [b"accept", b"x-forwarded-for", b"x-forwarded-proto", b"via"]


def test_http10_request_without_host_gets_the_servers_address() -> None:
    # the backend gets HTTP/1.1, where a request without Host is a 400
    out = req([(b"accept", b"*/*")], host=b"", server_host=b"10.0.0.5:8080")
    assert out[0] == (b"host", b"10.0.0.5:8080")
    assert b"x-forwarded-host" not in [n for n, _ in out]


def test_server_host_never_replaces_the_clients_host() -> None:
    out = req([(b"host", b"www.example.com")], server_host=b"10.0.0.5:8080")
    assert [v for n, v in out if n == b"host"] == [b"www.example.com"]


def test_connection_named_fields_are_removed() -> None:
    out = req(
        [
            (b"connection", b"close, X-Foo"),
            (b"x-foo", b"secret"),
            (b"Connection".lower(), b" x-bar ,,"),
            (b"x-bar", b"1"),
            (b"x-baz", b"kept"),
        ]
    )
    names = [n for n, _ in out]
    assert b"x-foo" not in names and b"x-bar" not in names and b"connection" not in names
    assert (b"x-baz", b"kept") in out


def test_connection_cannot_strip_what_the_proxy_adds() -> None:
    out = req(
        [
            (b"connection", b"x-forwarded-for, x-forwarded-proto, host"),
            (b"x-forwarded-for", b"1.1.1.1"),
        ]
    )
    assert (b"x-forwarded-for", b"192.0.2.7") in out  # the old chain went, ours stays
    assert (b"x-forwarded-proto", b"https") in out
    assert (b"host", b"www.example.com") in out


def test_hop_by_hop_and_framing_dropped() -> None:
    incoming = [(name, b"x") for name in sorted(HOP_BY_HOP)] + [
        (b"content-length", b"5"),
        (b"accept", b"*/*"),
    ]
    out = req(incoming)
    names = {n for n, _ in out}
    assert not names & (HOP_BY_HOP | {b"content-length"})
    assert b"accept" in names


def test_te_trailer_upgrade_dropped_unless_upgrade() -> None:
    incoming = [
        (b"te", b"trailers"),
        (b"trailer", b"x-checksum"),
        (b"connection", b"Upgrade, X-Foo"),
        (b"x-foo", b"1"),
        (b"upgrade", b"websocket"),
        (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    ]
    plain = req(incoming)
    assert {n for n, _ in plain} & {b"te", b"trailer", b"upgrade", b"connection"} == set()
    up = req(incoming, upgrade=True)
    assert (b"upgrade", b"websocket") in up
    assert up[-1] == (b"connection", b"upgrade")
    assert [n for n, _ in up].count(b"connection") == 1
    assert b"te" not in {n for n, _ in up}
    assert b"x-foo" not in {n for n, _ in up}
    assert (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ==") in up


def test_via_version_and_chain() -> None:
    out = req([(b"via", b"1.1 cdn")], version=b"1.0")
    assert [v for n, v in out if n == b"via"] == [b"1.1 cdn, 1.0 l7lb"]
    assert [v for n, v in req([], via=b"") if n == b"via"] == []


def test_forwarded_rfc7239() -> None:
    out = req([(b"forwarded", b"for=198.51.100.17")], forwarded=True)
    assert [v for n, v in out if n == b"forwarded"] == [
        b"for=198.51.100.17, for=192.0.2.7;proto=https;host=www.example.com"
    ]
    v6 = req([], forwarded=True, client_ip="2001:db8::1", host=b"www.example.com:8443")
    assert [v for n, v in v6 if n == b"forwarded"] == [
        b'for="[2001:db8::1]";proto=https;host="www.example.com:8443"'
    ]
    assert [v for n, v in v6 if n == b"x-forwarded-for"] == [b"2001:db8::1"]
    unix = req([], forwarded=True, client_ip="")
    assert [v for n, v in unix if n == b"forwarded"] == [
        b"for=unknown;proto=https;host=www.example.com"
    ]
    assert b"forwarded" not in {n for n, _ in req([])}


def test_order_and_repetition_of_other_fields_kept() -> None:
    incoming = [(b"cookie", b"a=1"), (b"accept", b"x"), (b"cookie", b"b=2")]
    out = req(incoming)
    assert [h for h in out if h[0] in (b"cookie", b"accept")] == incoming


# ---- responses ---------------------------------------------------------------------


def test_response_drops_hop_by_hop_and_adds_via() -> None:
    out = client_response_headers(
        [
            (b"content-type", b"text/html"),
            (b"connection", b"keep-alive, x-internal"),
            (b"keep-alive", b"timeout=5"),
            (b"x-internal", b"1"),
            (b"transfer-encoding", b"chunked"),
            (b"proxy-authenticate", b"Basic"),
            (b"set-cookie", b"a=1"),
            (b"set-cookie", b"b=2"),
            (b"via", b"1.0 varnish"),
        ],
        via=b"l7lb",
        rewrite=None,
    )
    assert out == [
        (b"content-type", b"text/html"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
        (b"via", b"1.0 varnish, 1.1 l7lb"),
    ]


def test_response_upgrade_kept_only_for_101() -> None:
    hs = [(b"upgrade", b"websocket"), (b"connection", b"upgrade"), (b"sec-websocket-accept", b"x")]
    assert client_response_headers(hs, via=b"", rewrite=None) == [(b"sec-websocket-accept", b"x")]
    assert client_response_headers(hs, via=b"", rewrite=None, upgrade=True) == [
        (b"upgrade", b"websocket"),
        (b"sec-websocket-accept", b"x"),
        (b"connection", b"upgrade"),
    ]


AUTH = server_authorities([Address("10.0.0.5", 8080), Address("10.0.0.6", 80), Address("::1", 443)])


def rw(scheme: bytes = b"https", host: bytes = b"www.example.com") -> LocationRewriter:
    return LocationRewriter(AUTH, scheme, host)


def test_server_authorities() -> None:
    assert frozenset({b"10.0.0.5:8080", b"10.0.0.6:80", b"[::1]:443"}) == AUTH


def test_location_rewrites() -> None:
    r = rw()
    # the LVS-HOWTO 20.7.1 case: "GET /dir" answered with the realserver's own URL
    assert r.rewrite_url(b"http://10.0.0.5:8080/dir/") == b"https://www.example.com/dir/"
    assert r.rewrite_url(b"http://10.0.0.5:8080") == b"https://www.example.com"
    assert r.rewrite_url(b"http://10.0.0.5:8080?a=1") == b"https://www.example.com?a=1"
    assert r.rewrite_url(b"HTTP://10.0.0.5:8080/x#f") == b"https://www.example.com/x#f"
    # default port: a bare host means :80 for http, :443 for https
    assert r.rewrite_url(b"http://10.0.0.6/x") == b"https://www.example.com/x"
    assert r.rewrite_url(b"http://10.0.0.6:80/x") == b"https://www.example.com/x"
    assert r.rewrite_url(b"https://10.0.0.6/x") == b"https://10.0.0.6/x"  # :443 is not a server
    assert r.rewrite_url(b"https://[::1]/x") == b"https://www.example.com/x"
    # network-path reference
    assert r.rewrite_url(b"//10.0.0.5:8080/x") == b"//www.example.com/x"
    # userinfo does not hide the authority
    assert r.rewrite_url(b"http://u:p@10.0.0.5:8080/x") == b"https://www.example.com/x"


def test_location_left_alone() -> None:
    r = rw()
    for url in (
        b"/relative/path",
        b"relative",
        b"http://10.0.0.5:8081/x",  # another port
        b"http://10.0.0.50:8080/x",  # another host
        b"https://www.google.com/",
        b"ftp://10.0.0.5:8080/x",
        b"",
    ):
        assert r.rewrite_url(url) is url


def test_rewrite_keeps_client_port_and_scheme() -> None:
    r = rw(scheme=b"http", host=b"www.example.com:8000")
    assert r.rewrite_url(b"http://10.0.0.5:8080/a") == b"http://www.example.com:8000/a"


def test_refresh_rewrite() -> None:
    r = rw()
    assert (
        r.rewrite_refresh(b"5; url=http://10.0.0.5:8080/x") == b"5; url=https://www.example.com/x"
    )
    assert r.rewrite_refresh(b"0;URL='http://10.0.0.6/y'") == b"0;URL='https://www.example.com/y'"
    assert r.rewrite_refresh(b"3, http://10.0.0.6/z") == b"3, https://www.example.com/z"
    assert r.rewrite_refresh(b"5") == b"5"
    assert r.rewrite_refresh(b"5; url=https://other.example/") == b"5; url=https://other.example/"


def test_response_rewrites_redirect_headers_only() -> None:
    out = client_response_headers(
        [
            (b"location", b"http://10.0.0.5:8080/dir/"),
            (b"content-location", b"http://10.0.0.5:8080/dir/index.html"),
            (b"refresh", b"5; url=http://10.0.0.5:8080/x"),
            (b"link", b"<http://10.0.0.5:8080/style.css>; rel=preload"),
        ],
        via=b"",
        rewrite=rw(),
    )
    assert out == [
        (b"location", b"https://www.example.com/dir/"),
        (b"content-location", b"https://www.example.com/dir/index.html"),
        (b"refresh", b"5; url=https://www.example.com/x"),
        (b"link", b"<http://10.0.0.5:8080/style.css>; rel=preload"),
    ]
    untouched = client_response_headers(
        [(b"location", b"http://10.0.0.5:8080/")], via=b"", rewrite=None
    )
    assert untouched == [(b"location", b"http://10.0.0.5:8080/")]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.from_regex(rb"[a-z][a-z-]{0,12}", fullmatch=True), st.binary(max_size=8)),
        max_size=12,
    )
)
def test_request_output_never_carries_hop_by_hop(headers: H) -> None:
    out = req(headers)
    named = set()
    for n, v in headers:
        if n == b"connection":
            named |= {t.strip().lower() for t in v.split(b",")}
    for n, _ in out:
        assert n not in HOP_BY_HOP and n != b"content-length"
        assert n not in named or n in (
            b"host",
            b"x-forwarded-for",
            b"x-forwarded-proto",
            b"x-forwarded-host",
            b"via",
        )
    assert [n for n, _ in out].count(b"x-forwarded-for") == 1
