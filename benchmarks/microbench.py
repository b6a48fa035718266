"""The Python cost of one proxied keep-alive request, without sockets.

A ``ClientConnection`` and a ``BackendConnection`` are wired to fake transports
and fed a browser-like request and a small response in a loop, so what is timed
is l7lb's own per-request path: both parsers, routing, scheduling, the exchange,
header edits and (with ``--cookie``) cookie persistence. Syscalls and the event
loop are left out; ``benchmarks/compare.py`` measures the whole.

    python benchmarks/microbench.py [--cookie [--distinct] | --tls | --new-conn | --tls-resume]
                                    [--wrk]
                                    [--requests N]
    python benchmarks/microbench.py --instructions [--cookie [--distinct] | --tls | --new-conn
                                                   | --tls-resume]

``--tls`` puts l7lb's TLS record pump (``TlsStream``, ECDSA P-256, TLS 1.3) between the
client and the connection; a client ``SSLObject`` over memory BIOs encrypts the requests
and decrypts the responses, so its cost is in the count too (see ``--tls`` in
benchmarks/README.md for how to read it).

``--tls-resume`` is ``tools/tls_ab.py --scenario tls-resume-id`` without sockets: every
request is a new connection through the VIP's real TLS accept path (the accept gate
reading the ClientHello, ``TlsStream``, the session binder and OpenSSL's session cache
with l7lb's hooks, built by ``build_vip_tls`` with the benchmark's TLS settings) whose
client resumes a TLS 1.2 session by session ID (tickets off, as ``bench --tls-resume
id``), sends one ``Connection: close`` request, reads the response and is closed. What
uvloop and the kernel do per connection (accept, reads, writes, close, the cork) is not in it.

``--instructions`` runs the loop twice under ``valgrind --tool=callgrind`` (N
and 3N requests) and prints instructions per request: deterministic, so a
change of a few percent shows even on a busy machine, where timings do not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from typing import Any

import uvloop

from l7lb.config.load import parse_config
from l7lb.proxy.client import ClientConnection
from l7lb.proxy.link import BackendLink
from l7lb.proxy.runtime import WorkerRuntime
from l7lb.proxy.services import WorkerServices
from l7lb.proxy.upstream import BackendConnection

CONFIG = """
[log]
access = "off"
[[vip]]
name = "b"
listen = ["127.0.0.1:18081"]
[[vip.route]]
pool = "p"
[pool.p]
max_idle = 256
{persistence}
[[pool.p.server]]
address = "127.0.0.1:19100"
"""
# as benchmarks/harness/configs.py sets it up for compare.py's cookie scenarios (HAProxy's
# "insert indirect nocache")
COOKIE = (
    '[pool.p.persistence]\nmode = "cookie"\nsecret = "0123456789abcdef0123456789abcdef"\n'
    "indirect = true\nnocache = true"
)

REQUEST = (
    b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
    b"Connection: keep-alive\r\nCookie: a=b; c=d\r\n\r\n"
)
# what wrk sends in benchmarks/compare.py's keep-alive scenarios (--wrk): the request line
# and Host, nothing else
WRK_REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:18081\r\n\r\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 11:07:18 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\n"
    b"hello world\n"
)


class FakeTransport:
    """Counts writes and keeps the last one; never blocks, never closes."""

    def __init__(self, keep: bool = False) -> None:
        self.writes = 0
        self.last = b""
        self.keep = keep
        self.sent = b""  # with ``keep``: written since the reader took it (the TLS client)

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.last = data
        if self.keep:
            self.sent += data

    def get_write_buffer_size(self) -> int:
        return 0

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5555) if name == "peername" else default

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class Observer:
    def handshake_done(self, exc: BaseException | None, ssl_object: Any) -> None:
        assert exc is None, exc


def make_cert(tmp: str) -> tuple[str, str]:
    """A throwaway ECDSA P-256 certificate and its key, written in ``tmp``."""
    cert, key = f"{tmp}/c.pem", f"{tmp}/k.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", "/CN=bench", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def tls_pair(tmp: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a throwaway ECDSA P-256 certificate, and a client one."""
    cert, key = make_cert(tmp)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    return server, client


