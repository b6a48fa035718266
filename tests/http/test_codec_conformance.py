"""One conformance suite for both codec back ends (h11 and httptools).

Every test takes ``kind`` and must pass for both: the proxy may run either, so framing, errors
and limits have to be the same byte for byte.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from l7lb.http.codec import make_request_parser, make_response_parser, resolve_parser_kind
from l7lb.http.events import (
    END,
    Data,
    EndOfMessage,
    Event,
    Framing,
    Limits,
    ProtocolError,
    RequestHead,
    RequestParser,
    ResponseHead,
    ResponseParser,
    Upgrade,
)
from l7lb.http.framing import ChunkedDecoder
from l7lb.http.h11_codec import LLHTTP_METHODS

KINDS = ["h11", "httptools"]
LIMITS = Limits()


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def req_parser(kind: str, limits: Limits = LIMITS) -> RequestParser:
    return make_request_parser(kind, limits)


def resp_parser(kind: str, *methods: bytes, limits: Limits = LIMITS) -> ResponseParser:
    p = make_response_parser(kind, limits)
    for m in methods:
        p.expect(m)
    return p


def feed_pieces(parser: RequestParser | ResponseParser, data: bytes, step: int = 0) -> list[Event]:
    """Feed ``data`` whole (step 0) or ``step`` bytes at a time; return all events."""
    if not step:
        return parser.feed(data)
    events: list[Event] = []
    for i in range(0, len(data), step):
        events.extend(parser.feed(data[i : i + step]))
    return events


def merged(events: list[Event]) -> list[Event]:
    """Join adjacent Data events: back ends may cut a body differently."""
    out: list[Event] = []
    for ev in events:
        if isinstance(ev, Data) and out and isinstance(out[-1], Data):
            out[-1] = Data(out[-1].data + ev.data)
        else:
            out.append(ev)
    return out


def body_of(events: list[Event]) -> bytes:
    return b"".join(ev.data for ev in events if isinstance(ev, Data))


def error_status(parser: RequestParser | ResponseParser, data: bytes, eof: bool = False) -> int:
    with pytest.raises(ProtocolError) as info:
        parser.feed(data)
        if eof:
            parser.feed_eof()
    return info.value.status


GET = b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"


# --- requests: the ordinary cases ---------------------------------------------------------


def test_simple_get(kind: str) -> None:
    events = req_parser(kind).feed(GET)
    assert len(events) == 2
    head, end = events
    assert isinstance(head, RequestHead)
    assert head.method == b"GET"
    assert head.target == b"/index.html?q=1"
    assert head.version == b"1.1"
    assert head.headers == [(b"host", b"example.com"), (b"accept", b"*/*")]
    assert head.framing is Framing.NONE
    assert head.content_length == -1
    assert head.keep_alive is True
    assert head.upgrade is False
    assert head.expect_continue is False
    assert end is END


def test_headers_lowercased_order_and_repetition_kept_values_stripped(kind: str) -> None:
    data = (
        b"GET / HTTP/1.1\r\nX-B: 1\r\nHOST: h\r\nx-a:  two words \t\r\nX-B: 3\r\n"
        b"Cookie: a=1\r\nCookie: b=2\r\n\r\n"
    )
    head = req_parser(kind).feed(data)[0]
    assert isinstance(head, RequestHead)
    assert head.headers == [
        (b"x-b", b"1"),
        (b"host", b"h"),
        (b"x-a", b"two words"),
        (b"x-b", b"3"),
        (b"cookie", b"a=1"),
        (b"cookie", b"b=2"),
    ]


def test_whole_head_waits_for_blank_line(kind: str) -> None:
    p = req_parser(kind)
    assert p.feed(GET[:-2]) == []
    events = p.feed(GET[-2:])
    assert isinstance(events[0], RequestHead) and events[1] is END


@pytest.mark.parametrize("step", [0, 1, 3, 7])
def test_post_content_length_streams(kind: str, step: int) -> None:
    body = bytes(range(256)) * 3
    data = b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    events = feed_pieces(req_parser(kind), data, step)
    head = events[0]
    assert isinstance(head, RequestHead)
    assert head.framing is Framing.LENGTH and head.content_length == len(body)
    assert body_of(events) == body
    assert events[-1] is END
    assert all(isinstance(ev, Data) for ev in events[1:-1])


def test_body_bytes_are_delivered_as_they_arrive(kind: str) -> None:
    p = req_parser(kind)
    head = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n"
    events = p.feed(head + b"abc")
    assert isinstance(events[0], RequestHead)
    assert merged(events[1:]) == [Data(b"abc")]
    assert merged(p.feed(b"defg")) == [Data(b"defg")]
    assert merged(p.feed(b"hij")) == [Data(b"hij"), END]


def test_large_chunked_upload_streams_without_buffering(kind: str) -> None:
    p = req_parser(kind)
    p.feed(b"PUT /big HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"x" * 65536
    chunk = b"10000\r\n" + piece + b"\r\n"
    for _ in range(16):
        # every feed hands back its payload at once: nothing accumulates in the parser
        assert body_of(p.feed(chunk)) == piece
    assert p.feed(b"0\r\n\r\n") == [END]


CHUNKED = (
    b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;name=value\r\nhello\r\n"
    b'1;a;b="quoted \\" str"\r\n,\r\n'
    b"6\r\n world\r\n"
    b"A\r\n0123456789\r\n"
    b"0\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n"
)


@pytest.mark.parametrize("step", [0, 1, 2, 5])
def test_chunked_with_extensions_and_trailers(kind: str, step: int) -> None:
    events = feed_pieces(req_parser(kind), CHUNKED, step)
    head = events[0]
    assert isinstance(head, RequestHead)
    assert head.framing is Framing.CHUNKED and head.content_length == -1
    assert body_of(events) == b"hello, world0123456789"
    assert events[-1] is END
    assert sum(1 for ev in events if ev is END) == 1


def test_pipelined_requests_in_one_feed(kind: str) -> None:
    data = (
        GET
        + b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
        + CHUNKED
        + b"DELETE /z HTTP/1.1\r\nHost: h\r\n\r\n"
        + b"GET /partial HTTP/1.1\r\nHo"
    )
    p = req_parser(kind)
    events = merged(p.feed(data))
    heads = [ev for ev in events if isinstance(ev, RequestHead)]
    assert [h.target for h in heads] == [b"/index.html?q=1", b"/a", b"/c", b"/z"]
    assert [type(ev).__name__ for ev in events] == [
        "RequestHead", "EndOfMessage",
        "RequestHead", "Data", "EndOfMessage",
        "RequestHead", "Data", "EndOfMessage",
        "RequestHead", "EndOfMessage",
    ]  # fmt: skip
    assert events[2 + 1] == Data(b"abc")
    assert events[5 + 1] == Data(b"hello, world0123456789")
    rest = p.feed(b"st: h\r\n\r\n")
    assert isinstance(rest[0], RequestHead) and rest[0].target == b"/partial"


def test_empty_lines_before_a_request_are_ignored(kind: str) -> None:
    events = req_parser(kind).feed(b"\r\n" + GET + b"\r\n\r\n" + GET)
    assert [type(ev) for ev in events] == [RequestHead, EndOfMessage] * 2


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        (b"1.1", None, True),
        (b"1.1", b"close", False),
        (b"1.1", b"Keep-Alive, CLOSE", False),
        (b"1.1", b"keep-alive", True),
        (b"1.0", None, False),
        (b"1.0", b"keep-alive", True),
        (b"1.0", b"Keep-Alive", True),
        (b"1.0", b"close", False),
    ],
)
def test_keep_alive_rules(
    kind: str, version: bytes, connection: bytes | None, keep_alive: bool
) -> None:
    data = b"GET / HTTP/" + version + b"\r\nHost: h\r\n"
    if connection is not None:
        data += b"Connection: " + connection + b"\r\n"
    head = req_parser(kind).feed(data + b"\r\n")[0]
    assert isinstance(head, RequestHead)
    assert head.version == version
    assert head.keep_alive is keep_alive


def test_http10_without_host_is_fine(kind: str) -> None:
    head = req_parser(kind).feed(b"GET / HTTP/1.0\r\n\r\n")[0]
    assert isinstance(head, RequestHead) and head.version == b"1.0"


def test_nothing_is_parsed_after_connection_close(kind: str) -> None:
    p = req_parser(kind)
    events = p.feed(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" + GET)
    assert len(events) == 2 and events[1] is END
    assert p.feed(GET) == []
    assert p.feed_eof() == []


def test_expect_continue(kind: str) -> None:
    data = b"PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n"
    p = req_parser(kind)
    head = p.feed(data)[0]
    assert isinstance(head, RequestHead) and head.expect_continue is True
    assert merged(p.feed(b"ok")) == [Data(b"ok"), END]


def test_upgrade_request_hands_over_the_tail(kind: str) -> None:
    data = (
        b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\n"
        b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x05hello"
    )
    p = req_parser(kind)
    events = p.feed(data)
    head = events[0]
    assert isinstance(head, RequestHead) and head.upgrade is True
    assert events[1:] == [END, Upgrade(b"\x81\x05hello")]


def test_upgrade_request_split_tail_is_empty(kind: str) -> None:
    data = b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
    events = req_parser(kind).feed(data)
    assert events[1:] == [END, Upgrade(b"")]


def test_upgrade_header_on_post_is_not_an_upgrade(kind: str) -> None:
    # curl --http2 on http:// sends this; the body must still be read as HTTP/1.1
    data = (
        b"POST / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        b"HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nContent-Length: 4\r\n\r\nbody" + GET
    )
    events = merged(req_parser(kind).feed(data))
    head = events[0]
    assert isinstance(head, RequestHead) and head.upgrade is False
    assert events[1:3] == [Data(b"body"), END]
    assert isinstance(events[3], RequestHead) and events[4] is END


def test_connection_upgrade_without_upgrade_header_is_not_an_upgrade(kind: str) -> None:
    data = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n" + GET
    events = req_parser(kind).feed(data)
    assert [type(ev) for ev in events] == [RequestHead, EndOfMessage] * 2


def test_feed_eof_between_and_inside_messages(kind: str) -> None:
    p = req_parser(kind)
    p.feed(GET)
    assert p.feed_eof() == []
    assert req_parser(kind).feed_eof() == []
    p = req_parser(kind)
    p.feed(GET[:10])
    with pytest.raises(ProtocolError) as info:
        p.feed_eof()
    assert info.value.status == 400
    p = req_parser(kind)
    p.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab")
    with pytest.raises(ProtocolError) as info:
        p.feed_eof()
    assert info.value.status == 400


def test_parser_is_dead_after_an_error(kind: str) -> None:
    p = req_parser(kind)
    with pytest.raises(ProtocolError):
        p.feed(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n")
    with pytest.raises(ProtocolError):
        p.feed(GET)


# --- requests: hostile input --------------------------------------------------------------

H = b"Host: h\r\n"
REQUEST_ERRORS = [
    (
        "te-and-cl",
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    ),
    (
        "cl-and-te",
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        400,
    ),
    (
        "cl-differ",
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 4\r\n\r\n",
        400,
    ),
    (
        "cl-repeated",
        b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3\r\nContent-Length: 3\r\n\r\n",
        400,
    ),
    ("cl-list", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 3, 4\r\n\r\n", 400),
    ("cl-plus", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +3\r\n\r\n", 400),
    ("cl-hex", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0x3\r\n\r\n", 400),
    ("cl-negative", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400),
    ("te-gzip", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n", 501),
    (
        "te-gzip-chunked",
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip, chunked\r\n\r\n",
        501,
    ),
    (
        "te-chunked-gzip",
        b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, gzip\r\n\r\n",
        501,
    ),
    ("te-in-http10", b"POST / HTTP/1.0\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n", 400),
    ("no-host", b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400),
    ("two-hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("space-before-colon", b"GET / HTTP/1.1\r\n" + H + b"X-A : 1\r\n\r\n", 400),
    ("bad-name-char", b"GET / HTTP/1.1\r\n" + H + b"X(A): 1\r\n\r\n", 400),
    ("space-in-name", b"GET / HTTP/1.1\r\n" + H + b"X A: 1\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\r\n 2\r\n\r\n", 400),
    ("obs-fold-tab", b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\r\n\t2\r\n\r\n", 400),
    ("nul-in-value", b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\x002\r\n\r\n", 400),
    ("cr-in-value", b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\r2\r\n\r\n", 400),
    ("lf-in-value", b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\n2\r\n\r\n", 400),
    ("ctl-in-value", b"GET / HTTP/1.1\r\n" + H + b"X-A: 1\x012\r\n\r\n", 400),
    ("http-2.0", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("http-1.2", b"GET / HTTP/1.2\r\n" + H + b"\r\n", 505),
    ("http-0.9", b"GET / HTTP/0.9\r\n" + H + b"\r\n", 505),
    ("garbage-version", b"GET / HTTP/1.x\r\n" + H + b"\r\n", 400),
    ("garbage-line", b"HELLO\r\n" + H + b"\r\n", 400),
    ("bad-method-char", b"G(T / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("connect", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501),
]


@pytest.mark.parametrize(
    ("data", "status"), [c[1:] for c in REQUEST_ERRORS], ids=[c[0] for c in REQUEST_ERRORS]
)
def test_request_errors(kind: str, data: bytes, status: int) -> None:
    assert error_status(req_parser(kind), data) == status


def test_bad_chunk_framing_is_rejected(kind: str) -> None:
    head = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    for body in (
        b"zz\r\n",
        b"5\r\nhelloXX",
        b"-1\r\n",
        b"5 5\r\nhello\r\n",
        b"0\r\nBad Trailer\r\n\r\n",
    ):
        assert error_status(req_parser(kind), head + body) == 400, body


# Issue 15, section 2: each malformed chunked shape is refused in the feed that brings the byte
# that makes it malformed, never later (a client that sent "5\n" and waits must not keep the
# connection until client_idle). Each case is a body whose LAST byte is that byte: every proper
# prefix is still acceptable, the whole is not. (id, body, reason)
CHUNK_ERRORS = [
    ("size-17-digits", b"10000000000000000", "chunk size longer than 16 hex digits"),
    ("size-17-zeros", b"00000000000000005", "chunk size longer than 16 hex digits"),
    ("size-overflows-63-bits", b"8000000000000000", "chunk size overflows 63 bits"),
    ("size-max-u64", b"ffffffffffffffff", "chunk size overflows 63 bits"),
    ("size-not-hex", b"g", "invalid chunk size"),
    ("size-negative", b"-", "invalid chunk size"),
    ("size-empty-line", b"\r", "invalid chunk size"),
    ("size-bare-lf", b"5\n", "bare LF in chunk size line"),
    ("size-bare-lf-after-data", b"5\r\nhello\r\n3\n", "bare LF in chunk size line"),
    ("size-bare-cr", b"5\rh", "bare CR in chunk size line"),
    ("size-space-digit", b"5 5", "invalid chunk size line"),
    ("last-chunk-bare-lf", b"5\r\nhello\r\n0\n", "bare LF in chunk size line"),
    ("data-bare-lf", b"5\r\nhello\n", "missing CRLF after chunk data"),
    ("data-bare-cr", b"5\r\nhello\rx", "bare CR after chunk data"),
    ("data-no-crlf", b"5\r\nhellox", "missing CRLF after chunk data"),
    ("data-too-long", b"2\r\nhel", "missing CRLF after chunk data"),
    ("ext-space-before-first", b"5 ;", "invalid chunk extension"),  # h11 refuses it
    ("ext-empty-name", b"5;=", "invalid chunk extension"),
    ("ext-no-name", b"5;;", "invalid chunk extension"),
    ("ext-nul", b"5;a\x00", "invalid chunk extension"),
    ("ext-space-in-token", b"5;a=b c", "invalid chunk extension"),
    ("ext-bad-name-char", b"5;a(", "invalid chunk extension"),
    ("ext-unterminated-quote", b'5;a="x\r', "invalid chunk extension"),
    ("ext-ctl-in-quote", b'5;a="x\x01', "invalid chunk extension"),
    ("ext-bare-lf", b"5;a=b\n", "bare LF in chunk size line"),
    ("ext-bare-cr", b"5;a=b\rx", "bare CR in chunk size line"),
    ("trailer-bare-lf", b"0\r\nX-T: 1\n", "bare LF in trailer section"),
    ("trailer-end-bare-lf", b"0\r\n\n", "bare LF in trailer section"),
    ("trailer-bare-cr", b"0\r\nX-T: 1\r2", "bare CR in trailer section"),
    ("trailer-no-colon", b"0\r\nX ", "invalid trailer field"),
    ("trailer-nul", b"0\r\nX-T: \x00", "invalid trailer field"),
    ("trailer-obs-fold", b"0\r\nX-T: 1\r\n ", "invalid trailer field"),
    ("trailer-content-length", b"0\r\nContent-Length:", "framing field in the trailer section"),
    ("trailer-te", b"0\r\nTransfer-encoding:", "framing field in the trailer section"),
]
CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
CHUNKED_RESP_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunk_error(kind: str, response: bool, feeds: list[bytes]) -> tuple[int, int, str]:
    """Feed ``feeds`` after a chunked head; return (index of the feed that raised, status,
    reason), index -1 when nothing raised."""
    p: RequestParser | ResponseParser
    if response:
        p = resp_parser(kind, b"GET")
        p.feed(CHUNKED_RESP_HEAD)
    else:
        p = req_parser(kind)
        p.feed(CHUNKED_HEAD)
    for i, piece in enumerate(feeds):
        try:
            p.feed(piece)
        except ProtocolError as exc:
            return i, exc.status, exc.reason
    return -1, 0, ""


@pytest.mark.parametrize("response", [False, True], ids=["request", "response"])
@pytest.mark.parametrize(
    ("body", "reason"), [c[1:] for c in CHUNK_ERRORS], ids=[c[0] for c in CHUNK_ERRORS]
)
def test_chunk_errors_are_refused_at_the_byte_that_makes_them(
    kind: str, response: bool, body: bytes, reason: str
) -> None:
    status = 502 if response else 400
    # everything but the last byte, then the last byte: the error comes with that byte
    assert chunk_error(kind, response, [body[:-1], body[-1:]]) == (1, status, reason)
    # one byte at a time: nothing raises before the last one
    assert chunk_error(kind, response, [body[i : i + 1] for i in range(len(body))]) == (
        len(body) - 1,
        status,
        reason,
    )
    # all at once, in the feed that carries the head
    head = CHUNKED_RESP_HEAD if response else CHUNKED_HEAD
    p: RequestParser | ResponseParser = resp_parser(kind, b"GET") if response else req_parser(kind)
    with pytest.raises(ProtocolError) as info:
        p.feed(head + body)
    assert (info.value.status, info.value.reason) == (status, reason)


@pytest.mark.parametrize(
    "body",
    [
        b"0000000000000005\r\nhello\r\n0\r\n\r\n",  # 16 digits: the limit, leading zeros
        b"7fffffffffffffff\r\nab",  # the largest size: accepted, waits for its data
        b'5; a = b ;c; d="q \\" \\\\ \x80"\t\r\nhello\r\n0\r\n\r\n',  # BWS, quoted-pair, obs-text
        b"5  \r\nhello\r\n0;last=1\r\nX-A: 1\r\nx-b:\r\nX-C:\t2 3\x80\r\n\r\n",
    ],
    ids=["16-digits", "max-size", "extensions", "trailers"],
)
def test_chunked_edge_cases_accepted_by_both(kind: str, body: bytes) -> None:
    for response in (False, True):
        whole = chunk_error(kind, response, [body])
        bytewise = chunk_error(kind, response, [body[i : i + 1] for i in range(len(body))])
        assert whole == bytewise == (-1, 0, ""), (response, whole, bytewise)


# --- limits -------------------------------------------------------------------------------

SMALL = Limits(max_head_size=1024, max_headers=10, max_uri_length=100)


def test_head_too_large_while_incomplete(kind: str) -> None:
    p = req_parser(kind, SMALL)
    p.feed(b"GET / HTTP/1.1\r\nHost: h\r\nX-Long: ")
    with pytest.raises(ProtocolError) as info:
        for _ in range(100):  # never sends the blank line
            p.feed(b"a" * 100)
    assert info.value.status == 431


def test_head_too_large_when_complete(kind: str) -> None:
    data = b"GET / HTTP/1.1\r\nHost: h\r\nX-Long: " + b"a" * 2000 + b"\r\n\r\n"
    assert error_status(req_parser(kind, SMALL), data) == 431


def test_head_limit_is_exact(kind: str) -> None:
    base = b"GET / HTTP/1.1\r\nHost: h\r\nX-Pad: \r\n\r\n"
    pad = SMALL.max_head_size - len(base)
    fits = base.replace(b"X-Pad: ", b"X-Pad: " + b"a" * pad)
    assert len(fits) == SMALL.max_head_size
    assert isinstance(req_parser(kind, SMALL).feed(fits)[0], RequestHead)
    over = fits.replace(b"X-Pad: ", b"X-Pad: a")
    assert error_status(req_parser(kind, SMALL), over) == 431


def test_head_limit_applies_to_each_pipelined_request(kind: str) -> None:
    # a second head after a chunked body, in the same feed, is measured from its own start
    body = b"c8\r\n" + b"b" * 200 + b"\r\n0\r\n\r\n"
    chunked = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    second = b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 900 + b"\r\n\r\n"
    assert len(second) <= SMALL.max_head_size < len(chunked + second)
    events = req_parser(kind, SMALL).feed(chunked + second)
    kinds = [type(ev) for ev in merged(events)]
    assert kinds == [RequestHead, Data, EndOfMessage, RequestHead, EndOfMessage]


def test_uri_too_long(kind: str) -> None:
    data = b"GET /" + b"a" * 100 + b" HTTP/1.1\r\nHost: h\r\n\r\n"
    assert error_status(req_parser(kind, SMALL), data) == 414
    ok = b"GET /" + b"a" * 99 + b" HTTP/1.1\r\nHost: h\r\n\r\n"
    assert isinstance(req_parser(kind, SMALL).feed(ok)[0], RequestHead)


def test_too_many_headers(kind: str) -> None:
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(9))
    ok = b"GET / HTTP/1.1\r\nHost: h\r\n" + fields + b"\r\n"
    assert isinstance(req_parser(kind, SMALL).feed(ok)[0], RequestHead)
    over = b"GET / HTTP/1.1\r\nHost: h\r\nX-Extra: 1\r\n" + fields + b"\r\n"
    assert error_status(req_parser(kind, SMALL), over) == 431


# --- responses ----------------------------------------------------------------------------


def test_response_with_content_length(kind: str) -> None:
    p = resp_parser(kind, b"GET")
    events = merged(p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello"))
    head = events[0]
    assert isinstance(head, ResponseHead)
    assert (head.status, head.reason, head.version) == (200, b"OK", b"1.1")
    assert head.headers == [(b"content-length", b"5"), (b"server", b"x")]
    assert head.framing is Framing.LENGTH and head.content_length == 5
    assert head.keep_alive is True
    assert events[1:] == [Data(b"hello"), END]


def test_head_response_has_no_body(kind: str) -> None:
    p = resp_parser(kind, b"HEAD", b"GET")
    data = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    events = merged(p.feed(data))
    first = events[0]
    assert isinstance(first, ResponseHead) and first.framing is Framing.NONE
    assert events[1] is END
    second = events[2]
    assert isinstance(second, ResponseHead) and second.framing is Framing.LENGTH
    assert events[3:] == [Data(b"ok"), END]


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(kind: str, status: int) -> None:
    p = resp_parser(kind, b"GET", b"GET")
    data = b"HTTP/1.1 %d X\r\nContent-Length: 10\r\n\r\n" % status
    data += b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    events = p.feed(data)
    assert [type(ev) for ev in events] == [ResponseHead, EndOfMessage] * 2
    first = events[0]
    assert isinstance(first, ResponseHead) and first.status == status
    assert first.framing is Framing.NONE


def test_continue_then_final_response(kind: str) -> None:
    p = resp_parser(kind, b"POST")
    events = p.feed(b"HTTP/1.1 100 Continue\r\n\r\n")
    head = events[0]
    assert isinstance(head, ResponseHead) and head.status == 100 and head.framing is Framing.NONE
    assert events[1:] == [END]
    events = merged(p.feed(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"))
    final = events[0]
    assert isinstance(final, ResponseHead) and final.status == 201
    assert events[1:] == [Data(b"ok"), END]


def test_informational_and_final_in_one_feed_with_head_method(kind: str) -> None:
    p = resp_parser(kind, b"HEAD")
    events = p.feed(
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"
    )
    assert [ev.status for ev in events if isinstance(ev, ResponseHead)] == [103, 200]
    assert [type(ev) for ev in events] == [ResponseHead, EndOfMessage] * 2


def test_close_delimited_response(kind: str) -> None:
    p = resp_parser(kind, b"GET")
    events = merged(p.feed(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome "))
    head = events[0]
    assert isinstance(head, ResponseHead)
    assert head.framing is Framing.CLOSE and head.keep_alive is False
    assert events[1:] == [Data(b"some ")]
    assert merged(p.feed(b"bytes")) == [Data(b"bytes")]
    assert p.feed_eof() == [END]


def test_response_non_chunked_transfer_coding_reads_until_close(kind: str) -> None:
    p = resp_parser(kind, b"GET")
    events = merged(p.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b"))
    head = events[0]
    assert isinstance(head, ResponseHead)
    assert head.framing is Framing.CLOSE and head.keep_alive is False
    assert head.headers == [(b"transfer-encoding", b"gzip")]
    assert events[1:] == [Data(b"\x1f\x8b")]
    assert p.feed_eof() == [END]


def test_chunked_response_and_keep_alive_sequence(kind: str) -> None:
    p = resp_parser(kind, b"GET", b"GET", b"GET")
    data = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nz"
    )
    for step in (0, 1, 4):
        p = resp_parser(kind, b"GET", b"GET", b"GET")
        events = merged(feed_pieces(p, data, step))
        heads = [ev for ev in events if isinstance(ev, ResponseHead)]
        assert [(h.status, h.framing, h.keep_alive) for h in heads] == [
            (200, Framing.CHUNKED, True),
            (404, Framing.LENGTH, True),
            (200, Framing.LENGTH, True),
        ]
        assert body_of(events) == b"abcz"
        assert sum(1 for ev in events if ev is END) == 3


def test_response_keep_alive_rules(kind: str) -> None:
    cases = [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True),
    ]
    for data, keep_alive in cases:
        head = resp_parser(kind, b"GET").feed(data)[0]
        assert isinstance(head, ResponseHead) and head.keep_alive is keep_alive, data


def test_switching_protocols_hands_over_the_tail(kind: str) -> None:
    p = resp_parser(kind, b"GET")
    events = p.feed(
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\n\r\n\x81\x00"
    )
    head = events[0]
    assert isinstance(head, ResponseHead) and head.status == 101
    assert events[1:] == [END, Upgrade(b"\x81\x00")]


def test_response_feed_eof(kind: str) -> None:
    assert resp_parser(kind).feed_eof() == []
    p = resp_parser(kind, b"GET")
    p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert p.feed_eof() == []
    for cut in (
        b"HTTP/1.1 200 OK\r\nContent-Le",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
    ):
        p = resp_parser(kind, b"GET")
        assert error_status(p, cut, eof=True) == 502


RESPONSE_ERRORS = [
    ("te-and-cl", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
    ("cl-differ", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
    ("cl-garbage", b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n"),
    ("bad-name", b"HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n"),
    ("nul", b"HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n"),
    ("obs-fold", b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"),
    ("version", b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ("status", b"HTTP/1.1 2000 OK\r\n\r\n"),
    ("garbage", b"SSH-2.0-OpenSSH_9.2\r\n\r\n"),
    ("bad-chunk", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n"),
    ("head-too-large", b"HTTP/1.1 200 OK\r\nX: " + b"a" * 2000 + b"\r\n\r\n"),
]


@pytest.mark.parametrize(
    "data", [c[1] for c in RESPONSE_ERRORS], ids=[c[0] for c in RESPONSE_ERRORS]
)
def test_response_errors_are_502(kind: str, data: bytes) -> None:
    assert error_status(resp_parser(kind, b"GET", limits=SMALL), data) == 502


def test_response_head_too_large_while_incomplete(kind: str) -> None:
    p = resp_parser(kind, b"GET", limits=SMALL)
    p.feed(b"HTTP/1.1 200 OK\r\nX: ")
    with pytest.raises(ProtocolError) as info:
        for _ in range(100):
            p.feed(b"a" * 100)
    assert info.value.status == 502


# --- choosing a back end ------------------------------------------------------------------


def test_resolve_parser_kind() -> None:
    assert resolve_parser_kind("h11") == "h11"
    assert resolve_parser_kind("httptools") == "httptools"
    assert resolve_parser_kind("auto") == "httptools"  # httptools is a dependency
    with pytest.raises(ValueError, match="unknown HTTP parser"):
        resolve_parser_kind("picohttp")


def test_factories_pick_the_back_end() -> None:
    assert type(make_request_parser("h11", LIMITS)).__name__ == "H11RequestParser"
    assert type(make_request_parser("auto", LIMITS)).__name__ == "HttptoolsRequestParser"
    assert type(make_response_parser("h11", LIMITS)).__name__ == "H11ResponseParser"
    assert type(make_response_parser("httptools", LIMITS)).__name__ == "HttptoolsResponseParser"


# --- properties ---------------------------------------------------------------------------

PROPS = settings(
    max_examples=int(os.environ.get("CODEC_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return pieces


def chunk_body(body: bytes, sizes: list[int]) -> bytes:
    out, pos, i = [], 0, 0
    while pos < len(body):
        n = max(1, sizes[i % len(sizes)]) if sizes else len(body)
        piece = body[pos : pos + n]
        out.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
        pos += n
        i += 1
    return b"".join(out) + b"0\r\n\r\n"


@PROPS
@given(
    body=st.binary(max_size=600),
    chunked=st.booleans(),
    sizes=st.lists(st.integers(1, 50), max_size=8),
    cuts=st.lists(st.integers(0, 2000), max_size=12),
)
def test_property_split_points_do_not_change_the_body(
    body: bytes, chunked: bool, sizes: list[int], cuts: list[int]
) -> None:
    if chunked:
        data = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk_body(
            body, sizes
        )
    else:
        data = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    data += GET
    for k in KINDS:
        p = req_parser(k)
        events: list[Event] = []
        for piece in split_at(data, cuts):
            events.extend(p.feed(piece))
        assert body_of(events) == body
        assert [type(ev) for ev in merged(events) if not isinstance(ev, Data)] == [
            RequestHead, EndOfMessage, RequestHead, EndOfMessage
        ]  # fmt: skip
        assert all(ev.data for ev in events if isinstance(ev, Data))


@PROPS
@given(
    body=st.binary(max_size=300),
    mode=st.sampled_from(["length", "chunked", "close"]),
    cuts=st.lists(st.integers(0, 1000), max_size=10),
)
def test_property_response_split_points(body: bytes, mode: str, cuts: list[int]) -> None:
    if mode == "length":
        data = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    elif mode == "chunked":
        data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk_body(
            body, [7, 1, 30]
        )
    else:
        data = b"HTTP/1.1 200 OK\r\n\r\n" + body
    for k in KINDS:
        p = resp_parser(k, b"GET")
        events: list[Event] = []
        for piece in split_at(data, cuts):
            events.extend(p.feed(piece))
        events.extend(p.feed_eof())
        assert body_of(events) == body
        assert events[-1] is END


PREFIXES = [
    b"",
    b"GET / HTTP/1.1\r\nHost: h\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n",
]
RESP_PREFIXES = [
    b"",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
]


@PROPS
@given(
    prefix=st.integers(0, 100),
    noise=st.lists(
        st.one_of(
            st.binary(max_size=40), st.sampled_from([b"\r\n", b"\r\n\r\n", b":", b" ", b"0\r\n"])
        ),
        max_size=10,
    ),
    response=st.booleans(),
)
def test_property_random_bytes_only_raise_protocol_error(
    prefix: int, noise: list[bytes], response: bool
) -> None:
    for k in KINDS:
        p: RequestParser | ResponseParser
        if response:
            p = resp_parser(k, b"GET", limits=SMALL)
            data = [RESP_PREFIXES[prefix % len(RESP_PREFIXES)], *noise]
        else:
            p = req_parser(k, SMALL)
            data = [PREFIXES[prefix % len(PREFIXES)], *noise]
        try:
            for piece in data:
                for ev in p.feed(piece):
                    assert isinstance(
                        ev, RequestHead | ResponseHead | Data | EndOfMessage | Upgrade
                    )
            p.feed_eof()
        except ProtocolError as exc:
            assert 400 <= exc.status <= 599


TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
names = st.text(TOKEN_CHARS, min_size=1, max_size=12).filter(
    lambda n: (
        n.lower()
        not in {"host", "content-length", "transfer-encoding", "connection", "upgrade", "expect"}
    )
)
values = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20).map(
    lambda v: v.encode()
) | st.builds(
    lambda a, b: a + b" " + b,
    st.binary(min_size=1, max_size=5).map(lambda b: bytes(c % 94 + 33 for c in b)),
    st.just(b"x"),
)


@st.composite
def valid_request(draw: st.DrawFn) -> bytes:
    method = draw(
        st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"HEAD"])
    )
    target = b"/" + draw(st.text("abcxyz0123456789/._-~%?=&", max_size=30)).encode()
    version = draw(st.sampled_from([b"1.1", b"1.0"]))
    fields = [(n.encode(), v) for n, v in draw(st.lists(st.tuples(names, values), max_size=8))]
    if version == b"1.1" or draw(st.booleans()):
        fields.insert(draw(st.integers(0, len(fields))), (b"Host", b"example.com"))
    conn = draw(
        st.sampled_from([None, b"close", b"keep-alive", b"Upgrade", b"keep-alive, upgrade"])
    )
    if conn is not None:
        fields.append((b"Connection", conn))
    if draw(st.booleans()):
        fields.append((b"Upgrade", b"websocket"))
    if draw(st.booleans()):
        fields.append((b"Expect", b"100-continue"))
    body = draw(st.binary(max_size=100))
    framing = draw(
        st.sampled_from(["none", "length", "chunked"] if version == b"1.1" else ["none", "length"])
    )
    if framing == "none":
        body = b""
    elif framing == "length":
        fields.append((b"Content-Length", b"%d" % len(body)))
    else:
        fields.append((b"Transfer-Encoding", b"chunked"))
        ext = draw(st.sampled_from([b"", b";a", b";a=b", b';q="x y"']))
        body = (
            chunk_body(body, [5, 11]).replace(b"\r\n", ext + b"\r\n", 1) if body else b"0\r\n\r\n"
        )
    head = b"%s %s HTTP/%s\r\n" % (method, target, version)
    head += b"".join(n + b": " + v + b"\r\n" for n, v in fields)
    return head + b"\r\n" + body


def summary(events: list[Event]) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for ev in merged(events):
        if isinstance(ev, RequestHead):
            out.append(
                (
                    "head", ev.method, ev.target, ev.version, tuple(ev.headers), ev.framing,
                    ev.content_length, ev.keep_alive, ev.upgrade, ev.expect_continue,
                )
            )  # fmt: skip
        elif isinstance(ev, Data):
            out.append(("data", ev.data))
        elif isinstance(ev, Upgrade):
            out.append(("upgrade", ev.tail))
        else:
            out.append(("end",))
    return out


@PROPS
@given(requests=st.lists(valid_request(), min_size=1, max_size=4), step=st.sampled_from([0, 1, 13]))
def test_property_back_ends_agree_on_valid_requests(requests: list[bytes], step: int) -> None:
    data = b"".join(requests)
    results = {}
    for k in KINDS:
        try:
            results[k] = summary(feed_pieces(req_parser(k), data, step))
        except ProtocolError as exc:  # pragma: no cover - shows the disagreement if any
            results[k] = [("error", exc.status, exc.reason)]
    assert results["h11"] == results["httptools"]
    assert results["h11"][0][0] == "head"


def test_switching_protocols_without_connection_header_still_switches(kind: str) -> None:
    # the status alone decides: after a 101 the bytes are no longer HTTP
    events = resp_parser(kind, b"GET").feed(b"HTTP/1.1 101 Switching\r\nUpgrade: ws\r\n\r\nraw")
    assert events[1:] == [END, Upgrade(b"raw")]


def test_stray_empty_lines_between_responses_are_skipped(kind: str) -> None:
    p = resp_parser(kind, b"GET", b"GET")
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx\r\n"
    events = p.feed(data) + p.feed(data)
    assert [ev.status for ev in events if isinstance(ev, ResponseHead)] == [200, 200]
    assert body_of(events) == b"xx"
    assert p.feed_eof() == []


# --- reuse after a response -----------------------------------------------------------------


def test_idle_only_between_messages_with_nothing_buffered(kind: str) -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    p = resp_parser(kind, b"GET")
    assert p.idle()
    p.feed(ok[:20])
    assert not p.idle()  # inside a head
    p.feed(ok[20:-1])
    assert not p.idle()  # inside a body
    p.feed(ok[-1:])
    assert p.idle()
    # a stray CRLF after a body is skipped (as llhttp does): still reusable
    p = resp_parser(kind, b"GET")
    p.feed(ok + b"\r\n")
    assert p.idle()


@pytest.mark.parametrize(
    ("method", "tail"),
    [
        (b"HEAD", b"hello"),  # a body sent to HEAD
        (b"GET", b"HTTP/1.1 200 OK\r\nContent-Le"),  # the start of an unasked-for response
    ],
)
def test_bytes_after_a_response_make_the_parser_not_idle(
    kind: str, method: bytes, tail: bytes
) -> None:
    p = resp_parser(kind, method)
    events = p.feed(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
        + (b"" if method == b"HEAD" else b"12345")
        + tail
    )
    assert END in events
    assert not p.idle()


# --- chunked bodies, generated: valid ones pass whole and in pieces, mutated ones agree ----

EXT_NAMES = st.text(TOKEN_CHARS, min_size=1, max_size=6).map(str.encode)
QUOTED = st.binary(max_size=8).map(
    lambda b: (
        b'"'
        + b"".join(
            b"\\" + bytes([c]) if c in b'"\\' else bytes([c]) for c in b if c >= 0x20 and c != 0x7F
        )
        + b'"'
    )
)
WS = st.sampled_from([b"", b" ", b"\t", b"  "])


@st.composite
def chunk_ext(draw: st.DrawFn, first: bool) -> bytes:
    ext = (b"" if first else draw(WS)) + b";" + draw(WS) + draw(EXT_NAMES)
    if draw(st.booleans()):
        ext += draw(WS) + b"=" + draw(WS) + draw(st.one_of(EXT_NAMES, QUOTED))
    return ext


@st.composite
def chunked_body(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """A valid chunked body with random extensions, digits and trailers: (wire, payload)."""
    pieces = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=5))
    out = []
    for piece in [*pieces, b""]:
        size = b"%x" % len(piece)
        if draw(st.booleans()):
            size = size.upper()
        size = b"0" * draw(st.integers(0, 16 - len(size))) + size
        exts = draw(st.lists(st.booleans(), max_size=3))
        line = size + b"".join(draw(chunk_ext(i == 0)) for i, _ in enumerate(exts)) + draw(WS)
        out.append(line + b"\r\n" + (piece + b"\r\n" if piece else b""))
    trailers = draw(st.lists(st.tuples(names, values), max_size=3))
    out.append(b"".join(n.encode() + b":" + draw(WS) + v + b"\r\n" for n, v in trailers))
    return b"".join(out) + b"\r\n", b"".join(pieces)


@PROPS
@given(body=chunked_body(), cuts=st.lists(st.integers(0, 2000), max_size=12))
def test_property_valid_chunked_bodies_pass_in_any_pieces(
    body: tuple[bytes, bytes], cuts: list[int]
) -> None:
    wire, payload = body
    for k in KINDS:
        for response in (False, True):
            p: RequestParser | ResponseParser = (
                resp_parser(k, b"GET") if response else req_parser(k)
            )
            head = CHUNKED_RESP_HEAD if response else CHUNKED_HEAD
            events: list[Event] = []
            for piece in split_at(head + wire, cuts):
                events.extend(p.feed(piece))
            assert body_of(events) == payload
            assert events[-1] is END


# bytes that make or break chunked framing, for mutations
FRAMING_BYTES = [b"\r", b"\n", b"\r\n", b";", b"=", b'"', b"\\", b" ", b"\t", b"0", b"f", b"\x00"]


def chunk_outcome(k: str, response: bool, data: bytes, step: int) -> tuple[object, ...]:
    p: RequestParser | ResponseParser = resp_parser(k, b"GET") if response else req_parser(k)
    head = CHUNKED_RESP_HEAD if response else CHUNKED_HEAD
    p.feed(head)
    events: list[Event] = []
    pieces = [data] if not step else [data[i : i + step] for i in range(0, len(data), step)]
    fed = 0
    for piece in pieces:
        try:
            events.extend(p.feed(piece))
        except ProtocolError as exc:
            return ("error", exc.status, exc.reason, fed + len(piece) if step == 1 else None)
        fed += len(piece)
    return ("ok", tuple(summary(events)))


def in_body(wire: bytes, bad: object) -> bool:
    """Whether the byte at 1-based offset ``bad`` lies inside the chunked body at the start
    of ``wire`` (rather than in what follows it)."""
    assert isinstance(bad, int)
    try:
        _, rest = ChunkedDecoder(400, LIMITS.max_head_size).feed(wire)
    except ProtocolError:
        return True
    return rest is None or bad <= len(wire) - len(rest)


@PROPS
@given(
    body=chunked_body(),
    edits=st.lists(
        st.tuples(st.integers(0, 400), st.integers(0, 2), st.sampled_from(FRAMING_BYTES)),
        min_size=1,
        max_size=3,
    ),
    response=st.booleans(),
)
def test_property_mutated_chunked_bodies_same_outcome_in_both_back_ends(
    body: tuple[bytes, bytes], edits: list[tuple[int, int, bytes]], response: bool
) -> None:
    data = bytearray(body[0])
    for at, how, piece in edits:
        at %= len(data) + 1
        if how == 0:
            data[at:at] = piece  # insert
        elif how == 1:
            data[at : at + 1] = piece  # replace
        else:
            del data[at : at + 1]
    wire = bytes(data)
    outcomes = {
        (k, step): chunk_outcome(k, response, wire, step) for k in KINDS for step in (0, 1, 7)
    }
    bytewise = outcomes[("h11", 1)]
    # an error after the body's end is in the next head, where each back end words its own
    # reason (heads are compared elsewhere): then only the status must agree
    compared = 3 if bytewise[0] == "error" and in_body(wire, bytewise[3]) else 2
    assert outcomes[("httptools", 1)][:compared] == bytewise[:compared]
    for (k, step), got in outcomes.items():
        if bytewise[0] == "error":
            # the same status and reason whatever the pieces: an error has one cause
            assert got[:compared] == bytewise[:compared], (k, step, got, bytewise)
        else:
            assert got == bytewise, (k, step, got, bytewise)
    if bytewise[0] == "error":
        # "at once": the prefix before the offending byte is acceptable in one piece
        bad = bytewise[3]
        assert isinstance(bad, int)
        for k in KINDS:
            assert chunk_outcome(k, response, wire[: bad - 1], 0)[0] == "ok"


# --- found by tools/fuzz.py (each also in tests/fuzz/regressions/) --------------------------

# every method llhttp knows, and tokens it does not (RTSP methods, other cases, inventions)
METHOD_CANDIDATES = [
    *sorted(m.decode() for m in LLHTTP_METHODS),
    *["DESCRIBE", "ANNOUNCE", "SETUP", "PLAY", "PAUSE", "TEARDOWN", "RECORD", "FLUSH", "REDIRECT"],
    *["get", "Get", "GGET", "FOO", "X", "PROPFINDX", "GETS"],
]


@pytest.mark.parametrize("method", METHOD_CANDIDATES)
def test_methods_llhttp_refuses_are_refused_by_both(method: str) -> None:
    data = method.encode() + b" / HTTP/1.1\r\nHost: h\r\n\r\n"
    outcomes = []
    for k in KINDS:
        try:
            head = req_parser(k).feed(data)[0]
            assert isinstance(head, RequestHead)
            outcomes.append(("ok", head.method))
        except ProtocolError as exc:
            outcomes.append(("error", exc.status))
    assert outcomes[0] == outcomes[1], outcomes
    if method == "CONNECT":
        assert outcomes[0] == ("error", 501)
    elif method.encode() in LLHTTP_METHODS:
        assert outcomes[0] == ("ok", method.encode())
    else:
        assert outcomes[0] == ("error", 400)


def test_unknown_method_with_other_faults_is_400_in_both(kind: str) -> None:
    # llhttp stops at the method: the h11 back end must not report the version first
    assert error_status(req_parser(kind), b"GGET / HTTP/2.0\r\nHost: h\r\n\r\n") == 400


@pytest.mark.parametrize("reason", [b"Switch\x00ing", b"OK\x01", b"O\x7fK", b"\x1b[31mred"])
def test_control_characters_in_the_reason_phrase_are_502(kind: str, reason: bytes) -> None:
    data = b"HTTP/1.1 200 " + reason + b"\r\nContent-Length: 0\r\n\r\n"
    assert error_status(resp_parser(kind, b"GET"), data) == 502


def test_reason_phrase_with_tab_and_obs_text_is_kept(kind: str) -> None:
    head = resp_parser(kind, b"GET").feed(
        b"HTTP/1.1 200 Tr\xe8s\tbien\r\nContent-Length: 0\r\n\r\n"
    )[0]
    assert isinstance(head, ResponseHead) and head.reason == b"Tr\xe8s\tbien"


@pytest.mark.parametrize(
    "te",
    [
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: x 1\r\nTransfer-Encoding: Chunked\r\n",
    ],
    ids=["list", "two-fields", "odd-coding"],
)
def test_response_chunked_after_other_codings_is_decoded_by_both(kind: str, te: bytes) -> None:
    p = resp_parser(kind, b"GET", b"GET")
    data = b"HTTP/1.1 200 OK\r\n" + te + b"\r\n3\r\nabc\r\n0\r\n\r\n"
    data += b"HTTP/1.1 204 No Content\r\n\r\n"
    events = merged(p.feed(data))
    head = events[0]
    assert isinstance(head, ResponseHead) and head.framing is Framing.CHUNKED
    assert events[1:3] == [Data(b"abc"), END]
    second = events[3]
    assert isinstance(second, ResponseHead) and second.status == 204


def test_transfer_encoding_value_is_kept_as_sent(kind: str) -> None:
    # h11 lower-cases it; the events carry what the peer sent, as llhttp gives it
    head = req_parser(kind).feed(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:  Chunked \r\n\r\n0\r\n\r\n"
    )[0]
    assert isinstance(head, RequestHead) and head.framing is Framing.CHUNKED
    assert head.headers == [(b"host", b"h"), (b"transfer-encoding", b"Chunked")]
    resp = resp_parser(kind, b"GET").feed(
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunkEd\r\n\r\n0\r\n\r\n"
    )[0]
    assert isinstance(resp, ResponseHead) and resp.framing is Framing.CHUNKED
    assert resp.headers == [(b"transfer-encoding", b"chunkEd")]


def test_target_in_no_form_is_refused_by_both() -> None:
    data = b"GET ccc/ws HTTP/1.1\r\nHost: h\r\n\r\n"
    assert error_status(req_parser("httptools"), data) == 400
    assert error_status(req_parser("h11"), data) == 400


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"POST / HTTP/0.1\r\nHost: h\r\nTransfer-Encoding: chundek\r\n\r\n", 505),
        (b"POST / HTTP/1.1\r\nHostX: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        (b"GGET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n", 501),
    ],
    ids=["version-first", "host-first", "method-first", "twice-chunked"],
)  # fmt: skip
def test_transfer_encoding_is_judged_after_version_method_and_host(
    kind: str, data: bytes, status: int
) -> None:
    # llhttp leaves the Transfer-Encoding to the shared rules, which check it last; h11
    # refused it before anything else
    assert error_status(req_parser(kind), data) == status


@pytest.mark.parametrize(
    "line",
    [b"GET  / HTTP/1.1", b"GET /  HTTP/1.1", b"GET    /x HTTP/1.1"],
    ids=["after-method", "after-target", "many"],
)
def test_extra_spaces_in_the_request_line_are_400_in_both(line: bytes) -> None:
    data = line + b"\r\nHost: h\r\n\r\n"
    assert error_status(req_parser("h11"), data) == 400
    assert error_status(req_parser("httptools"), data) == 400


def test_request_line_without_version_is_400_in_both() -> None:
    data = b"GET /index.html\r\nHost: h\r\n\r\n"
    assert error_status(req_parser("h11"), data) == 400
    assert error_status(req_parser("httptools"), data) == 400


@pytest.mark.parametrize("junk", [b"\r\n", b"\r\n\r\n"])
def test_empty_lines_before_a_start_line_are_skipped_by_both(kind: str, junk: bytes) -> None:
    # RFC 9112 section 2.2: a server SHOULD ignore at least one empty line (CRLF) before a
    # request line; a stray CRLF after a response body is skipped the same way
    events = req_parser(kind).feed(junk + GET)
    assert [type(ev) for ev in events] == [RequestHead, EndOfMessage]
    events = resp_parser(kind, b"GET").feed(junk + b"HTTP/1.1 204 No Content\r\n\r\n")
    assert [type(ev) for ev in events] == [ResponseHead, EndOfMessage]


@pytest.mark.parametrize("junk", [b"\n", b"\r", b"\n\n", b"\r\r\n", b"\r\n\n", b"\n\r\n"])
def test_a_bare_cr_or_lf_before_a_start_line_is_refused_by_both(kind: str, junk: bytes) -> None:
    # not an empty line: a bare CR or LF would otherwise begin the method (llhttp skips
    # them, so the httptools back end hands them on to the shared check)
    assert error_status(req_parser(kind), junk + GET) == 400
    with pytest.raises(ProtocolError) as err:
        resp_parser(kind, b"GET").feed(junk + b"HTTP/1.1 204 No Content\r\n\r\n")
    assert err.value.status == 502


def test_a_head_of_only_line_ends_is_refused_by_both(kind: str) -> None:
    # the first CRLF CRLF ends a "head" that holds no request line
    assert error_status(req_parser(kind), b"\n\r\n\r\n" + GET) == 400


@pytest.mark.parametrize(
    ("hosts", "status"),
    [(b"Host: a\r\nHost: b\r\n", 431), (b"", 431), (b"Host: a\r\nHost: b\r\n", 505)],
    ids=["two-hosts", "no-host", "two-hosts-http-2.0"],
)
def test_host_count_is_judged_after_limits_and_version(
    kind: str, hosts: bytes, status: int
) -> None:
    version = b"2.0" if status == 505 else b"1.1"
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(12 if status == 431 else 1))
    data = b"GET / HTTP/" + version + b"\r\n" + hosts + fields + b"\r\n"
    assert error_status(req_parser(kind, SMALL), data) == status


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"POST /b HTTP/2.1\r\nHost: h\r\nBad(Name: 2\r\n\r\n", 505),
        (b"GET / HTTP/1.2\r\nHost: h\r\nX: a\nY: b\r\n\r\n", 505),
        (b"GET / HTTP/0.0\r\nX: a\r\n b\r\n\r\n", 505),
        (b"GET / HTTP/2.0\r\nBad(Name: 2\r\n\r\n", 400),  # llhttp reads 2.0: the header first
        (b"GET / HTTP/0.9\r\nBad(Name: 2\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        (b"GET /a HTTP/0.1\r\xff\nHost: h\r\n\r\n", 505),  # the version, then the line end
        (b"GET /\xeac HTTP/0.1\r\nHost: h\r\n\r\n", 400),  # the target, then the version
    ],
    ids=["2.1", "1.2", "0.0", "2.0-bad-header", "0.9-bad-header", "2.0", "0.1-cr", "target"],
)
def test_request_line_version_is_judged_before_the_headers(
    kind: str, data: bytes, status: int
) -> None:
    assert error_status(req_parser(kind), data) == status


def test_empty_transfer_encoding_is_400_and_502_in_both(kind: str) -> None:
    assert (
        error_status(req_parser(kind), b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n")
        == 400
    )
    resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n"
    assert error_status(resp_parser(kind, b"GET"), resp) == 502


@pytest.mark.parametrize(
    ("value", "keep_alive"),
    [(b"keep-al ive", False), (b"keep-alive x", False), (b" keep-alive ,x", True)],
)
def test_connection_tokens_are_list_elements(kind: str, value: bytes, keep_alive: bool) -> None:
    # an element is one token with OWS around it: "keep-al ive" is not "keep-alive"
    data = b"GET / HTTP/1.0\r\nConnection: " + value + b"\r\n\r\n"
    events = req_parser(kind).feed(data + data)
    head = events[0]
    assert isinstance(head, RequestHead) and head.keep_alive is keep_alive
    assert len(events) == (4 if keep_alive else 2)


@pytest.mark.parametrize(
    "value",
    [b"keep-alive", b"Keep-Alive", b"KEEP-ALIVE", b"close", b"Close", b"CLOSE", b"keep-alive, x-a"],
)
@pytest.mark.parametrize("version", [b"1.0", b"1.1"])
def test_the_common_connection_values_mean_what_any_spelling_does(
    kind: str, value: bytes, version: bytes
) -> None:
    # keep-alive and close in their usual spellings are recognised before the token cache
    # (framing._split_tokens): the answer, and the fields dropped, must not depend on that
    closing = b"close" in value.lower()
    keep_alive = not closing if version == b"1.1" else b"keep-alive" in value.lower()
    req = b"GET / HTTP/" + version + b"\r\nHost: h\r\nConnection: " + value + b"\r\n"
    head = req_parser(kind).feed(req + b"X-A: 1\r\n\r\n")[0]
    assert isinstance(head, RequestHead) and head.keep_alive is keep_alive
    assert head.dropped == (frozenset([b"x-a"]) if b"x-a" in value else frozenset())
    resp = b"HTTP/" + version + b" 200 OK\r\nContent-Length: 0\r\nConnection: " + value
    rh = resp_parser(kind, b"GET").feed(resp + b"\r\nX-A: 1\r\n\r\n")[0]
    assert isinstance(rh, ResponseHead) and rh.keep_alive is keep_alive
    assert rh.dropped == (frozenset([b"x-a"]) if b"x-a" in value else frozenset())


@pytest.mark.parametrize(
    "field",
    [b"Connection: Upg\x17ade", b"X-Note: a\x00b", b"Upgrade: web\x7fsocket"],
    ids=["control-in-connection", "nul", "del"],
)
def test_a_control_character_in_a_101_head_is_refused_by_both(kind: str, field: bytes) -> None:
    # Found by tools/fuzz.py: llhttp's pause after a 101 head was taken for every error
    # raised on one, so the httptools back end let a bad byte through
    data = b"HTTP/1.1 101 Switching Protocols\r\n" + field + b"\r\nUpgrade: websocket\r\n\r\n"
    with pytest.raises(ProtocolError) as err:
        resp_parser(kind, b"GET").feed(data)
    assert err.value.status == 502


def test_an_invalid_transfer_encoding_value_before_a_line_without_a_colon_is_refused() -> None:
    # Found by tools/fuzz.py: llhttp stops at the Transfer-Encoding value, before it reads
    # the lines after it, and the httptools back end then ran the shared rules over a line
    # with no colon (IndexError). Two faults: each back end may name either (400 or 501).
    data = b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunKed,0\r\nno colon\r\n\r\n"
    for kind in ("httptools", "h11"):
        assert error_status(req_parser(kind), data) in (400, 501)
