"""A parser that is dropped is freed at once, by reference counting: none of the codecs may
leave a reference cycle behind (the httptools one did: llhttp held the codec's bound callback,
and the codec held llhttp). Every closed connection then left its parser, its last head and
its buffers to the cyclic garbage collector, whose passes cost several per cent of a resumed
TLS connection (py-spy, tls-resume-id, 2026-12-02)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator

import pytest

from l7lb.http.codec import RequestParser, ResponseParser
from l7lb.http.events import Limits
from l7lb.http.h11_codec import H11RequestParser, H11ResponseParser
from l7lb.http.httptools_codec import HttptoolsRequestParser, HttptoolsResponseParser

REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\npart",  # body not finished
    b"GET / HTTP/1.1\r\nHo",  # head not finished
]
RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\nuntil close",
    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\npart",
]


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _cycles_left(make: Callable[[], object], feed: Callable[[object], object]) -> int:
    for _ in range(20):
        parser = make()
        feed(parser)
        del parser
    return gc.collect()


@pytest.mark.usefixtures("collector_off")
@pytest.mark.parametrize("make", [HttptoolsRequestParser, H11RequestParser])
@pytest.mark.parametrize("data", REQUESTS)
def test_a_dropped_request_parser_leaves_no_cycle(
    make: Callable[[Limits], RequestParser], data: bytes
) -> None:
    def feed(p: object) -> None:
        assert isinstance(p, RequestParser)
        assert p.feed(data) or data.endswith(b"Ho")

    assert _cycles_left(lambda: make(Limits()), feed) == 0


@pytest.mark.usefixtures("collector_off")
@pytest.mark.parametrize("make", [HttptoolsResponseParser, H11ResponseParser])
@pytest.mark.parametrize("data", RESPONSES)
def test_a_dropped_response_parser_leaves_no_cycle(
    make: Callable[[Limits], ResponseParser], data: bytes
) -> None:
    def feed(p: object) -> None:
        assert isinstance(p, ResponseParser)
        p.expect(b"GET")
        p.expect(b"GET")
        assert p.feed(data)

    assert _cycles_left(lambda: make(Limits()), feed) == 0
