"""Session store shared by the workers of one director, served by the supervisor.

The supervisor runs ``SessionServer`` on a Unix socket; each worker uses a
``SessionServerClient``, which implements ``SessionStore`` and also hands out
the supervisor's ticket key ring. Why a server and not shared memory: OpenSSL
reads sessions synchronously, but the listener already reads the ClientHello
and prefetches before the handshake, so an asynchronous store costs no
blocking; one owner process means no cross-process locking, and the same
client-side code path serves Redis or memcached later.

Wire format (both directions): a 4-byte big-endian length, then the payload.

    request  GET   0x01 u16 n, n x (u16 len, key)
             PUT   0x02 u32 ttl_ms, u16 len, key, u32 len, blob
             KEYS  0x03
    response 0x00 body | 0x01 message
             GET  body: u16 n, n x (u16 len, key, u32 len, blob)
             KEYS body: the serialized ``TicketKeyRing`` (empty if none)

Requests on one connection are answered in order (the client pipelines).
Every length is checked against ``MAX_*``; a malformed frame closes the
connection and nothing else.

Ordering across workers (issue 15: a client resuming on worker B right after
its full handshake on worker A must find A's session). Two rules close that
window:

- the worker writes a new session's PUT to this socket synchronously, from
  OpenSSL's new-session callback, so it is in the supervisor's socket buffer
  before the handshake's last flight even leaves for the client
  (``SessionServerClient.publish``);
- the server applies a PUT as soon as it reads it, but answers a GET only
  after the loop has polled every socket once more after reading it
  (``SessionServer._later``), so a GET never overtakes a PUT that reached the
  supervisor before it on another worker's connection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import struct
import time
from collections.abc import Callable

from l7lb.tls.sessions import MAX_BLOB, MAX_KEY, SessionCache
from l7lb.tls.ticketkeys import TicketKeyRing

log = logging.getLogger("l7lb.tls")

OP_GET, OP_PUT, OP_KEYS = 1, 2, 3
STATUS_OK, STATUS_ERROR = 0, 1
_PUT = bytes([OP_PUT])
_OK = bytes([STATUS_OK])
MAX_GET_KEYS = 16
MAX_FRAME = 4 + 2 + MAX_GET_KEYS * (2 + MAX_KEY + 4 + MAX_BLOB)
_LEN = struct.Struct("!I")


class WireError(ValueError):
    """A frame that breaks the session-server protocol."""


# --- sans-IO codec -----------------------------------------------------------


def frame(payload: bytes) -> bytes:
    return _LEN.pack(len(payload)) + payload


def split_frames(buf: bytearray) -> list[bytes]:
    """Remove and return the complete frames at the start of ``buf``."""
    out = []
    while len(buf) >= 4:
        (n,) = _LEN.unpack_from(buf)
        if n > MAX_FRAME:
            raise WireError(f"frame of {n} bytes exceeds {MAX_FRAME}")
        if len(buf) < 4 + n:
            break
        out.append(bytes(buf[4 : 4 + n]))
        del buf[: 4 + n]
    return out


class _Cursor:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise WireError("truncated frame")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def key(self) -> bytes:
        n = self.u16()
        if not 0 < n <= MAX_KEY:
            raise WireError("bad key length")
        return self.take(n)

    def blob(self) -> bytes:
        n = self.u32()
        if not 0 < n <= MAX_BLOB:
            raise WireError("bad blob length")
        return self.take(n)

    def end(self) -> None:
        if self.pos != len(self.data):
            raise WireError("trailing bytes in frame")


def _key_field(key: bytes) -> bytes:
    if not 0 < len(key) <= MAX_KEY:
        raise ValueError("bad session key length")
    return struct.pack("!H", len(key)) + key


def encode_get(keys: list[bytes]) -> bytes:
    if len(keys) > MAX_GET_KEYS:
        raise ValueError(f"at most {MAX_GET_KEYS} keys per request")
    return bytes([OP_GET]) + struct.pack("!H", len(keys)) + b"".join(map(_key_field, keys))


def encode_put(key: bytes, blob: bytes, ttl: float) -> bytes:
    if not 0 < len(blob) <= MAX_BLOB:
        raise ValueError("bad session blob length")
    ttl_ms = max(0, min(int(ttl * 1000), 0xFFFFFFFF))
    return (
        bytes([OP_PUT])
        + struct.pack("!I", ttl_ms)
        + _key_field(key)
        + struct.pack("!I", len(blob))
        + blob
    )


def decode_get_reply(body: bytes) -> dict[bytes, bytes]:
    c = _Cursor(body)
    n = c.u16()
    if n > MAX_GET_KEYS:
        raise WireError("too many entries")
    out = {}
    for _ in range(n):
        key = c.key()
        out[key] = c.blob()
    c.end()
    return out


def handle_request(
    payload: bytes, cache: SessionCache, ring: Callable[[], TicketKeyRing | None]
) -> bytes:
    """Answer one request payload (sans-IO); raises ``WireError`` on a bad frame."""
    if not payload:
        raise WireError("empty frame")
    c = _Cursor(payload, 1)
    op = payload[0]
    if op == OP_GET:
        n = c.u16()
        if n > MAX_GET_KEYS:
            raise WireError("too many keys")
        keys = [c.key() for _ in range(n)]
        c.end()
        found = [(k, b) for k in keys if (b := cache.get(k)) is not None]
        body = struct.pack("!H", len(found)) + b"".join(
            _key_field(k) + struct.pack("!I", len(b)) + b for k, b in found
        )
        return bytes([STATUS_OK]) + body
    if op == OP_PUT:
        ttl = c.u32() / 1000
        key = c.key()
        blob = c.blob()
        c.end()
        cache.put_local(key, blob, ttl)
        return bytes([STATUS_OK])
    if op == OP_KEYS:
        c.end()
        r = ring()
        return bytes([STATUS_OK]) + (r.to_bytes() if r else b"")
    raise WireError(f"unknown op {op}")


# --- server (supervisor) -----------------------------------------------------


class _ServerProtocol(asyncio.Protocol):
    def __init__(self, server: SessionServer) -> None:
        self.server = server
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        # requests in order, each (answered, reply or request payload): a PUT is
        # applied and answered when read, a GET waits (SessionServer._later)
        self.queue: collections.deque[tuple[bool, bytes]] = collections.deque()
        self.read = 0  # requests queued since the connection began
        self.done = 0  # of which answered

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport: no isinstance check.
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buf += data
        server = self.server
        try:
            for payload in split_frames(self.buf):
                if payload[:1] == _PUT:
                    # applied now: a GET read before or after it must see it
                    self.queue.append((True, handle_request(payload, server.cache, server.ring)))
                else:
                    self.queue.append((False, payload))
                self.read += 1
        except WireError as exc:
            self._abort(exc)
            return
        if self.done < self.read:
            server._later(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.queue.clear()
        self.done = self.read

    def answer(self, upto: int) -> None:
        """Answer, in order, the requests queued before the ``upto``-th."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        server = self.server
        out = []
        try:
            while self.done < upto and self.queue:
                answered, data = self.queue.popleft()
                self.done += 1
                out.append(
                    frame(data if answered else handle_request(data, server.cache, server.ring))
                )
        except WireError as exc:
            self._abort(exc)
            return
        if out:
            transport.write(b"".join(out))

    def _abort(self, exc: WireError) -> None:
        log.warning("session server: closing a client: %s", exc)
        self.queue.clear()
        self.done = self.read
        assert self.transport is not None
        self.transport.abort()


