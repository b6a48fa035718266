"""Demo realservers: each answers every request with its own name.

Like the LVS-HOWTO's "realserver_1" sanity check: ``curl`` through the proxy
a few times and watch the names rotate. ``python -m l7lb.demo.backends
9001 9002 9003`` serves ``realserver_1`` .. ``realserver_3`` on 127.0.0.1.
Started by the demo with ``--parent PID --lifeline FD``, they end with it
(``l7lb.demo.lifeline``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import signal
import sys

import uvloop

from l7lb.demo.lifeline import hold
from l7lb.http.codec import make_request_parser
from l7lb.http.events import EndOfMessage, Limits, ProtocolError, RequestHead


class DemoServer(asyncio.Protocol):
    def __init__(self, name: str) -> None:
        self.name = name.encode()
        self.parser = make_request_parser("h11", Limits())
        self.transport: asyncio.Transport | None = None
        self.head: RequestHead | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        try:
            events = self.parser.feed(data)
        except ProtocolError as exc:
            self.transport.write(
                b"HTTP/1.1 %d Bad Request\r\ncontent-length: 0\r\n\r\n" % exc.status
            )
            self.transport.close()
            return
        for ev in events:
            if isinstance(ev, RequestHead):
                self.head = ev
            elif isinstance(ev, EndOfMessage) and self.head is not None:
                head = self.head
                body = b"%s\n" % self.name
                keep = head.keep_alive
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-backend: %s\r\n"
                    b"content-length: %d\r\n%s\r\n%s"
                    % (
                        self.name,
                        len(body),
                        b"" if keep else b"connection: close\r\n",
                        b"" if head.method == b"HEAD" else body,
                    )
                )
                if not keep:
                    self.transport.close()
                self.head = None


async def serve(ports: list[int]) -> None:
    loop = asyncio.get_running_loop()
    for i, port in enumerate(ports, 1):
        name = f"realserver_{i}"
        await loop.create_server(functools.partial(DemoServer, name), "127.0.0.1", port)
    await asyncio.Event().wait()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m l7lb.demo.backends")
    ap.add_argument("ports", nargs="*", type=int, default=[9001, 9002, 9003])
    ap.add_argument("--parent", type=int, help="end when this process (the demo) ends")
    ap.add_argument("--lifeline", type=int, help="end at end-of-file on this descriptor")
    args = ap.parse_args(argv)
    # Nothing to clean up here: when the demo is gone, go at once.
    hold(args.lifeline, args.parent, signal.SIGKILL, lambda: os._exit(0))
    ports = args.ports
    uvloop.install()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(ports))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