class TlsClient:
    """The client's TLS over memory BIOs, talking to a TlsStream through its fake transport."""

    def __init__(self, ctx: ssl.SSLContext, stream: Any, raw: FakeTransport) -> None:
        self.cin, self.cout = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.cin, self.cout, server_side=False)
        self.stream, self.raw = stream, raw
        self.seen = 0

    def handshake(self) -> None:
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.stream.data_received(self.cout.read())
                self.pull()
        if self.cout.pending:
            self.stream.data_received(self.cout.read())

    def pull(self) -> None:
        if self.raw.writes > self.seen:
            self.seen = self.raw.writes
            self.cin.write(self.raw.sent)
            self.raw.sent = b""

    def send(self, data: bytes) -> None:
        self.obj.write(data)
        self.stream.data_received(self.cout.read())

    def receive(self) -> bytes:
        self.pull()
        try:
            return self.obj.read(65536)
        except ssl.SSLWantReadError:
            return b""


TLS_CONFIG = """
[log]
access = "off"
[[vip]]
name = "b"
listen = ["127.0.0.1:18443"]
[vip.tls]
certificates = [{{cert = "{cert}", key = "{key}"}}]
ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
ciphersuites = "TLS_AES_128_GCM_SHA256"
tickets_per_handshake = 2
[[vip.route]]
pool = "p"
[pool.p]
max_idle = 256
[[pool.p.server]]
address = "127.0.0.1:19100"
"""  # the TLS settings compare.py gives l7lb (benchmarks/harness/configs.py, tlsparams.py)


class GateTransport(FakeTransport):
    """A fresh accepted connection: keeps what the server sent, hands over like uvloop's."""

    def __init__(self) -> None:
        super().__init__(keep=True)
        self.protocol: Any = None
        self.closed = False

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data, self.sent = self.sent, b""
        return data


class UnaskedStore:
    """A shared session store is configured (as in a real worker) but every resumed
    session is in the worker's cache already, so it is never asked."""

    async def get_many(self, keys: list[bytes]) -> dict[bytes, bytes]:
        raise AssertionError("the store was asked: the session was not in the cache")

    async def put(self, key: bytes, blob: bytes, ttl: float) -> None:
        pass


class ResumingClient:
    """The client: a TLS 1.2 session resumed by ID on every connection.

    The session goes onto each new connection with ``SSL_set_session`` through l7lb's
    ctypes shim: the ``ssl`` module's ``session=`` copies it first (``i2d``/``d2i`` of the
    session and the server's certificate), which would cost the client more than the
    whole server side of a resumption and blur the count.
    """

    def __init__(self, ctx: ssl.SSLContext) -> None:
        import ctypes

        from l7lb.tls import shim

        self.ctx = ctx
        self.ssl_pointer = shim.ssl_pointer
        libssl = ctypes.CDLL(shim.lib().ssl_path)
        self.get1_session = libssl.SSL_get1_session
        self.get1_session.restype = ctypes.c_void_p
        self.get1_session.argtypes = (ctypes.c_void_p,)
        self.set_session = libssl.SSL_set_session
        self.set_session.restype = ctypes.c_int
        self.set_session.argtypes = (ctypes.c_void_p, ctypes.c_void_p)
        self.session: int | None = None  # SSL_SESSION *, one reference held for good

    def connect(self, server: Any, request: bytes, backend: Any) -> bytes:
        """One connection through the accept gate: handshake (resumed after the first),
        one request, its response, closed. Returns the response."""
        cin, cout = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = self.ctx._wrap_bio(cin, cout, False, None, owner=None)  # type: ignore[attr-defined]
        resuming = self.session is not None
        if resuming:
            assert self.set_session(self.ssl_pointer(obj), self.session) == 1
        with contextlib.suppress(ssl.SSLWantReadError):
            obj.do_handshake()
        raw = GateTransport()
        gate = server._gate()
        gate.connection_made(raw)
        gate.data_received(cout.read())  # the ClientHello: handed over to a TlsStream
        stream = raw.protocol
        assert stream is not None, "the gate did not hand the connection over"
        while True:
            cin.write(raw.take())
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                stream.data_received(cout.read())  # a full handshake: the second flight
        obj.write(request)
        stream.data_received(cout.read())  # Finished and the request, in one read
        backend.data_received(RESPONSE)
        assert raw.closed, "the connection was not closed after its response"
        cin.write(raw.take())
        response: bytes = obj.read(65536)
        # the client's close_notify: freed without one, OpenSSL marks the session not resumable
        with contextlib.suppress(ssl.SSLError):
            obj.shutdown()
        stream.connection_lost(None)  # what uvloop reports once the socket is closed,
        raw.protocol = None  # and then it lets go of the protocol
        if resuming:
            assert obj.session_reused, "the session was not resumed"
        else:
            self.session = self.get1_session(self.ssl_pointer(obj))
            assert self.session, "no session after the full handshake"
        return response


