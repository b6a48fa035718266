"""Connections to realservers and the per-pool stock of idle keep-alive ones.

A ``BackendConnection`` is a thin asyncio protocol: it parses the server's
bytes with the sans-IO response parser and hands events to the client
connection it currently serves. Between requests it sits in its pool's idle
list (most recently used first, so the connection least likely to have been
closed by the server's own keep-alive timer is reused).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from l7lb.http.events import ProtocolError, ResponseParser

if TYPE_CHECKING:
    from l7lb.balancing import ServerState
    from l7lb.proxy.client import ClientConnection
    from l7lb.proxy.runtime import PoolRuntime


class BackendConnection(asyncio.Protocol):
    __slots__ = (
        "client",
        "closed",
        "idle_since",
        "parser",
        "pool",
        "raw",
        "server",
        "transport",
        "uses",
    )

    def __init__(self, pool: PoolRuntime, server: ServerState, parser: ResponseParser) -> None:
        self.pool = pool
        self.server = server
        self.parser = parser
        self.client: ClientConnection | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.raw = False  # tunnelling after 101: bytes pass through unparsed
        self.idle_since = 0.0
        self.uses = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        client = self.client
        if client is None:
            # bytes from a server while idle: it is confused or closing; never reuse it
            self.close()
            return
        if self.raw:
            client.tunnel_from_backend(data)
            return
        try:
            events = self.parser.feed(data)
        except ProtocolError as exc:
            client.backend_failed(self, f"invalid response: {exc.reason}")
            return
        client.backend_progress = True
        client.response_events(events, self)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        client = self.client
        if client is None:
            self.pool.forget_idle(self)
            return
        if self.raw:
            client.tunnel_closed()
            return
        try:
            events = self.parser.feed_eof()
        except ProtocolError as perr:
            client.backend_failed(self, perr.reason if exc is None else f"{perr.reason} ({exc})")
            return
        client.response_events(events, self)
        if self.client is client:
            client.backend_failed(self, "connection closed by server")

    def pause_writing(self) -> None:
        if self.client is not None:
            self.client.block_reading(2)

    def resume_writing(self) -> None:
        if self.client is not None:
            self.client.unblock_reading(2)

    def close(self) -> None:
        self.closed = True
        self.client = None
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        self.client = None
        if self.transport is not None:
            self.transport.abort()