class SessionServer:
    """The supervisor's session store and ticket key ring, on a Unix socket."""

    def __init__(
        self,
        cache: SessionCache | None = None,
        ring: TicketKeyRing | None = None,
        rotation: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache = cache or SessionCache(max_entries=100_000)
        self._ring = ring
        self.rotation = rotation
        self.clock = clock
        self._server: asyncio.AbstractServer | None = None
        self.external = False
        # connections that queued requests since the last _settle (an ordered set)
        self._reading: dict[_ServerProtocol, None] = {}

    def set_ring(self, ring: TicketKeyRing) -> None:
        """A ring managed elsewhere (the cluster's, from the shared store, or an
        operator's key file): serve it as it is and stop rotating locally."""
        self._ring = ring
        self.external = True

    def ring(self) -> TicketKeyRing | None:
        """The current ring, rotated first if its period is over."""
        if self.external:
            return self._ring
        if self._ring is not None and self._ring.due(self.clock(), self.rotation):
            self._ring = self._ring.rotated(self.clock())
        return self._ring

    def _later(self, conn: _ServerProtocol) -> None:
        """Answer what ``conn`` has queued once the loop has polled every socket again.

        A GET must see every PUT that reached the supervisor before it was read.
        Such a PUT is in its socket's buffer by then, but not necessarily read
        in the same wake-up: the loop reads the sockets its poll reported, and a
        read takes whatever is there when it runs, so the GET can come with an
        earlier request on a socket the poll reported while the PUT's socket was
        not. The next poll reports that socket. So: ``_settle`` runs on the
        next pass of the loop (a ``call_soon`` runs after the I/O callbacks of
        this wake-up) and notes how far each connection had been read; its own
        ``call_soon`` runs after the poll that follows it, and answers up to there.
        (uvloop: call_soon callbacks run in the idle phase, before each poll;
        asyncio: after each select.) It costs a GET one more turn of the
        supervisor's loop, a few microseconds when it is idle.
        """
        if not self._reading:
            asyncio.get_running_loop().call_soon(self._settle)
        self._reading[conn] = None

    def _settle(self) -> None:
        marks = [(conn, conn.read) for conn in self._reading]
        self._reading = {}
        asyncio.get_running_loop().call_soon(self._answer, marks)

    def _answer(self, marks: list[tuple[_ServerProtocol, int]]) -> None:
        for conn, upto in marks:
            conn.answer(upto)

    async def start(self, path: str) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: _ServerProtocol(self), path)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