async def run_tls_resume(requests: int, repeats: int) -> float:
    """``--tls-resume``: see the module docstring."""
    from l7lb.tls.context import Resumption, build_vip_tls
    from l7lb.tls.listener import TlsServer

    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_cert(tmp)
        config = parse_config(TLS_CONFIG.format(cert=cert, key=key))
        vip = config.vips[0]
        vip_tls = build_vip_tls(vip.name, vip.tls, resumption=Resumption(store=UnaskedStore()))  # type: ignore[arg-type]
    assert vip_tls.shared, "the TLS shim is off: l7lb's session hooks would not run"
    rt = WorkerRuntime(config, loop.call_soon)
    services = WorkerServices(rt, loop)
    services.tls[vip.name] = vip_tls
    pool = rt.pools["p"]
    vr = rt.vips["b"]

    def factory(arrival: Any = None) -> ClientConnection:
        return ClientConnection(services, vr, arrival)

    server = TlsServer(loop, None, vip_tls, factory, None, 4096)  # type: ignore[arg-type]
    link = BackendLink(pool.name, pool.state.servers[0], rt.response_parser())
    backend = BackendConnection(link, pool.stock)
    bt = FakeTransport()
    backend.connection_made(bt)  # type: ignore[arg-type]
    pool.stock.put(link, loop.time())
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # as l7lb/bench/tls.py makes for "id"
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    cctx.minimum_version = cctx.maximum_version = ssl.TLSVersion.TLSv1_2
    cctx.options |= ssl.OP_NO_TICKET
    closing = REQUEST.replace(b"Connection: keep-alive", b"Connection: close")
    client = ResumingClient(cctx)
    response = client.connect(server, closing, backend)
    assert response.startswith(b"HTTP/1.1 200"), response[:100]
    counters = vip_tls.counters
    gc.freeze()  # as the worker does once it serves (l7lb/worker.py)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(requests):
            response = client.connect(server, closing, backend)
        best = min(best, (time.perf_counter() - t0) / requests)
    assert response.startswith(b"HTTP/1.1 200"), response[:100]
    assert counters.full == 1 and sum(counters.resumed.values()) == requests * repeats, (
        counters.full,
        dict(counters.resumed),
    )
    assert server.pending == 0, "a connection was left in the gate"
    return best


async def run(
    requests: int,
    cookie: bool,
    repeats: int,
    tls: bool = False,
    new_conn: bool = False,
    distinct: bool = False,
    wrk: bool = False,
) -> float:
    loop = asyncio.get_running_loop()
    config = parse_config(CONFIG.format(persistence=COOKIE if cookie else ""))
    rt = WorkerRuntime(config, loop.call_soon)
    services = WorkerServices(rt, loop)
    pool = rt.pools["p"]
    # a worker writes at the end of each pass of its loop (l7lb/proxy/outbox.py); this
    # loop makes one pass per request, as a worker with one ready connection at a time would
    flush = services.outbox.flush
    client = ClientConnection(services, rt.vips["b"])
    ct = FakeTransport(keep=tls)
    tlsc: TlsClient | None = None
    if tls:
        from l7lb.tls.stream import TlsStream

        with tempfile.TemporaryDirectory() as tmp:
            sctx, cctx = tls_pair(tmp)
        stream = TlsStream(loop, client, sctx, ct, Observer())  # type: ignore[arg-type]
        tlsc = TlsClient(cctx, stream, ct)
        stream.start(b"")
        tlsc.handshake()
    else:
        client.connection_made(ct)  # type: ignore[arg-type]
    link = BackendLink(pool.name, pool.state.servers[0], rt.response_parser())
    backend = BackendConnection(link, pool.stock)
    bt = FakeTransport()
    backend.connection_made(bt)  # type: ignore[arg-type]
    pool.stock.put(link, loop.time())
    request = WRK_REQUEST if wrk else REQUEST
    if cookie:  # a returning client: its first response set the cookie it now sends
        assert tlsc is None, "--cookie and --tls: one at a time"
        client.data_received(request)
        backend.data_received(RESPONSE)
        flush()
        found = re.search(rb"set-cookie: (L7LB=[^;]+)", ct.last)
        assert found is not None, "no cookie was set"
        if wrk:  # as compare.py's wrk sends it (send_cookie): the persistence cookie alone
            request = request.replace(b"\r\n\r\n", b"\r\nCookie: " + found.group(1) + b"\r\n\r\n")
        else:
            request = request.replace(b"Cookie: a=b; c=d", b"Cookie: a=b; c=d; " + found.group(1))
    best = float("inf")
    for r in range(repeats):
        # --distinct: the application's own cookie differs on every request, in every
        # repeat (a header cache's worst case, as benchmarks/wrk/distinct_cookies.lua
        # makes it); made before the clock starts
        variants: list[bytes] = []
        if distinct:
            if wrk:  # benchmarks/wrk/distinct_cookies.lua: "Cookie: SRV=...; session=<hex>",
                # or "Cookie: session=<hex>" alone without --cookie (compare.py's peer run)
                tail = (
                    b"; session=%02x%014x\r\n\r\n"
                    if cookie
                    else b"\r\nCookie: session=%02x%014x\r\n\r\n"
                )
                variants = [request.replace(b"\r\n\r\n", tail % (r, i)) for i in range(requests)]
            else:
                variants = [request.replace(b"a=b", b"a=%d.%d" % (r, i)) for i in range(requests)]
        t0 = time.perf_counter()
        if new_conn:  # a client connection per request: made, used once, lost
            if wrk:  # compare.py's new-conn: wrk -H "Connection: close"
                closing = request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
            else:
                closing = request.replace(b"Connection: keep-alive", b"Connection: close")
            assert b"Connection: close" in closing
            for _ in range(requests):
                conn = ClientConnection(services, rt.vips["b"])
                conn.connection_made(ct)  # type: ignore[arg-type]
                conn.data_received(closing)
                backend.data_received(RESPONSE)
                flush()
                conn.connection_lost(None)
        elif tlsc is not None:
            for _ in range(requests):
                tlsc.send(request)
                backend.data_received(RESPONSE)
                flush()
                assert tlsc.receive(), "no response came through"
        elif variants:
            for one in variants:
                client.data_received(one)
                backend.data_received(RESPONSE)
                flush()
        else:
            for _ in range(requests):
                client.data_received(request)
                backend.data_received(RESPONSE)
                flush()
        best = min(best, (time.perf_counter() - t0) / requests)
    assert ct.writes >= requests and bt.writes >= requests, "requests were not proxied"
    # indirect: a client whose cookie was read and names its server gets no new one
    assert not cookie or b"set-cookie" not in ct.last.lower(), "the cookie was not recognised"
    return best


