"""A trivial HTTP responder in its own process, for measuring the client's own ceiling.

It answers every request head with the same 2-byte response and does nothing else, so whatever
rate `l7lb bench` reaches against it is the most the client can drive on this machine."""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
from multiprocessing.process import BaseProcess
from typing import cast

import uvloop

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class TrivialResponder(asyncio.Protocol):
    """Counts request heads (requests without bodies) and answers each one; keeps the tail of
    the last chunk so a terminator split across reads is still seen."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf = self.tail + data
        heads = buf.count(b"\r\n\r\n")
        self.tail = buf[buf.rfind(b"\r\n\r\n") + 4 :] if heads else buf
        self.tail = self.tail[-3:]
        if heads and self.transport is not None:
            self.transport.write(RESPONSE * heads)
            if b"connection: close" in buf.lower():
                self.transport.close()


def _serve(sock: socket.socket) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(TrivialResponder, sock=sock, backlog=4096)
        await server.serve_forever()

    uvloop.run(main())


def start_server() -> tuple[BaseProcess, int]:
    """Start the responder in a forked process on 127.0.0.1; return it and its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    port = sock.getsockname()[1]
    proc = multiprocessing.get_context("fork").Process(target=_serve, args=(sock,), daemon=True)
    proc.start()
    sock.close()
    return proc, port
