"""The codec conformance suite, continued: request-target forms and Host values (issue 15
section 1). Both back ends must refuse the same heads with the same status, and accept the
same ones with the same host.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.http.authority import check_authority, check_target
from l7lb.http.codec import make_request_parser
from l7lb.http.events import Limits, ProtocolError, RequestHead

KINDS = ["h11", "httptools"]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def head_of(kind: str, data: bytes) -> RequestHead:
    events = make_request_parser(kind, Limits()).feed(data)
    assert isinstance(events[0], RequestHead)
    return events[0]


def status_of(kind: str, data: bytes) -> int:
    with pytest.raises(ProtocolError) as info:
        make_request_parser(kind, Limits()).feed(data)
    return info.value.status


def get(host: bytes, target: bytes = b"/", method: bytes = b"GET") -> bytes:
    return method + b" " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"


GOOD_HOSTS = [
    b"example.com",
    b"Example.COM",
    b"www.example.com.",
    b"127.0.0.1",
    b"127.0.0.1:8080",
    b"example.com:443",
    b"[::1]",
    b"[2001:db8::7]:8443",
    b"xn--bcher-kva.example",
    b"under_score.example",
    b"a-b.example:1",
    b"%41.example",
    b"[v1.fe80::a+en1]",
    b"",  # RFC 9110 7.2: an empty Host when the target has no authority
]

BAD_HOSTS = [
    (b"user@example.com", "userinfo"),
    (b"user:pw@example.com", "userinfo with a password"),
    (b"a, b", "a list"),
    (b"a,b", "a list without space"),
    (b"exa mple.com", "whitespace inside"),
    (b"example.com\tx", "a tab inside"),
    (b"example.com:", "an empty port"),
    (b"example.com:http", "a port that is not numeric"),
    (b"example.com:80:81", "two ports"),
    (b"example.com:123456", "a port of six digits"),
    (b"example.com:65536", "a port above 65535"),
    (b":80", "a port without a host"),
    (b"exa/mple.com", "a slash"),
    (b"example.com?", "a question mark"),
    (b'ex"ample', "a quote"),
    (b"exa<mple>", "angle brackets"),
    (b"[::1", "an unterminated literal"),
    (b"[::g]", "an invalid IPv6 literal"),
    (b"[::1]x", "junk after a literal"),
    (b"[::1]:", "an empty port after a literal"),
    (b"[fe80::1%25eth0]", "a zone identifier"),
    (b"%zz.example", "a bad percent-encoding"),
    (b"\xc3\xa9.example", "a raw non-ASCII byte"),
]


@pytest.mark.parametrize("host", GOOD_HOSTS, ids=repr)
def test_valid_hosts_are_accepted_and_kept(kind: str, host: bytes) -> None:
    head = head_of(kind, get(host))
    assert head.host == host
    assert (b"host", host) in head.headers


@pytest.mark.parametrize(("host", "why"), BAD_HOSTS, ids=[w for _, w in BAD_HOSTS])
def test_invalid_hosts_get_400_before_routing(kind: str, host: bytes, why: str) -> None:
    assert status_of(kind, get(host)) == 400, why


def test_two_host_headers_get_400(kind: str) -> None:
    data = b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n"
    assert status_of(kind, data) == 400


def test_http10_without_host_has_no_host(kind: str) -> None:
    assert head_of(kind, b"GET / HTTP/1.0\r\n\r\n").host == b""


# --- request-target forms (RFC 9112 3.2) ----------------------------------------------------


def test_origin_form_keeps_host_header(kind: str) -> None:
    head = head_of(kind, get(b"vip.example", b"/a/b?c=d"))
    assert (head.target, head.host, head.rebuilt) == (b"/a/b?c=d", b"vip.example", None)


@pytest.mark.parametrize(
    ("target", "authority"),
    [
        (b"http://a.example/x?y", b"a.example"),
        (b"https://a.example:8443/", b"a.example:8443"),
        (b"HTTP://A.example", b"A.example"),
        (b"http://a.example?q=1", b"a.example"),
        (b"http://[::1]:80/", b"[::1]:80"),
    ],
)
def test_absolute_form_authority_replaces_host(kind: str, target: bytes, authority: bytes) -> None:
    head = head_of(kind, get(b"ignored.example", target))
    assert head.host == authority
    # the received Host line is not forwarded: the proxy sends the authority instead
    assert head.rebuilt == [b"host"]


@pytest.mark.parametrize(
    "target",
    [
        b"http://user@a.example/",
        b"http://user:pw@a.example/",
        b"http:///nohost",
        b"http://:80/",
        b"http://a b/",
        b"http://a.example:x/",
        b"ftp://a.example/",
        b"a.example/x",
        b"/a#frag",
        b"/#",
        b"http://a.example/#x",
    ],
)
def test_other_targets_get_400(kind: str, target: bytes) -> None:
    # A target the parser itself refuses (a space) is a 400 there; the rest are ours.
    assert status_of(kind, get(b"h.example", target)) == 400


def test_asterisk_form_only_with_options(kind: str) -> None:
    head = head_of(kind, get(b"h.example", b"*", b"OPTIONS"))
    assert head.target == b"*"
    assert status_of(kind, get(b"h.example", b"*", b"GET")) == 400


def test_authority_form_is_connect_only_and_connect_is_501(kind: str) -> None:
    assert status_of(kind, get(b"h.example:443", b"h.example:443", b"CONNECT")) == 501
    assert status_of(kind, get(b"h.example", b"h.example:443", b"GET")) == 400


# --- the checks themselves ------------------------------------------------------------------

_REG = st.sampled_from(list(b"abcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+;="))


@settings(max_examples=300, deadline=None)
@given(name=st.lists(_REG, max_size=30).map(bytes), port=st.integers(0, 65535) | st.none())
def test_every_reg_name_with_a_port_is_valid(name: bytes, port: int | None) -> None:
    value = name if port is None else name + b":%d" % port
    if port is not None and not name:
        with pytest.raises(ProtocolError):
            check_authority(value)
    else:
        check_authority(value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=24))
def test_check_authority_only_ever_raises_400(value: bytes) -> None:
    try:
        check_authority(value)
    except ProtocolError as exc:
        assert exc.status == 400
    else:
        # what passes contains nothing that could split, list or hide a host
        assert not any(c in value for c in b' \t\r\n,@/?#\\"<>')


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=24))
def test_check_target_only_ever_raises_400(target: bytes) -> None:
    try:
        check_target(b"GET", target)
    except ProtocolError as exc:
        assert exc.status == 400
    else:
        assert b"#" not in target
