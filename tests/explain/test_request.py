"""The request explained: from a URL and options, or raw on stdin, through the codec."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from explain_helpers import POLICIES, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.config.load import load_config
from l7lb.explain.decision import PoolStates
from l7lb.explain.explanation import explain
from l7lb.explain.report import render
from l7lb.explain.request import (
    RefusedRequest,
    RequestError,
    build_from_url,
    parse_destination,
    read_raw,
)
from l7lb.explain.vip import choose_vip
from l7lb.http.events import Framing, Limits

Run = Callable[..., Result]
SPLIT = str(POLICIES / "path-split.toml")


def test_url_gives_destination_target_and_host() -> None:
    req = build_from_url("https://WWW.Example.com/a%20b?x=1#frag")
    assert req.destination is not None
    assert (req.destination.scheme, req.destination.host, req.destination.port) == (
        "https",
        "www.example.com",
        443,
    )
    assert req.destination.sni == "www.example.com"
    assert req.head.target == b"/a%20b?x=1"
    assert req.head.headers == [(b"host", b"www.example.com")]
    req = build_from_url("http://[2001:db8::1]:8080")
    assert req.head.target == b"/"
    assert req.head.headers == [(b"host", b"[2001:db8::1]:8080")]
    assert req.destination is not None and req.destination.sni is None  # no SNI for literals


def test_headers_cookies_and_host_override() -> None:
    req = build_from_url(
        "http://192.0.2.1/",
        method="POST",
        headers=["Host: shop.example.com", "Content-Length: 3", "X-A: 1"],
        cookies=["a=1", "b=2"],
    )
    assert req.head.method == b"POST"
    assert req.head.headers == [
        (b"host", b"shop.example.com"),
        (b"content-length", b"3"),
        (b"x-a", b"1"),
        (b"cookie", b"a=1; b=2"),
    ]
    assert req.head.framing is Framing.LENGTH


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: parse_destination("ftp://x/"), "scheme must be http or https"),
        (lambda: parse_destination("http:///x"), "has no host"),
        (lambda: parse_destination("http://u:p@h/"), "no user:password@"),
        (lambda: parse_destination("http://h:99999/"), "URL 'http://h:99999/'"),
        (lambda: parse_destination("http://h/a b"), "spaces or control characters"),
        (lambda: build_from_url("http://h/", headers=["NoColon"]), "'Name: value'"),
        (lambda: build_from_url("http://h/", headers=["X: a\r\nY: b"]), "line break"),
        (lambda: build_from_url("http://h/", cookies=["novalue"]), "NAME=VALUE"),
        (lambda: build_from_url("http://h/", cookies=["a=b;c"]), "may not hold ';'"),
        (lambda: build_from_url("http://h/", method="GE T"), "is not a token"),
        (lambda: build_from_url("http://h/", source="nope"), "is not an IP address"),
    ],
)
def test_bad_input_is_a_request_error(call: Callable[[], object], message: str) -> None:
    with pytest.raises(RequestError) as exc:
        call()
    assert message in str(exc.value)


def test_raw_request_crlf_lf_and_missing_blank_line() -> None:
    req = read_raw(b"GET /api/x HTTP/1.1\r\nHost: h\r\n\r\n")
    assert (req.head.target, req.notes, req.destination) == (b"/api/x", (), None)
    req = read_raw(b"GET /api/x HTTP/1.1\nHost: h\n")  # typed in a heredoc
    assert req.head.headers == [(b"host", b"h")]
    assert req.notes == (
        "the head's bare LF line ends were read as CRLF",
        "the head had no blank line at its end: one was added",
    )
    req = read_raw(b"POST / HTTP/1.1\nHost: h\nContent-Length: 2\n\nhi")
    assert req.head.framing is Framing.LENGTH and req.head.content_length == 2
    req = read_raw(b"GET http://www.example.com:8080/x?y HTTP/1.1\r\nHost: other\r\n\r\n")
    assert req.destination is not None and str(req.destination) == "http://www.example.com:8080"


def test_raw_request_refused_as_the_codec_refuses() -> None:
    with pytest.raises(RefusedRequest) as exc:
        read_raw(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert exc.value.status == 400
    with pytest.raises(RefusedRequest) as exc:
        read_raw(
            b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: h\r\n\r\n",
            limits=Limits(max_uri_length=64),
        )
    assert exc.value.status == 414
    with pytest.raises(RequestError, match="no request on stdin"):
        read_raw(b"  \n")


def test_stdin_form_through_the_command(run: Run) -> None:
    res = run("-c", SPLIT, "--json", stdin=b"GET /api/x HTTP/1.1\nHost: www.example.com\n\n")
    assert res.rc == 0, res.err
    out = res.json
    assert out["route"] == "api"
    assert out["request"]["destination"] is None
    assert "the head's bare LF line ends were read as CRLF" in out["notes"]
    # the only vip of the file: no --vip needed
    assert out["vip"]["why"] == "the only vip of the configuration"

    res = run("-c", SPLIT, stdin=b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert res.rc == 0
    assert "answer      400:" in res.out
    assert "the request is refused unread" in res.out


def test_stdin_form_needs_a_vip_when_several_listen(run: Run) -> None:
    cfg = str(POLICIES / "persistence-cookie.toml")
    raw = b"GET /cart HTTP/1.1\r\nHost: shop.example.com\r\n\r\n"
    res = run("-c", cfg, stdin=raw)
    assert res.rc == 2
    assert "Give --vip NAME (one of: shop-http, shop-https)" in res.err
    res = run("-c", cfg, "--vip", "shop-http", "--json", stdin=raw)
    assert res.rc == 0 and res.json["vip"]["name"] == "shop-http"
    # absolute-form: the URL in the request line says where it goes
    absolute = b"GET http://shop.example.com/cart HTTP/1.1\r\nHost: x\r\n\r\n"
    res = run("-c", cfg, "--json", stdin=absolute)
    assert res.json["vip"]["name"] == "shop-http"
    # RFC 9112 3.2.2: the URI's authority wins over Host, and the backend gets origin-form
    assert res.json["request"]["host"] == "shop.example.com"
    assert res.json["backend"]["head"].startswith(
        "GET /cart HTTP/1.1\r\nhost: shop.example.com\r\n"
    )
    res = run("-c", cfg, "--header", "X: 1", stdin=raw)
    assert res.rc == 2 and "go with a URL" in res.err


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_on_stdin_are_read_or_refused_with_a_reason(data: bytes) -> None:
    try:
        req = read_raw(data)
    except RefusedRequest as exc:
        assert 400 <= exc.status < 500 and exc.reason
    except RequestError as exc:
        assert str(exc)
    else:
        assert req.head.method and req.head.target


_POLICIES = sorted(POLICIES.glob("*.toml"))
_token = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=1, max_size=8
)
_value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


@settings(max_examples=150, deadline=None)
@given(
    policy=st.sampled_from(_POLICIES),
    method=st.sampled_from(["GET", "POST", "HEAD", "OPTIONS", "DELETE", "CONNECT", "PURGE"]),
    path=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30),
    headers=st.lists(st.tuples(_token, _value), max_size=4),
    cookies=st.lists(
        st.tuples(st.sampled_from(["L7LB", "SHOPSRV", "JSESSIONID", "PHPSESSID"]), _token),
        max_size=2,
    ),
    source=st.sampled_from(["198.51.100.7", "2001:db8::7", "10.1.2.3"]),
)
def test_the_whole_explanation_never_crashes(
    policy: Path,
    method: str,
    path: str,
    headers: list[tuple[str, str]],
    cookies: list[tuple[str, str]],
    source: str,
) -> None:
    config = load_config(str(policy))
    vip = config.vips[0]
    lines = [f"{method} /{path} HTTP/1.1", "Host: www.example.com"]
    lines += [f"{n}: {v}" for n, v in headers]
    if cookies:
        lines.append("Cookie: " + "; ".join(f"{n}={v}" for n, v in cookies))
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode()
    try:
        req = read_raw(raw, source=source, parser=config.http.parser, limits=config.http.limits)
    except RefusedRequest:
        return
    choice = choose_vip(config, req.destination, vip.name)
    out = explain(
        config, req, choice, PoolStates(config), now=time.time(), loop_now=time.monotonic()
    )
    assert out["answer"]["summary"]
    json.dumps(out)
    assert render(out).endswith("\n")
