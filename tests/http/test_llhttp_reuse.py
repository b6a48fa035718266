"""The httptools back end keeps its llhttp parser from one response to the next only when
llhttp saw the whole message (a new one costs about twice a body handed to it)."""

from __future__ import annotations

import pytest

from l7lb.http.events import END, Data, Limits, ResponseHead
from l7lb.http.httptools_codec import HttptoolsResponseParser

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


@pytest.mark.parametrize(
    ("method", "split", "kept"),
    [
        (b"GET", len(RESPONSE), True),  # the body came with the head: llhttp reads it too
        (b"GET", len(RESPONSE) - 2, False),  # the body ends in a later read
        (b"HEAD", len(RESPONSE) - 5, False),  # no body, whatever llhttp expects: a new one
    ],
)
def test_llhttp_is_kept_only_when_it_saw_the_whole_message(
    method: bytes, split: int, kept: bool
) -> None:
    parser = HttptoolsResponseParser(Limits())
    parser.expect(method)
    parser.expect(b"GET")
    first = parser._parser
    events = parser.feed(RESPONSE[:split])
    if split < len(RESPONSE) and method == b"GET":
        events += parser.feed(RESPONSE[split:])
    assert (parser._parser is first) is kept
    body = b"".join(e.data for e in events if isinstance(e, Data))
    assert body == (b"hello" if method == b"GET" else b"") and events[-1] is END
    # and the next response is read as it should be, either way
    nxt = parser.feed(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert isinstance(nxt[0], ResponseHead) and nxt[0].status == 204 and nxt[1] is END
