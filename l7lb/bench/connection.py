"""One client HTTP/1.1 connection: an asyncio protocol with its own TLS over memory BIOs.

TLS is done here rather than by the event loop's `ssl=` argument because asyncio and uvloop
cannot pass a session to resume (`SSLContext.wrap_bio(..., session=)`), and choosing whether a
connection resumes is the point of the tool. Responses are parsed with httptools (llhttp).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass, field
from typing import cast

import httptools


class RequestError(Exception):
    """A request that failed before a complete response; `kind` is one of stats.ERROR_KINDS."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


@dataclass
class Response:
    status: int = 0
    keep_alive: bool = True
    set_cookies: list[str] = field(default_factory=list)
    identity: str | None = None


def classify_lost(exc: BaseException | None) -> RequestError:
    """Name the reason a connection ended under a pending request."""
    if isinstance(exc, ssl.SSLError):
        return RequestError("tls", str(exc))
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return RequestError("reset", str(exc))
    if exc is None:
        return RequestError("closed", "connection closed before a complete response")
    return RequestError("reset", repr(exc))


class HttpConnection(asyncio.Protocol):
    def __init__(
        self,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        session: ssl.SSLSession | None = None,
        identity_header: bytes | None = None,
        head: bool = False,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.session = session
        self.identity_header = identity_header
        # A response to HEAD has no body whatever its Content-Length says (RFC 9110 9.3.2),
        # and llhttp cannot be told the request method: end the message at its head.
        self.head = head
        self.renew_parser = False
        self.transport: asyncio.Transport | None = None
        self.sslobj: ssl.SSLObject | None = None
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.handshaking = ssl_context is not None
        self.handshake_waiter: asyncio.Future[None] = self.loop.create_future()
        self.waiter: asyncio.Future[Response] | None = None
        self.response = Response()
        self.headers_done = False
        self.framed = False
        self.parser = httptools.HttpResponseParser(self)
        self.bytes_in = 0
        self.bytes_out = 0
        self.lost: RequestError | None = None
        # When the pending handshake or request times out (perf_counter), 0 when none is.
        # A per-process watchdog checks it: one TimerHandle per request costs more than the
        # request's own write.
        self.deadline = 0.0

    # -- transport callbacks -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        if self.ssl_context is None:
            self.handshake_waiter.set_result(None)
            return
        self.sslobj = self.ssl_context.wrap_bio(
            self.incoming,
            self.outgoing,
            server_side=False,
            server_hostname=self.server_hostname,
            session=self.session,
        )
        self._handshake()

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        if self.sslobj is None:
            self._feed(data)
            return
        self.incoming.write(data)
        if self.handshaking:
            self._handshake()
        else:
            self._read_tls()

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost settles any pending request

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost is None:
            self.lost = classify_lost(exc)
        self._cancel_timer()
        if not self.handshake_waiter.done():
            self.handshake_waiter.set_exception(RequestError("tls", str(self.lost)))
            return
        if self.waiter is not None and not self.waiter.done():
            if self.headers_done and not self.framed and exc is None:
                # No Content-Length and not chunked: the body ran until the server closed.
                self.response.keep_alive = False
                self.waiter.set_result(self.response)
            else:
                self.waiter.set_exception(self.lost)

    # -- TLS -----------------------------------------------------------------------------------

    def _flush(self) -> None:
        data = self.outgoing.read()
        if data and self.transport is not None:
            self.bytes_out += len(data)
            self.transport.write(data)

    def _handshake(self) -> None:
        assert self.sslobj is not None
        try:
            self.sslobj.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except (ssl.SSLError, OSError) as exc:
            self._flush()
            self._abort(RequestError("tls", str(exc)))
            return
        self._flush()
        self.handshaking = False
        if not self.handshake_waiter.done():
            self.handshake_waiter.set_result(None)
        self._read_tls()

    def _read_tls(self) -> None:
        assert self.sslobj is not None
        while True:
            try:
                chunk = self.sslobj.read(262144)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                break  # close_notify: the TCP close follows and settles the request
            except ssl.SSLError as exc:
                self._abort(RequestError("tls", str(exc)))
                return
            if not chunk:
                break
            self._feed(chunk)
        # Reading can produce records to send (TLS 1.3 key updates); do not leave them queued.
        self._flush()

    # -- HTTP ----------------------------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._abort(RequestError("parse", str(exc)))
        if self.renew_parser:
            self.renew_parser = False
            self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        lname = name.lower()
        if lname == b"set-cookie":
            self.response.set_cookies.append(value.decode("latin-1"))
        elif lname == b"content-length" or lname == b"transfer-encoding":
            self.framed = True
        if lname == self.identity_header:
            self.response.identity = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.headers_done = True
        self.response.status = self.parser.get_status_code()
        if self.head:
            self.renew_parser = True
            self.on_message_complete()

    def on_message_complete(self) -> None:
        response = self.response
        response.keep_alive = self.parser.should_keep_alive()
        self._cancel_timer()
        self.response = Response()
        self.headers_done = False
        self.framed = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(response)

    # -- API -----------------------------------------------------------------------------------

    def _cancel_timer(self) -> None:
        self.deadline = 0.0

    def _abort(self, error: RequestError) -> None:
        self.lost = error
        for waiter in (self.handshake_waiter, self.waiter):
            if waiter is not None and not waiter.done():
                waiter.set_exception(error)
        if self.transport is not None:
            self.transport.abort()

    def check_deadline(self, now: float) -> None:
        """Abort the pending handshake or request if its deadline has passed."""
        if self.deadline and now >= self.deadline:
            self.deadline = 0.0
            self._abort(RequestError("timeout"))

    async def handshake(self, timeout: float) -> None:
        self.deadline = time.perf_counter() + timeout
        try:
            await self.handshake_waiter
        finally:
            self._cancel_timer()

    def request(self, data: bytes, timeout: float) -> asyncio.Future[Response]:
        """Send one request; the future resolves with the complete response."""
        waiter = self.waiter = self.loop.create_future()
        if self.lost is not None or self.transport is None:
            waiter.set_exception(self.lost or RequestError("closed"))
            return waiter
        if self.transport.is_closing():
            # The transport saw an error (often a reset) whose connection_lost is still queued;
            # it will settle this request with the right kind.
            return waiter
        self.deadline = time.perf_counter() + timeout
        if self.sslobj is None:
            self.bytes_out += len(data)
            self.transport.write(data)
        else:
            self.sslobj.write(data)
            self._flush()
        return waiter

    @property
    def tls_session(self) -> ssl.SSLSession | None:
        return self.sslobj.session if self.sslobj is not None else None

    @property
    def session_reused(self) -> bool:
        return bool(self.sslobj is not None and self.sslobj.session_reused)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if self.sslobj is not None and not self.handshaking and self.lost is None:
                # close_notify, so neither side's cache drops the session as "bad"
                # (OpenSSL removes sessions of connections closed without one).
                with contextlib.suppress(ssl.SSLError):
                    self.sslobj.unwrap()
                self._flush()
            self.transport.close()
