"""Head edits: splicing the received bytes gives the next hop what re-serialising the rewritten
header list gives it (``forwarding``'s list functions are the reference), for every head the
codecs accept, on both codec back ends."""

from __future__ import annotations

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l7lb.http.codec import make_request_parser, make_response_parser
from l7lb.http.events import Framing, Limits, ProtocolError, RequestHead, ResponseHead
from l7lb.http.forwarding import (
    LocationRewriter,
    backend_request_headers,
    client_response_headers,
    serialize_request_head,
    serialize_response_head,
)
from l7lb.http.head_edit import (
    Forwarding,
    HeadEdit,
    apply,
    backend_head,
    backend_request,
    client_response,
    request_edit,
    response_edit,
    splice,
)
from l7lb.http.status import reason
from l7lb.routing.target import split_target

KINDS = ["h11", "httptools"]

REQUEST_FIELDS = [
    (b"Host", b"vip.example"),
    (b"host", b"vip.example:8443"),
    (b"Connection", b"keep-alive"),
    (b"connection", b"close"),
    (b"Connection", b"Upgrade"),
    (b"Connection", b"keep-alive, X-Drop"),
    (b"Connection", b"Via"),
    (b"Connection", b"X-Forwarded-For, forwarded"),
    (b"Upgrade", b"websocket"),
    (b"X-Drop", b"secret"),
    (b"X-Forwarded-For", b"203.0.113.9"),
    (b"x-forwarded-for", b""),
    (b"X-Forwarded-Proto", b"https"),
    (b"X-Forwarded-Host", b"evil.example"),
    (b"Via", b"1.0 other"),
    (b"Forwarded", b"for=198.51.100.1"),
    (b"Keep-Alive", b"timeout=5"),
    (b"TE", b"trailers"),
    (b"Trailer", b"X-T"),
    (b"Proxy-Authorization", b"Basic Zm9v"),
    (b"Proxy-Connection", b"keep-alive"),
    (b"Cookie", b"a=1; L7LB=x"),
    (b"cookie", b"b=2"),
    (b"Accept", b"*/*"),
    (b"User-Agent", b"test/1.0"),
    (b"X-Empty", b""),
    (b"Content-Length", b"3"),
    (b"Transfer-Encoding", b"chunked"),
]
TARGETS = [b"/", b"/a/b?c=d", b"http://abs.example/x?y", b"https://abs.example:8443", b"*"]


def _line(name: bytes, value: bytes, pad: int) -> bytes:
    ws = (b"", b" ", b"  ", b"\t")[pad]
    return name + b":" + ws + value + ws + b"\r\n"


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from([b"GET", b"POST", b"HEAD", b"OPTIONS"]))
    target = draw(st.sampled_from(TARGETS))
    version = draw(st.sampled_from([b"1.1", b"1.0"]))
    fields = draw(st.lists(st.sampled_from(REQUEST_FIELDS), max_size=10))
    pads = draw(st.lists(st.integers(0, 3), min_size=len(fields), max_size=len(fields)))
    head = method + b" " + target + b" HTTP/" + version + b"\r\n"
    head += b"".join(_line(n, v, p) for (n, v), p in zip(fields, pads, strict=True))
    return head + b"\r\n"


def parsed_request(data: bytes) -> tuple[bytes, bytes, list[tuple[bytes, bytes]]]:
    """What a strict HTTP/1.1 server reads from a head l7lb sends: method, target, and the
    fields (names lower-cased), grouped by name in order of first appearance so that moving
    whole fields around (which the splice does) compares equal, but reordering the values
    of one name does not."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    ev = conn.next_event()
    assert isinstance(ev, h11.Request), ev
    return ev.method, ev.target, _grouped(list(ev.headers))


def _grouped(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    order: list[bytes] = []
    by: dict[bytes, list[bytes]] = {}
    for n, v in headers:
        if n not in by:
            order.append(n)
            by[n] = []
        by[n].append(v)
    return sorted((n, v) for n in order for v in by[n])


def reference_request(head: RequestHead, target: bytes) -> bytes:
    """The head the engine sent before splicing: forwarding's list functions."""
    hs = backend_request_headers(
        head.headers,
        client_ip="192.0.2.7",
        scheme=b"https",
        host=head.host,
        via=b"l7lb",
        forwarded=True,
        upgrade=head.upgrade,
        version=head.version,
        server_host=b"" if head.host else b"10.0.0.5:8080",
    )
    if head.framing is Framing.LENGTH:
        hs.append((b"content-length", b"%d" % head.content_length))
    elif head.framing is Framing.CHUNKED:
        hs.append((b"transfer-encoding", b"chunked"))
    return serialize_request_head(head.method, target, hs)


