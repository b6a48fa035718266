"""Request assembly over l7lb's codec (both back ends) and response bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.admin.http_message import (
    LIMITS,
    MAX_BODY,
    AdminRequest,
    AdminResponse,
    RequestAssembler,
    error_response,
    json_response,
)
from l7lb.http.codec import make_request_parser
from l7lb.http.events import ProtocolError

DATE = "Tue, 01 Dec 2026 10:00:00 GMT"
KINDS = ("h11", "httptools")


def assembler(kind: str) -> RequestAssembler:
    return RequestAssembler(make_request_parser(kind, LIMITS))


def test_response_bytes() -> None:
    r = AdminResponse(200, b"ok\n", headers=(("Allow", "GET"),))
    assert r.encode(DATE) == (
        b"HTTP/1.1 200 OK\r\n"
        b"Date: Tue, 01 Dec 2026 10:00:00 GMT\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 3\r\n"
        b"Cache-Control: no-store\r\n"
        b"X-Content-Type-Options: nosniff\r\n"
        b"Allow: GET\r\n"
        b"\r\n"
        b"ok\n"
    )
    closing = r.encode(DATE, head_only=True, close=True)
    assert closing.endswith(b"Allow: GET\r\nConnection: close\r\n\r\n")
    assert (
        error_response(431, "x")
        .encode(DATE)
        .startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    )
    assert error_response(431, "x").body == b"431 Request Header Fields Too Large: x\n"
    assert json_response(200, {"a": "é"}).body == '{\n  "a": "é"\n}\n'.encode()
    assert AdminResponse(599).encode(DATE).startswith(b"HTTP/1.1 599 Unknown\r\n")


@pytest.mark.parametrize("kind", KINDS)
def test_pipelined_requests_with_bodies_byte_by_byte(kind: str) -> None:
    wire = (
        b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
        b"POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
        b"POST /api/y HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    a = assembler(kind)
    got: list[AdminRequest] = []
    for i in range(len(wire)):  # one byte at a time: nothing depends on read boundaries
        got += a.feed(wire[i : i + 1])
    assert [(r.method, r.target, r.body, r.keep_alive) for r in got] == [
        ("GET", "/healthz", b"", True),
        ("POST", "/api/x", b"hello", True),
        ("POST", "/api/y", b"abcde", True),
        ("GET", "/last", b"", False),
    ]
    assert got[1].header(b"content-length") == b"5" and got[1].header(b"x-none") is None
    assert not a.mid_request


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("wire", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),  # no head end: refused at once
        (b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431),
        (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-A: 1\r\n" * 70 + b"\r\n", 431),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 16385\r\n\r\n", 413),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"1000\r\n"
            + b"x" * 4096
            + b"\r\n"
            + b"1000\r\n"
            + b"x" * 4096
            + b"\r\n" * 1
            + b"1000\r\n"
            + b"x" * 4096
            + b"\r\n"
            + b"1000\r\n"
            + b"x" * 4096
            + b"\r\n"
            + b"1\r\nx\r\n",
            413,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            400,
        ),
    ],
)
def test_hostile_input_gets_its_status(kind: str, wire: bytes, status: int) -> None:
    with pytest.raises(ProtocolError) as caught:
        assembler(kind).feed(wire)
    assert caught.value.status == status


def test_empty_lines_before_a_request_are_skipped() -> None:
    [request] = assembler("httptools").feed(b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert request.target == "/"


def test_a_body_of_max_body_bytes_is_taken() -> None:
    wire = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % MAX_BODY
    [request] = assembler("httptools").feed(wire + b"x" * MAX_BODY)
    assert len(request.body) == MAX_BODY


@pytest.mark.parametrize("kind", KINDS)
def test_cut_short_and_mid_request(kind: str) -> None:
    a = assembler(kind)
    assert a.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc") == []
    assert a.mid_request
    with pytest.raises(ProtocolError):
        a.feed_eof()
    b = assembler(kind)
    assert b.feed(b"GET / HT") == [] and not b.mid_request  # a partial head is not a request yet
    assert assembler(kind).feed_eof() == []  # a connection that sent nothing


@pytest.mark.parametrize("kind", KINDS)
def test_upgrade_and_expect_continue(kind: str) -> None:
    a = assembler(kind)
    wire = (
        b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
        b"\x81\x00 raw frames"
    )
    [request] = a.feed(wire)
    assert a.upgraded and not request.keep_alive  # answered, then the connection closes
    assert a.feed(b"GET / HTTP/1.1\r\n\r\n") == []
    c = assembler(kind)
    head = b"POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    assert c.feed(head) == [] and c.continue_due
    [posted] = c.feed(b"hi")
    assert posted.body == b"hi" and not c.continue_due


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_assembler_is_total(data: bytes) -> None:
    """Any bytes: whole requests or a ProtocolError with an error status, never
    another exception."""
    for kind in KINDS:
        a = assembler(kind)
        try:
            a.feed(b"POST / HTTP/1.1\r\nHost: a\r\n" + data)
            a.feed_eof()
        except ProtocolError as exc:
            assert 400 <= exc.status < 600
