"""Feed the hot path a deterministic stream of mutated HTTP and print what it makes of it.

    python tests/native/trace_hot_path.py SEED COUNT

Run once compiled and once with ``L7LB_PURE=1``: the two outputs must be identical
(``test_compiled_matches_pure.py``). The first line says which build ran. Each input is a
valid request or response with random damage (bytes flipped, inserted or dropped, lines
repeated or cut), fed in random pieces; each output line is the events the httptools codec
produced or the error it raised, then, for a request head, the head l7lb would send to the
backend, and for a response head, the head it would send to the client.
"""

from __future__ import annotations

import random
import sys

from l7lb import native
from l7lb.http.events import Data, EndOfMessage, Limits, ProtocolError, RequestHead, ResponseHead
from l7lb.http.forwarding import (
    LocationRewriter,
    backend_request_headers,
    client_response_headers,
    serialize_request_head,
    serialize_response_head,
)
from l7lb.http.httptools_codec import HttptoolsRequestParser, HttptoolsResponseParser
from l7lb.persistence.setcookie import get_cookie, remove_cookie

LIMITS = Limits(max_head_size=2048, max_headers=20, max_uri_length=512)
REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
    b"GET /x?y=1 HTTP/1.0\r\nConnection: keep-alive\r\nCookie: L7LB=abc; b=c\r\n\r\n",
    b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    b"PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, X-Drop\r\nUpgrade: websocket\r\n"
    b"X-Drop: 1\r\nX-Forwarded-For: 10.0.0.1\r\nVia: 1.0 other\r\n\r\ntail",
    b"GET http://h:8080/abs HTTP/1.1\r\nHost: ignored\r\nExpect: 100-continue\r\n\r\n"
    b"GET /second HTTP/1.1\r\nHost: h\r\n\r\n",
]
RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nServer: s\r\n\r\nabc",
    b"HTTP/1.1 302 Found\r\nLocation: http://10.0.0.5:8080/d/\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, X-H\r\n"
    b"X-H: 1\r\n\r\n2\r\nab\r\n0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nRefresh: 5; url=http://10.0.0.5:8080/r\r\n\r\nclose-delimited",
    b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nws",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nVia: 1.1 x\r\n\r\n",
]
NOISE = b"\r\n :;,\t\x00\x7f\xff0aA-/?=\"'"


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randrange(4)):
        what = rng.randrange(5)
        i = rng.randrange(len(b) + 1)
        if what == 0 and b:
            b[min(i, len(b) - 1)] = rng.choice(NOISE)
        elif what == 1:
            b[i:i] = bytes([rng.choice(NOISE)])
        elif what == 2 and b:
            del b[min(i, len(b) - 1)]
        elif what == 3:
            lines = bytes(b).split(b"\r\n")
            k = rng.randrange(len(lines))
            lines.insert(k, lines[k])
            b = bytearray(b"\r\n".join(lines))
        else:
            b = b[:i]
    return bytes(b)


def pieces(rng: random.Random, data: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = rng.choice((1, 2, 7, 64, len(data)))
        out.append(data[i : i + n])
        i += n
    return out


def show(ev: object) -> str:
    if isinstance(ev, RequestHead | ResponseHead):
        return repr(ev).replace("<Framing.", "<").replace("\n", " ")
    if isinstance(ev, Data):
        return f"Data({ev.data!r})"
    if isinstance(ev, EndOfMessage):
        return "END"
    return repr(ev)


def run(rng: random.Random, parser: HttptoolsRequestParser | HttptoolsResponseParser) -> str:
    corpus = REQUESTS if isinstance(parser, HttptoolsRequestParser) else RESPONSES
    data = mutate(rng, rng.choice(corpus))
    events: list[object] = []
    try:
        for piece in pieces(rng, data):
            events += parser.feed(piece)
        events += parser.feed_eof()
    except ProtocolError as exc:
        events.append(f"ProtocolError({exc.status}, {exc.reason!r})")
    words = [show(e) for e in events]
    for ev in events:
        if isinstance(ev, RequestHead):
            hs = backend_request_headers(
                remove_cookie(ev.headers, b"L7LB"),
                client_ip="192.0.2.7",
                scheme=b"https",
                host=b"vip.example",
                via=b"l7lb",
                forwarded=True,
                upgrade=ev.upgrade,
                version=ev.version,
            )
            words.append(repr(serialize_request_head(ev.method, ev.target, hs)))
            words.append(repr(get_cookie(ev.headers, b"L7LB")))
        elif isinstance(ev, ResponseHead):
            rw = LocationRewriter(frozenset({b"10.0.0.5:8080"}), b"https", b"vip.example")
            up = ev.status == 101
            hs = client_response_headers(ev.headers, via=b"l7lb", rewrite=rw, upgrade=up)
            words.append(repr(serialize_response_head(b"1.1", ev.status, ev.reason, hs)))
    return " | ".join(words)


def main() -> int:
    seed, count = int(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    print(native.describe())
    for i in range(count):
        if i % 2:
            rp = HttptoolsResponseParser(LIMITS)
            rp.expect(rng.choice((b"GET", b"HEAD", b"POST")))
            print(run(rng, rp))
        else:
            print(run(rng, HttptoolsRequestParser(LIMITS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