def parsed_head(kind: str, data: bytes) -> RequestHead | None:
    """The head of the generated request ``data``; None when the parser refuses it."""
    try:
        events = make_request_parser(kind, Limits()).feed(data)
    except ProtocolError:
        return None
    head = events[0]
    assert isinstance(head, RequestHead)
    return head


def origin_target(head: RequestHead) -> bytes:
    if head.target[:1] == b"/" or head.target == b"*":
        return head.target
    path, query = split_target(head.target)
    return path + b"?" + query if query else path


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=requests())
def test_spliced_request_equals_rebuilt_request(kind: str, data: bytes) -> None:
    head = parsed_head(kind, data)
    if head is None:
        return
    target = origin_target(head)
    edit = request_edit(
        head,
        client_ip="192.0.2.7",
        scheme=b"https",
        via=b"l7lb",
        forwarded=True,
        server_host=b"10.0.0.5:8080",
    )
    spliced = backend_request(head, target, edit)
    assert parsed_request(spliced) == parsed_request(reference_request(head, target))
    # and the list rendering of the same edit says the same
    listed = serialize_request_head(head.method, target, apply(head.headers, edit))
    assert parsed_request(listed) == parsed_request(spliced)


PEERS = ["192.0.2.7", "192.0.2.8", "2001:db8::1", ""]


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.lists(
        st.tuples(
            requests(),
            st.sampled_from(PEERS),
            st.sampled_from([b"http", b"https"]),
            st.sampled_from([b"", b"l7lb"]),
            st.booleans(),
            st.sampled_from([None, [b"a=1"], [b""]]),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_a_connections_forwarding_memo_changes_no_byte(
    kind: str,
    batch: list[tuple[bytes, str, bytes, bytes, bool, list[bytes] | None]],
) -> None:
    """One memo through a run of requests (each sent twice, so that the memo is used as
    well as made), whatever changes from one to the next: the same bytes as without it."""
    memo = Forwarding()
    for data, peer, scheme, via, forwarded, cookies in batch:
        head = parsed_head(kind, data)
        if head is None:
            continue
        target = origin_target(head)
        for _ in range(2):
            args = {
                "client_ip": peer,
                "scheme": scheme,
                "via": via,
                "forwarded": forwarded,
                "server_host": b"10.0.0.5:8080",
                "cookies": cookies,
            }
            assert backend_head(head, target, memo=memo, **args) == backend_head(
                head, target, **args
            )
            # the list rendering of the memo's edit says the same
            edit = request_edit(head, memo=memo, **args)
            listed = serialize_request_head(head.method, target, apply(head.headers, edit))
            assert parsed_request(listed) == parsed_request(backend_request(head, target, edit))


def test_forwarding_memo_renders_once_per_host() -> None:
    def head_of(host: bytes) -> RequestHead:
        ev = make_request_parser("httptools", Limits()).feed(
            b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
        )[0]
        assert isinstance(ev, RequestHead)
        return ev

    memo = Forwarding()
    args = {"client_ip": "192.0.2.7", "scheme": b"https", "via": b"l7lb", "forwarded": False}
    first = request_edit(head_of(b"a.example"), server_host=b"", memo=memo, **args)
    assert first.covered == 4 and first.block == (
        b"x-forwarded-for: 192.0.2.7\r\nx-forwarded-proto: https\r\n"
        b"x-forwarded-host: a.example\r\nvia: 1.1 l7lb\r\n"
    )
    again = request_edit(head_of(b"a.example"), server_host=b"", memo=memo, **args)
    assert again.block is first.block and again.add == first.add and again.add is not first.add
    other = request_edit(head_of(b"b.example"), server_host=b"", memo=memo, **args)
    assert other.block is not first.block and b"x-forwarded-host: b.example\r\n" in other.block
    # a request that brings its own X-Forwarded-For is extended, not memoised
    ev = make_request_parser("httptools", Limits()).feed(
        b"GET / HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-For: 198.51.100.1\r\n\r\n"
    )[0]
    assert isinstance(ev, RequestHead)
    chained = request_edit(ev, server_host=b"", memo=memo, **args)
    assert chained.covered == 0 and (b"x-forwarded-for", b"198.51.100.1, 192.0.2.7") in chained.add


def test_common_browser_request_cuts_only_connection() -> None:
    data = (
        b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: UA/1\r\n"
        b"Accept: */*\r\nConnection: keep-alive\r\nCookie: a=b\r\n\r\n"
    )
    head = make_request_parser("httptools", Limits()).feed(data)[0]
    assert isinstance(head, RequestHead)
    edit = request_edit(
        head, client_ip="192.0.2.7", scheme=b"http", via=b"", forwarded=False, server_host=b"x"
    )
    assert edit.cut == [b"connection"]
    assert backend_request(head, head.target, edit) == (
        b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: UA/1\r\n"
        b"Accept: */*\r\nCookie: a=b\r\n"
        b"x-forwarded-for: 192.0.2.7\r\nx-forwarded-proto: http\r\n"
        b"x-forwarded-host: www.example.com\r\n\r\n"
    )


def test_persistence_cookies_replace_every_cookie_field() -> None:
    data = b"GET / HTTP/1.1\r\nCookie: a=1; L7LB=x\r\nHost: h\r\ncookie: b=2\r\n\r\n"
    head = make_request_parser("httptools", Limits()).feed(data)[0]
    assert isinstance(head, RequestHead)
    edit = request_edit(
        head,
        client_ip="",
        scheme=b"http",
        via=b"",
        forwarded=False,
        server_host=b"x",
        cookies=[b"a=1", b"b=2"],
    )
    assert backend_request(head, head.target, edit) == (
        b"GET / HTTP/1.1\r\nHost: h\r\nx-forwarded-proto: http\r\nx-forwarded-host: h\r\n"
        b"cookie: a=1\r\ncookie: b=2\r\n\r\n"
    )


def test_http10_request_line_is_rewritten_and_host_supplied() -> None:
    head = make_request_parser("httptools", Limits()).feed(b"GET /x HTTP/1.0\r\n\r\n")[0]
    assert isinstance(head, RequestHead)
    edit = request_edit(
        head, client_ip="", scheme=b"http", via=b"", forwarded=False, server_host=b"rs:80"
    )
    assert backend_request(head, head.target, edit) == (
        b"GET /x HTTP/1.1\r\nhost: rs:80\r\nx-forwarded-proto: http\r\n\r\n"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_splice_cuts_every_field_of_a_name_whatever_its_case(kind: str) -> None:
    raw = b"GET / HTTP/1.1\r\nA: 1\r\nX-Y: 2\r\nHost: h\r\nx-y: 4\r\nX-YZ: 5\r\n\r\n"
    head = make_request_parser(kind, Limits()).feed(raw)[0]
    assert isinstance(head, RequestHead) and head.lines is not None
    out = splice(raw, head.lines, b"G\r\n", HeadEdit([b"x-y"], [(b"c", b"6")]))
    assert out == b"G\r\nA: 1\r\nHost: h\r\nX-YZ: 5\r\nc: 6\r\n\r\n"


@pytest.mark.parametrize("kind", KINDS)
def test_splice_of_a_head_without_fields(kind: str) -> None:
    raw = b"GET / HTTP/1.0\r\n\r\n"
    head = make_request_parser(kind, Limits()).feed(raw)[0]
    assert isinstance(head, RequestHead) and head.lines == [b"GET / HTTP/1.0", b"", b""]
    edit = HeadEdit([b"host"], [(b"a", b"b")])
    assert splice(raw, head.lines, b"G\r\n", edit) == b"G\r\na: b\r\n\r\n"


# --- responses ------------------------------------------------------------------------------

RESPONSE_FIELDS = [
    (b"Server", b"nginx"),
    (b"Content-Type", b"text/plain"),
    (b"Connection", b"keep-alive"),
    (b"Connection", b"close"),
    (b"Connection", b"keep-alive, X-H"),
    (b"Connection", b"Via, Location"),
    (b"X-H", b"1"),
    (b"Keep-Alive", b"timeout=5"),
    (b"Via", b"1.1 inner"),
    (b"Location", b"http://10.0.0.5:8080/d/"),
    (b"Location", b"/relative"),
    (b"Content-Location", b"http://10.0.0.5:8080/c"),
    (b"Refresh", b"5; url=http://10.0.0.5:8080/r"),
    (b"Set-Cookie", b"s=1"),
    (b"Content-Length", b"0"),
    (b"Transfer-Encoding", b"chunked"),
    (b"Upgrade", b"websocket"),
    (b"Proxy-Authenticate", b"Basic"),
]


@st.composite
def responses(draw: st.DrawFn) -> tuple[bytes, bytes]:
    status = draw(st.sampled_from([b"200 OK", b"204 No Content", b"301 Moved", b"304 ", b"101 X"]))
    version = draw(st.sampled_from([b"1.1", b"1.0"]))
    fields = draw(st.lists(st.sampled_from(RESPONSE_FIELDS), max_size=8))
    pads = draw(st.lists(st.integers(0, 3), min_size=len(fields), max_size=len(fields)))
    head = b"HTTP/" + version + b" " + status + b"\r\n"
    head += b"".join(_line(n, v, p) for (n, v), p in zip(fields, pads, strict=True))
    return head + b"\r\n", draw(st.sampled_from([b"GET", b"HEAD"]))


def parsed_response(data: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.receive_data(data)
    ev = conn.next_event()
    assert isinstance(ev, h11.Response | h11.InformationalResponse), ev
    return ev.status_code, bytes(ev.reason), _grouped(list(ev.headers))


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=responses())
def test_spliced_response_equals_rebuilt_response(kind: str, case: tuple[bytes, bytes]) -> None:
    data, method = case
    parser = make_response_parser(kind, Limits())
    parser.expect(method)
    try:
        events = parser.feed(data)
    except ProtocolError:
        return
    head = events[0]
    assert isinstance(head, ResponseHead)
    upgrade = head.status == 101
    auth = frozenset({b"10.0.0.5:8080"})
    rw = LocationRewriter(auth, b"https", b"vip.example")
    edit = response_edit(
        head, via=b"l7lb", authorities=auth, scheme=b"https", host=b"vip.example", upgrade=upgrade
    )
    # what both sides add after the edit: framing as the engine adds it
    # the received Content-Length stays; anything else closes here
    extra = [] if head.framing is Framing.LENGTH else [(b"connection", b"close")]
    edit.add += extra
    spliced = client_response(head, edit)
    hs = client_response_headers(head.headers, via=b"l7lb", rewrite=rw, upgrade=upgrade)
    if head.framing is Framing.LENGTH:
        hs.append((b"content-length", b"%d" % head.content_length))
    elif head.framing is Framing.NONE:
        cl = [v for n, v in head.headers if n == b"content-length"]
        if cl and head.status != 204 and head.status >= 200:
            hs.append((b"content-length", cl[0]))
    hs += extra
    reference = serialize_response_head(b"1.1", head.status, head.reason or reason(head.status), hs)
    # the status line, then the fields by name (the splice keeps the realserver's spelling
    # of names and moves rewritten fields to the end; neither matters to a client)
    assert spliced.split(b"\r\n", 1)[0] == reference.split(b"\r\n", 1)[0]
    assert _fields_of(spliced) == _fields_of(reference)


def _fields_of(head: bytes) -> list[tuple[bytes, bytes]]:
    lines = head.split(b"\r\n")[1:]
    out = []
    for line in lines:
        if line:
            n, _, v = line.partition(b":")
            out.append((n.lower(), v.strip(b" \t")))
    return _grouped(out)
