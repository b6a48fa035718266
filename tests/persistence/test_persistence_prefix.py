"""The prefix mode: the bytes the client and the backend see."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.persistence.cookie import CookieCodec
from l7lb.persistence.prefix import (
    prefix_response,
    prefix_set_cookie,
    strip_prefix,
    unprefix_request,
)

CODEC = CookieCodec(b"prefix-test-secret-0123", {"web": ["s1", "s2"]})
SID = CODEC.server_id("web", "s1")


def test_backend_set_cookie_is_prefixed() -> None:
    assert (
        prefix_set_cookie(b"JSESSIONID=abc123; Path=/app; HttpOnly", b"JSESSIONID", SID)
        == b"JSESSIONID=" + SID.encode() + b"~abc123; Path=/app; HttpOnly"
    )
    assert prefix_set_cookie(b'JSESSIONID="abc"', b"JSESSIONID", SID) == (
        b'JSESSIONID="' + SID.encode() + b'~abc"'
    )


def test_other_cookies_and_deletions_untouched() -> None:
    for value in (b"OTHER=abc; Path=/", b"JSESSIONID=; Max-Age=0", b"jsessionid=abc", b"garbage"):
        assert prefix_set_cookie(value, b"JSESSIONID", SID) is value


def test_request_prefix_is_stripped() -> None:
    value = b"a=1; JSESSIONID=" + SID.encode() + b"~abc123; b=2"
    sid, stripped = strip_prefix(value, b"JSESSIONID")
    assert sid == SID
    assert CODEC.server_for_id("web", sid) == "s1"
    assert stripped == b"a=1; JSESSIONID=abc123; b=2"


def test_request_without_prefix_untouched() -> None:
    for value in (b"JSESSIONID=abc", b"a=1", b"JSESSIONID=short~abc", b"X=" + SID.encode() + b"~a"):
        sid, out = strip_prefix(value, b"JSESSIONID")
        assert sid is None and out is value


def test_unprefix_request_headers() -> None:
    other = CODEC.server_id("web", "s2").encode()
    headers = [
        (b"host", b"h"),
        (b"cookie", b"JSESSIONID=" + SID.encode() + b"~abc"),
        (b"cookie", b"JSESSIONID=" + other + b"~def; z=1"),
    ]
    sid, out = unprefix_request(headers, b"JSESSIONID")
    assert sid == SID  # the first wins
    assert out == [
        (b"host", b"h"),
        (b"cookie", b"JSESSIONID=abc"),
        (b"cookie", b"JSESSIONID=def; z=1"),
    ]
    plain = [(b"cookie", b"a=1")]
    assert unprefix_request(plain, b"JSESSIONID") == (None, plain)
    assert unprefix_request(plain, b"JSESSIONID")[1] is plain


def test_prefix_response_headers() -> None:
    headers = [(b"content-type", b"text/html"), (b"set-cookie", b"JSESSIONID=abc; Path=/")]
    assert prefix_response(headers, b"JSESSIONID", SID) == [
        (b"content-type", b"text/html"),
        (b"set-cookie", b"JSESSIONID=" + SID.encode() + b"~abc; Path=/"),
    ]


session = st.text(
    alphabet="".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '",;\\'), min_size=1
)


@settings(max_examples=200)
@given(value=session, server=st.sampled_from(["s1", "s2"]))
def test_prefix_round_trip(value: str, server: str) -> None:
    sid = CODEC.server_id("web", server)
    to_client = prefix_set_cookie(b"JSESSIONID=" + value.encode() + b"; Path=/", b"JSESSIONID", sid)
    # the browser sends back name=value
    back = to_client.split(b";", 1)[0]
    got, to_backend = strip_prefix(b"x=1; " + back, b"JSESSIONID")
    assert got == sid and CODEC.server_for_id("web", got) == server
    assert to_backend == b"x=1; JSESSIONID=" + value.encode()