def instructions(
    cookie: bool,
    tls: bool = False,
    new_conn: bool = False,
    distinct: bool = False,
    tls_resume: bool = False,
    wrk: bool = False,
) -> int:
    """Instructions per request from two callgrind runs (N and 3N requests), with string
    hashing fixed (PYTHONHASHSEED=0) so that a run repeats to the instruction."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    counts = []
    for n in (1000, 3000):
        argv = [sys.executable, __file__, "--requests", str(n), "--repeats", "1"]
        if cookie:
            argv.append("--cookie")
        if distinct:
            argv.append("--distinct")
        if tls:
            argv.append("--tls")
        if new_conn:
            argv.append("--new-conn")
        if tls_resume:
            argv.append("--tls-resume")
        if wrk:
            argv.append("--wrk")
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        ).stderr
        found = re.search(r"Collected : (\d+)", out)
        assert found is not None, out[-500:]
        counts.append(int(found.group(1)))
    return (counts[1] - counts[0]) // 2000


def arg_parser() -> argparse.ArgumentParser:
    """The command line (tools/build_native.py --pgo trains with it, tests check its runs)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cookie", action="store_true", help="cookie persistence, client stuck")
    ap.add_argument(
        "--distinct",
        action="store_true",
        help="another app cookie each request (beside the persistence cookie with --cookie;"
        " alone, as compare.py's run without persistence, with --wrk)",
    )
    ap.add_argument("--tls", action="store_true", help="through TlsStream (TLS 1.3, ECDSA)")
    ap.add_argument("--new-conn", action="store_true", help="a client connection per request")
    ap.add_argument(
        "--tls-resume",
        action="store_true",
        help="a TLS 1.2 connection per request through the accept gate, resumed by session ID",
    )
    ap.add_argument(
        "--wrk", action="store_true", help="wrk's request (line and Host only), as compare.py"
    )
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=5, help="best of this many loops")
    ap.add_argument("--instructions", action="store_true", help="count with callgrind")
    return ap


def main() -> int:
    args = arg_parser().parse_args()
    if args.instructions:
        count = instructions(
            args.cookie, args.tls, args.new_conn, args.distinct, args.tls_resume, args.wrk
        )
        print(f"instructions per request: {count:,}")
        return 0
    if args.tls_resume:
        best = uvloop.run(run_tls_resume(args.requests, args.repeats))
    else:
        best = uvloop.run(
            run(
                args.requests,
                args.cookie,
                args.repeats,
                args.tls,
                args.new_conn,
                args.distinct,
                args.wrk,
            )
        )
    print(f"python path per request: {best * 1e6:.2f} us (best of {args.repeats})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
