"""The floor under any uvloop proxy written in Python: what l7lb could cost at best.

Not a proxy anyone should run. Each client connection gets its own backend connection, and
bytes are relayed unchanged, so there is no routing, no scheduling, no connection pool, no
header rewriting, no timer and no log. Two modes:

* ``relay``: bytes are copied from one socket to the other, nothing is parsed. The cost of
  uvloop, the kernel and two Python callbacks per message.
* ``parse``: as ``relay``, but every request and response head also goes through httptools
  with an ``on_header`` callback building the (lower-cased name, value) list, exactly as
  l7lb's fast codec does before it can decide anything. The cost of reading HTTP at all.

With ``--cert``/``--key`` the listener terminates TLS with uvloop's own TLS transport (the one
l7lb hands its connections to), with no session cache callbacks, ticket-key callbacks, SNI
map or ClientHello peek of l7lb's. ``--tickets`` and ``--ciphers`` set the TLS 1.3 tickets per
handshake and the TLS 1.2 cipher list; Python has no call for the TLS 1.3 suites or the group,
which compare.py pins through ``OPENSSL_CONF`` (``harness/tlsparams.py``).

``benchmarks/compare.py`` runs both beside l7lb and HAProxy (variants ``floor-relay`` and
``floor-parse``): the distance from ``floor-parse`` to l7lb is what l7lb's own per-request work
costs; the distance from HAProxy to ``floor-parse`` is what no Python code path can win back.
One difference runs the other way: the floor opens a backend connection for every client
connection, where l7lb reuses idle ones, so with a new connection per request the floor pays a
backend connect and close that l7lb does not.

    python benchmarks/floor.py --mode parse --listen 8080 --backend 127.0.0.1:8081
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import sys

import httptools
import uvloop


class _Heads:
    """httptools callbacks that build the header list, like l7lb's codec (and no more)."""

    __slots__ = ("headers",)

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []

    def on_message_begin(self) -> None:
        self.headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value.rstrip(b" \t")))


class Backend(asyncio.Protocol):
    def __init__(self, client: Client, parse: bool) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(_Heads()) if parse else None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.parser is not None:
            self.parser.feed_data(data)
        t = self.client.transport
        if t is not None:
            t.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client.transport is not None:
            self.client.transport.close()


class Client(asyncio.Protocol):
    def __init__(self, backend: tuple[str, int], parse: bool) -> None:
        self.backend_addr = backend
        self.parse = parse
        self.transport: asyncio.Transport | None = None
        self.backend: Backend | None = None
        self.early: list[bytes] = []
        self.parser = httptools.HttpRequestParser(_Heads()) if parse else None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, backend = await loop.create_connection(
                lambda: Backend(self, self.parse), *self.backend_addr
            )
        except OSError:
            if self.transport is not None:
                self.transport.close()
            return
        self.backend = backend
        assert backend.transport is not None
        for data in self.early:
            backend.transport.write(data)
        self.early.clear()

    def data_received(self, data: bytes) -> None:
        if self.parser is not None:
            self.parser.feed_data(data)
        b = self.backend
        if b is not None and b.transport is not None:
            b.transport.write(data)
        else:
            self.early.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        b = self.backend
        if b is not None and b.transport is not None:
            b.transport.close()


async def serve(
    port: int, backend: tuple[str, int], parse: bool, tls: ssl.SSLContext | None
) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Client(backend, parse), "127.0.0.1", port, backlog=4096, ssl=tls
    )
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    await stop
    server.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("relay", "parse"), required=True)
    ap.add_argument("--listen", type=int, required=True, help="port on 127.0.0.1")
    ap.add_argument("--backend", required=True, help="HOST:PORT of the backend")
    ap.add_argument("--cert", help="PEM certificate chain: terminate TLS (with --key)")
    ap.add_argument("--key", help="PEM private key of --cert")
    ap.add_argument("--tickets", type=int, default=1, help="TLS 1.3 tickets per handshake")
    ap.add_argument("--ciphers", help="TLS 1.2 cipher list (OpenSSL syntax)")
    args = ap.parse_args(argv)
    if bool(args.cert) != bool(args.key):
        ap.error("--cert and --key go together")
    tls = None
    if args.cert:
        # what l7lb's contexts set too: TLS 1.2 floor, ALPN http/1.1, its tickets and ciphers
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        tls.set_alpn_protocols(["http/1.1"])
        tls.num_tickets = args.tickets
        if args.ciphers:
            tls.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
            tls.set_ciphers(args.ciphers)
        tls.load_cert_chain(args.cert, args.key)
    host, _, port = args.backend.rpartition(":")
    uvloop.run(serve(args.listen, (host, int(port)), args.mode == "parse", tls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
