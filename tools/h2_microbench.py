"""The Python cost of one proxied HTTP/2 request, without sockets: the HTTP/2 twin of
``benchmarks/microbench.py`` (which measures HTTP/1.1 keep-alive).

One ``ClientConnection`` whose ALPN said "h2" and a stock of ``BackendConnection`` objects
are wired to fake transports; each round the client sends ``--streams`` requests in one
read (HEADERS frames whose fields are all in the client's HPACK table by then, as h2load's
and browsers' are), every backend answers a small response, and the client opens its
windows again, as h2load does. What is counted is l7lb's own per-request path: frame
parsing, HPACK, the RFC 9113 checks, routing, the exchange, both HTTP/1.1 legs, the
response HEADERS and DATA frames. TLS, syscalls and the event loop are left out.

    python tools/h2_microbench.py [--streams 10] [--rounds N]
    python tools/h2_microbench.py --instructions [--streams 10]

``--instructions`` runs the loop under ``valgrind --tool=callgrind`` twice (N and 3N rounds)
and prints instructions per request, to compare with ``benchmarks/microbench.py
--instructions`` (HTTP/1.1) on the same build.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import time
from typing import Any

import hpack
import uvloop

from l7lb.config.load import parse_config
from l7lb.proxy.client import ClientConnection
from l7lb.proxy.h2 import H2Connection
from l7lb.proxy.link import BackendLink
from l7lb.proxy.runtime import WorkerRuntime
from l7lb.proxy.services import WorkerServices
from l7lb.proxy.upstream import BackendConnection

CONFIG = """
[log]
access = "off"
[[vip]]
name = "b"
listen = ["127.0.0.1:18443"]
tls = { certificates = [{ cert = "unused.pem", key = "unused.key" }] }
[[vip.route]]
pool = "p"
[pool.p]
max_idle = 256
[[pool.p.server]]
address = "127.0.0.1:19100"
"""

FIELDS = [
    (b":method", b"GET"),
    (b":scheme", b"https"),
    (b":authority", b"www.example.com"),
    (b":path", b"/index.html"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"),
    (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    (b"accept-language", b"en-US,en;q=0.5"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"cookie", b"a=b; c=d"),
]
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 11:07:18 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\n"
    b"hello world\n"
)


def frame(kind: int, flags: int, sid: int, payload: bytes) -> bytes:
    n = len(payload)
    return (
        bytes((n >> 16, (n >> 8) & 0xFF, n & 0xFF, kind, flags)) + sid.to_bytes(4, "big") + payload
    )


class SslObject:
    def selected_alpn_protocol(self) -> str:
        return "h2"


class FakeTransport:
    """Counts writes; never blocks, never closes."""

    def __init__(self) -> None:
        self.writes = 0
        self.written = 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.written += len(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return ("127.0.0.1", 5555)
        if name == "ssl_object":
            return SslObject()
        return default

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


async def run(rounds: int, streams: int, repeats: int) -> float:
    loop = asyncio.get_running_loop()
    rt = WorkerRuntime(parse_config(CONFIG), loop.call_soon)
    services = WorkerServices(rt, loop)
    pool = rt.pools["p"]
    client = ClientConnection(services, rt.vips["b"])
    ct = FakeTransport()
    client.connection_made(ct)  # type: ignore[arg-type]
    assert isinstance(client.conn, H2Connection)
    backends = []
    for _ in range(streams):
        link = BackendLink(pool.name, pool.state.servers[0], rt.response_parser())
        b = BackendConnection(link, pool.stock)
        b.connection_made(FakeTransport())  # type: ignore[arg-type]
        pool.stock.put(link, loop.time())
        backends.append(b)
    enc = hpack.Encoder()
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"")
    first = frame(1, 5, 1, bytes(enc.encode(FIELDS)))  # fills the client's table
    block = bytes(enc.encode(FIELDS))  # from now on: every field an index
    assert len(block) < 12, block
    client.data_received(preface + first)
    for b in backends:
        if b.link.exchange is not None:
            b.data_received(RESPONSE)
    flush = services.outbox.flush
    flush()
    sid = 3
    # the windows l7lb's responses use up, opened again each round as h2load does
    body = 12 * streams
    best = float("inf")
    for _ in range(repeats):
        reads = []
        for _ in range(rounds):
            reads.append(
                b"".join(frame(1, 5, sid + 2 * i, block) for i in range(streams))
                + frame(8, 0, 0, body.to_bytes(4, "big"))
            )
            sid += 2 * streams
        t0 = time.perf_counter()
        for data in reads:
            client.data_received(data)
            for b in backends:
                if b.link.exchange is not None:
                    b.data_received(RESPONSE)
            flush()  # a worker writes at the end of its loop's pass (l7lb/proxy/outbox.py)
        best = min(best, (time.perf_counter() - t0) / (rounds * streams))
    assert not client.conn.streams and not client.conn.closed, "requests were not answered"
    assert ct.writes >= rounds, "nothing reached the client"
    return best


def instructions(streams: int) -> int:
    """Instructions per request from two callgrind runs (N and 3N rounds)."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    counts = []
    rounds = 1000 // streams
    for n in (rounds, 3 * rounds):
        argv = [sys.executable, __file__, "--rounds", str(n), "--repeats", "1"]
        argv += ["--streams", str(streams)]
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
        found = re.search(r"Collected : (\d+)", out)
        assert found is not None, out[-500:]
        counts.append(int(found.group(1)))
    return (counts[1] - counts[0]) // (2 * rounds * streams)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=10, help="requests per read (h2load -m)")
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5, help="best of this many loops")
    ap.add_argument("--instructions", action="store_true", help="count with callgrind")
    args = ap.parse_args()
    if args.instructions:
        print(f"instructions per request: {instructions(args.streams):,}")
        return 0
    best = uvloop.run(run(args.rounds, args.streams, args.repeats))
    print(f"python path per request: {best * 1e6:.2f} us (best of {args.repeats})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
