"""The admin HTTP listener: a minimal HTTP/1.1 server in the supervisor.

One per director (the supervisor runs it, not the workers), separate from
every VIP. The bytes-to-requests work is ``http_message.RequestAssembler``
over l7lb's own codec and the answers come from ``api.AdminApi``; this module
only moves bytes and keeps the limits:

- hostile input gets its status (400, 413, 414, 431) and the connection is closed;
- a request must arrive whole within ``timeout`` seconds of the previous
  answer (or of the connection): an idle connection is closed then, a
  half-sent one gets 408 first;
- at most ``max_connections`` at once: one more is answered 503 and closed;
- requests on one connection are answered in order (pipelining), one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from email.utils import formatdate

from l7lb.admin.http_message import (
    LIMITS,
    AdminRequest,
    AdminResponse,
    RequestAssembler,
    error_response,
)
from l7lb.config.model import Address
from l7lb.http.codec import make_request_parser
from l7lb.http.events import ProtocolError

log = logging.getLogger("l7lb.admin")

Responder = Callable[[AdminRequest], Awaitable[AdminResponse]]
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def http_date() -> str:
    return formatdate(usegmt=True)


class AdminHttpServer:
    """``await start()`` / ``await close()``; ``port`` is the bound port."""

    def __init__(
        self,
        address: Address,
        respond: Responder,
        *,
        parser_kind: str = "auto",
        max_connections: int = 32,
        timeout: float = 10.0,
    ) -> None:
        self.address = address
        self.respond = respond
        self.parser_kind = parser_kind
        self.max_connections = max_connections
        self.timeout = timeout
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._busy: set[asyncio.StreamWriter] = set()  # answering a request right now
        self._closing = False

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Bind and serve; OSError when the address cannot be bound."""
        self._server = await asyncio.start_server(
            self._serve, self.address.host, self.address.port, reuse_address=True, backlog=64
        )

    async def close(self) -> None:
        """Stop accepting and close idle connections. A request being answered
        (a reload moving this very listener, say) gets its answer, then the
        connection closes."""
        self._closing = True
        if self._server is not None:
            self._server.close()
            for writer in list(self._conns - self._busy):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if len(self._conns) >= self.max_connections:
                busy = error_response(503, "too many admin connections; try again")
                writer.write(busy.encode(http_date(), close=True))
                await asyncio.wait_for(writer.drain(), self.timeout)
                return
            self._conns.add(writer)
            await self._conversation(reader, writer)
        except (OSError, TimeoutError):
            pass  # the client went away or stopped reading; nothing more to say
        finally:
            self._conns.discard(writer)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        response: AdminResponse,
        *,
        head_only: bool = False,
        close: bool = False,
    ) -> None:
        if writer.is_closing():
            return  # the client went away while we worked on its answer
        writer.write(response.encode(http_date(), head_only=head_only, close=close))
        await asyncio.wait_for(writer.drain(), self.timeout)

    async def _conversation(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        assembler = RequestAssembler(make_request_parser(self.parser_kind, LIMITS))
        queue: deque[AdminRequest] = deque()
        eof = False
        while not self._closing:
            deadline = loop.time() + self.timeout
            while not queue:
                if eof:
                    return
                try:
                    data = await asyncio.wait_for(reader.read(65536), deadline - loop.time())
                except TimeoutError:
                    if assembler.mid_request:
                        late = error_response(408, "the request did not arrive in time")
                        await self._send(writer, late, close=True)
                    return
                try:
                    if data:
                        queue.extend(assembler.feed(data))
                    else:
                        eof = True
                        queue.extend(assembler.feed_eof())
                except ProtocolError as exc:
                    await self._send(writer, error_response(exc.status, exc.reason), close=True)
                    return
                if assembler.continue_due and not queue:
                    writer.write(CONTINUE)
                    assembler.continue_due = False
            request = queue.popleft()
            self._busy.add(writer)
            try:
                response = await self.respond(request)
            except Exception:  # a handler bug must not end the listener
                log.exception("admin http: %s %r failed", request.method, request.target[:200])
                response = error_response(500, "internal error (see the l7lb log)")
            finally:
                self._busy.discard(writer)
            if response.status in (401, 403):
                peer = writer.get_extra_info("peername")
                who = peer[0] if isinstance(peer, tuple) else "?"
                log.warning(
                    "admin http: %s %s from %s refused (%d)",
                    request.method,
                    request.target[:200],
                    who,
                    response.status,
                )
            last = not request.keep_alive or self._closing or (assembler.upgraded and not queue)
            try:
                await self._send(writer, response, head_only=request.method == "HEAD", close=last)
            finally:
                if self._closing:
                    writer.close()
            if last:
                return