# --- client (worker) ---------------------------------------------------------


class SessionServerClient:
    """``SessionStore`` over the supervisor's Unix socket, with pipelined requests.

    Failures raise ``ConnectionError`` at once (no reconnect storm: after a
    failure the next connect waits ``retry_after`` seconds); the prefetch
    treats any error as a cache miss.
    """

    def __init__(self, path: str, *, retry_after: float = 1.0) -> None:
        self.path = path
        self.retry_after = retry_after
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        # one entry per request in flight, answered in order; None: a publish,
        # whose answer nobody awaits
        self._waiting: collections.deque[asyncio.Future[bytes] | None] = collections.deque()
        self._read_task: asyncio.Task[None] | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._failed_at = -1e9
        self._tasks: set[asyncio.Task[None]] = set()

    async def _connect(self) -> asyncio.StreamWriter:
        if self._writer is not None:
            return self._writer
        loop = asyncio.get_running_loop()
        if self._connecting is not None:
            await asyncio.shield(self._connecting)
            if self._writer is None:
                raise ConnectionError("session server unavailable")
            return self._writer
        if loop.time() - self._failed_at < self.retry_after:
            raise ConnectionError("session server unavailable (retrying later)")
        self._connecting = loop.create_future()
        try:
            self._reader, self._writer = await asyncio.open_unix_connection(self.path)
            self._read_task = loop.create_task(self._read_loop(self._reader))
            return self._writer
        except OSError as exc:
            self._failed_at = loop.time()
            raise ConnectionError(f"session server {self.path}: {exc}") from None
        finally:
            self._connecting.set_result(None)
            self._connecting = None

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        buf = bytearray()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("session server closed the connection")
                buf += data
                for payload in split_frames(buf):
                    if not self._waiting:
                        raise WireError("unsolicited reply")
                    fut = self._waiting.popleft()
                    if fut is None:
                        if payload[:1] != _OK:
                            log.debug("session publish refused: %r", payload[1:200])
                    elif not fut.done():
                        fut.set_result(payload)
        except (OSError, WireError) as exc:
            self._drop(ConnectionError(str(exc)))
        except asyncio.CancelledError:
            self._drop(ConnectionError("session client closed"))
            raise

    def _drop(self, exc: Exception) -> None:
        self._failed_at = asyncio.get_running_loop().time()
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
        while self._waiting:
            fut = self._waiting.popleft()
            if fut is not None and not fut.done():
                fut.set_exception(exc)
                fut.exception()  # mark retrieved: a put nobody awaits must not warn

    async def _request(self, payload: bytes) -> bytes:
        writer = await self._connect()
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting.append(fut)
        writer.write(frame(payload))
        reply = await fut
        if not reply or reply[0] != STATUS_OK:
            raise ConnectionError(f"session server error: {reply[1:200]!r}")
        return reply[1:]

    async def get_many(self, keys: list[bytes]) -> dict[bytes, bytes]:
        out: dict[bytes, bytes] = {}
        for i in range(0, len(keys), MAX_GET_KEYS):
            out.update(
                decode_get_reply(await self._request(encode_get(keys[i : i + MAX_GET_KEYS])))
            )
        return out

    async def put(self, key: bytes, blob: bytes, ttl: float) -> None:
        await self._request(encode_put(key, blob, ttl))

    def publish(self, key: bytes, blob: bytes, ttl: float) -> None:
        """A ``put`` sent now, whose answer nobody waits for (``SessionCache.publish``).

        OpenSSL calls this mid-handshake, before the handshake's last flight is
        written to the client. Writing the frame here, not from a task that runs
        on a later turn of the loop, puts it on the session server's socket
        before the client can have the session at all: a client that resumes on
        another worker at once always asks after the session is there (issue 15;
        a task lost that race in about 5 % of immediate cross-worker resumptions).
        """
        try:
            payload = frame(encode_put(key, blob, ttl))
        except ValueError as exc:
            log.debug("session publish skipped: %s", exc)
            return
        writer = self._writer
        if writer is None or writer.is_closing():
            # not connected (a failure before): connect and send in the background
            task = asyncio.get_running_loop().create_task(self._put_quietly(key, blob, ttl))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._waiting.append(None)
        writer.write(payload)  # uvloop writes at once when nothing is queued before it

    async def _put_quietly(self, key: bytes, blob: bytes, ttl: float) -> None:
        try:
            await asyncio.wait_for(self.put(key, blob, ttl), 2.0)
        except (ConnectionError, TimeoutError, ValueError) as exc:
            log.debug("session publish failed: %s", exc)

    async def ticket_ring(self) -> TicketKeyRing | None:
        body = await self._request(bytes([OP_KEYS]))
        return TicketKeyRing.from_bytes(body) if body else None

    async def close(self) -> None:
        if self._read_task is not None:
            self._read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._read_task
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def follow_ticket_ring(
    client: SessionServerClient,
    apply: Callable[[TicketKeyRing], None],
    interval: float,
) -> None:
    """Worker task: fetch the supervisor's ring every ``interval`` seconds and apply it.

    Use ``interval`` well below the rotation period (a quarter, at most 30 s):
    the ring publishes the next key a period ahead, so late workers only
    cause "renew" answers, never rejected tickets.
    """
    while True:
        try:
            ring = await asyncio.wait_for(client.ticket_ring(), 2.0)
            if ring is not None:
                apply(ring)
        except (ConnectionError, TimeoutError, ValueError) as exc:
            log.warning("ticket key refresh failed (keeping the current ring): %s", exc)
        await asyncio.sleep(interval)
