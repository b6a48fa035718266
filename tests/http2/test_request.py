"""RFC 9113 section 8: an HTTP/2 request's fields as the HTTP/1.1 head l7lb forwards."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from l7lb.http.events import Framing, Limits, ProtocolError
from l7lb.http.framing import check_fields
from l7lb.http.head_edit import backend_request, request_edit
from l7lb.http2.request import StreamError, request_head

LIMITS = Limits()
PSEUDO = [
    (b":method", b"POST"),
    (b":scheme", b"https"),
    (b":authority", b"Example.COM:8443"),
    (b":path", b"/p?q=1"),
]


def head(fields, end_stream=True):
    return request_head(fields, end_stream, LIMITS)


def test_authority_becomes_host_and_the_head_is_http11() -> None:
    h = head([*PSEUDO, (b"accept", b"*/*"), (b"host", b"example.com:8443")])
    assert (h.method, h.target, h.version, h.host) == (
        b"POST",
        b"/p?q=1",
        b"2.0",
        b"Example.COM:8443",
    )
    assert h.headers == [(b"host", b"Example.COM:8443"), (b"accept", b"*/*")]
    assert h.raw == b"" and h.lines is None and h.framing is Framing.NONE
    edit = request_edit(
        h, client_ip="10.1.2.3", scheme=b"https", via=b"l7lb", forwarded=False, server_host=b""
    )
    assert backend_request(h, h.target, edit) == (
        b"POST /p?q=1 HTTP/1.1\r\nhost: Example.COM:8443\r\naccept: */*\r\n"
        b"x-forwarded-for: 10.1.2.3\r\nx-forwarded-proto: https\r\n"
        b"x-forwarded-host: Example.COM:8443\r\nvia: 2.0 l7lb\r\n\r\n"
    )


def test_host_alone_is_the_authority() -> None:
    fields = [(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b"host", b"a.b")]
    assert head(fields).host == b"a.b"


def test_neither_authority_nor_host_is_a_400() -> None:
    with pytest.raises(ProtocolError) as e:
        head([(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/")])
    assert e.value.status == 400


def test_body_framing() -> None:
    assert head(PSEUDO, end_stream=True).framing is Framing.NONE
    assert head(PSEUDO, end_stream=False).framing is Framing.CHUNKED
    h = head([*PSEUDO, (b"content-length", b"12")], end_stream=False)
    assert (h.framing, h.content_length) == (Framing.LENGTH, 12)
    assert head([*PSEUDO, (b"content-length", b"0")]).framing is Framing.LENGTH
    with pytest.raises(StreamError):
        head([*PSEUDO, (b"content-length", b"12")], end_stream=True)


def test_cookies_are_joined_where_the_first_was() -> None:
    h = head([*PSEUDO, (b"a", b"1"), (b"cookie", b"x=1"), (b"b", b"2"), (b"cookie", b"y=2")])
    assert h.headers == [
        (b"host", b"Example.COM:8443"),
        (b"a", b"1"),
        (b"cookie", b"x=1; y=2"),
        (b"b", b"2"),
    ]


@pytest.mark.parametrize(
    "fields",
    [
        [*PSEUDO, (b"Accept", b"x")],
        [*PSEUDO, (b"acc\x7fept", b"x")],
        [*PSEUDO, (b"", b"x")],
        [*PSEUDO, (b"x", b"a\r\nb: c")],
        [*PSEUDO, (b"x", b"tail ")],
        [*PSEUDO, (b"x", b"\tlead")],
        [*PSEUDO, (b"connection", b"close")],
        [*PSEUDO, (b"te", b"trailers, deflate")],
        [*PSEUDO, (b"host", b"other")],
        [(b":method", b"GET"), *PSEUDO[1:], (b":method", b"GET")],
        [*PSEUDO[:3]],
        [*PSEUDO[1:]],
        [*PSEUDO, (b":path", b"/x")],
        [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"x")],
        [*PSEUDO, (b":foo", b"1")],
        [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"a\x00"), (b":path", b"/")],
    ],
)
def test_malformed(fields) -> None:
    with pytest.raises(StreamError) as e:
        head(fields)
    assert e.value.code == 1  # PROTOCOL_ERROR


def test_authority_and_host_may_differ_in_case_only() -> None:
    assert head([*PSEUDO, (b"host", b"EXAMPLE.com:8443")]).host == b"Example.COM:8443"


def test_options_asterisk() -> None:
    fields = [
        (b":method", b"OPTIONS"),
        (b":scheme", b"https"),
        (b":authority", b"a"),
        (b":path", b"*"),
    ]
    assert head(fields).target == b"*"
    with pytest.raises(ProtocolError):
        head([(b":method", b"GET"), *fields[1:]])


name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
value = st.text(alphabet="abc XYZ/=;,.:!~09", max_size=20).map(str.strip)


@given(st.lists(st.tuples(name, value), max_size=30))
def test_whatever_passes_reaches_the_backend_as_valid_http11(extra) -> None:
    fields = [*PSEUDO, *((n.encode(), v.encode()) for n, v in extra)]
    try:
        h = head(fields, end_stream=False)
    except (StreamError, ProtocolError):
        return
    check_fields(h.headers, 400)  # what the strict HTTP/1.1 back end checks
    names = [n for n, _ in h.headers]
    assert names.count(b"host") == 1 and names[0] == b"host"
    assert not {b"connection", b"transfer-encoding", b"upgrade", b"keep-alive"} & set(names)
    assert names.count(b"cookie") <= 1
