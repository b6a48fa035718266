"""The client side of the data path: one asyncio protocol per client connection.

The protocol moves bytes and keeps timers; what the bytes mean comes from the
sans-IO parsers, router and scheduler. One exchange (request + response) is
active at a time; pipelined requests wait in ``pending`` and are answered in
order. Bodies stream in both directions: each direction pauses reading on one
side while the other side's write buffer is above its high-water mark.

States::

    IDLE  --bytes-->  HEAD  --RequestHead-->  ACTIVE  --response END-->  IDLE
                                               |  101
                                               v
                                             TUNNEL
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Final

from l7lb.accesslog import AccessRecord
from l7lb.http.events import (
    Data,
    EndOfMessage,
    Event,
    Framing,
    ProtocolError,
    RequestHead,
    ResponseHead,
    Upgrade,
)
from l7lb.http.forwarding import (
    LocationRewriter,
    backend_request_headers,
    client_response_headers,
    serialize_request_head,
    serialize_response_head,
)
from l7lb.proxy import responses
from l7lb.proxy.backend import BackendConnection
from l7lb.proxy.stickiness import NOT_STUCK, Stickiness, Sticky
from l7lb.routing.redirect import render_redirect
from l7lb.routing.target import request_host, split_target
from l7lb.tls.stream import TlsStream

if TYPE_CHECKING:
    from l7lb.balancing import ServerState
    from l7lb.proxy.runtime import PoolRuntime, VipRuntime, WorkerRuntime

log: Final = logging.getLogger("l7lb.proxy")

IDLE: Final = 0
HEAD: Final = 1
ACTIVE: Final = 2
TUNNEL: Final = 3
CLOSED: Final = 4

# reasons reading from the client is paused (bit mask)
_PENDING: Final = 1  # too many pipelined events queued
_BACKEND_FULL: Final = 2  # the backend's write buffer is full
_NO_BACKEND: Final = 4  # body bytes buffered while the backend connection is being made

_MAX_PENDING: Final = 16
_NEVER: Final = float("inf")
_MAX_FALLBACK_HOPS: Final = 8
_MAX_EARLY_BODY: Final = 65536
_EMPTY: Final[frozenset[str]] = frozenset()
_CHUNK_END: Final = b"0\r\n\r\n"
_IDEMPOTENT: Final = frozenset((b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"))


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes:
    for k, v in headers:
        if k == name:
            return v
    return b""


class ClientConnection(asyncio.Protocol):
    def __init__(self, rt: WorkerRuntime, vip: VipRuntime) -> None:
        self.rt = rt
        self.vip = vip
        self.loop = rt.loop
        self.transport: asyncio.Transport | None = None
        self.peer = "-"
        self.parser = rt.request_parser()
        self.pending: deque[Event] = deque()
        self.out: list[bytes] = []  # response bytes queued during one backend read
        self.state = IDLE
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.deadline = _NEVER
        self.read_block = 0
        self.pumping = False
        self.backend_progress = False
        self.client_progress = False
        self._reset_exchange()

    def _reset_exchange(self) -> None:
        self.req: RequestHead | None = None
        self.req_done = False
        self.resp_done = False
        self.discard = False  # request body is read and dropped (local response)
        self.close_after = False
        self.host = b""
        self.target = b""
        self._hash_value: bytes | None = None
        self.pool: PoolRuntime | None = None
        self.server: ServerState | None = None
        self.backend: BackendConnection | None = None
        self.excluded: set[str] | None = None
        self.early: list[bytes] = []  # framed body bytes waiting for the backend
        self.early_size = 0
        self.head_sent = False
        self.retried = False
        self.fallback_hops = 0
        self.sticky: Sticky = NOT_STUCK
        self.queued_until = 0.0
        self.waiting_for: PoolRuntime | None = None
        self.resp: ResponseHead | None = None
        self.out_chunked = False
        self.status = 0
        self.bytes_sent = 0
        self.t0 = 0.0
        self.server_name = ""
        self.t_backend = -1.0
        self.upgrade_tail: bytes | None = None

    # ---- asyncio callbacks -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = peer[0]
        self.rt.connections.add(self)
        self.state = HEAD
        self._arm(self.rt.timeouts.request_head)

    def data_received(self, data: bytes) -> None:
        state = self.state
        if state == TUNNEL:
            self.tunnel_from_client(data)
            return
        if self.upgrade_tail is not None:
            # after an upgrade request, before the backend's answer: raw bytes
            self.upgrade_tail += data
            if len(self.upgrade_tail) > _MAX_EARLY_BODY:
                self.block_reading(_NO_BACKEND)
            return
        try:
            events = self.parser.feed(data)
        except ProtocolError as exc:
            self._protocol_error(exc)
            return
        self.client_progress = True
        if not events:
            if state == IDLE:
                self.state = HEAD
                self._arm(self.rt.timeouts.request_head)
            return
        self.pending.extend(events)
        self._pump()

    def eof_received(self) -> bool | None:
        with contextlib.suppress(ProtocolError):
            self.parser.feed_eof()
        if self.state == ACTIVE and not self.req_done:
            # the client gave up mid-request
            self._abort_exchange(499)
            return None
        if self.state == ACTIVE:
            # half-close after a complete request: finish sending the response, then close
            self.close_after = True
            return True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        prev = self.state
        self.state = CLOSED
        self._cancel_timer()
        self.rt.connections.discard(self)
        if prev == TUNNEL:
            b = self.backend
            self.backend = None
            if b is not None:
                b.close()
            self._release_server()
            return
        if prev == ACTIVE and not self.resp_done:
            self._abort_exchange(499)

    def pause_writing(self) -> None:
        b = self.backend
        if b is not None and b.transport is not None:
            b.transport.pause_reading()

    def resume_writing(self) -> None:
        b = self.backend
        if b is not None and b.transport is not None and not b.closed:
            b.transport.resume_reading()

    # ---- flow control --------------------------------------------------------

    def block_reading(self, reason: int) -> None:
        if not self.read_block and self.transport is not None:
            self.transport.pause_reading()
        self.read_block |= reason

    def unblock_reading(self, reason: int) -> None:
        if not self.read_block & reason:
            return
        self.read_block &= ~reason
        if not self.read_block and self.transport is not None and self.state != CLOSED:
            self.transport.resume_reading()

    # ---- timers --------------------------------------------------------------

    # One deadline per connection. Moving it later (every request does) costs an
    # attribute store; the loop timer is only re-armed when the deadline moves
    # earlier than the armed time, or when the timer fires early and finds the
    # deadline moved on. call_later + cancel three times a request cost ~4 µs.

    def _arm(self, delay: float) -> None:
        when = self.loop.time() + delay
        self.deadline = when
        if self.timer is None or self.timer_at > when:
            if self.timer is not None:
                self.timer.cancel()
            self.timer = self.loop.call_at(when, self._on_timer)
            self.timer_at = when

    def _disarm(self) -> None:
        self.deadline = _NEVER

    def _cancel_timer(self) -> None:
        self.deadline = _NEVER
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _on_timer(self) -> None:
        self.timer = None
        deadline = self.deadline
        if deadline == _NEVER:
            return
        if deadline > self.loop.time():
            self.timer = self.loop.call_at(deadline, self._on_timer)
            self.timer_at = deadline
            return
        self.deadline = _NEVER
        state = self.state
        if state == IDLE:
            self._close()
        elif state == HEAD:
            self._write(responses.error(408, "request head not received in time"))
            self._log_local(408, b"-", b"-")
            self._close()
        elif state == ACTIVE:
            if self.waiting_for is not None:
                self.waiting_for = None
                self._local(503, responses.error(503, "every server of this pool is busy"))
                return
            t = self.rt.timeouts
            progress = self.backend_progress or self.client_progress
            self.backend_progress = self.client_progress = False
            if progress:
                self._arm(t.backend_response if self.req_done else t.client_idle)
                return
            if self.resp is None and self.req_done and self.backend is not None:
                self._backend_error(504, "backend response timeout", passive=False)
            elif self.resp is None and not self.req_done:
                # the client stopped sending its body
                self._abort_exchange(408)
            else:
                self._abort_exchange(504)

    # ---- the request side ------------------------------------------------------

    def _pump(self) -> None:
        if self.pumping:
            return
        self.pumping = True
        try:
            pending = self.pending
            while pending:
                state = self.state
                ev = pending[0]
                if type(ev) is Upgrade:
                    pending.popleft()
                    self._client_upgrade(ev.tail)
                elif state in (HEAD, IDLE):
                    pending.popleft()
                    assert type(ev) is RequestHead
                    self._begin(ev)
                elif state == ACTIVE and not self.req_done:
                    pending.popleft()
                    self._request_event(ev)
                else:
                    break
            if len(pending) > _MAX_PENDING:
                self.block_reading(_PENDING)
            elif self.read_block & _PENDING:
                self.unblock_reading(_PENDING)
        finally:
            self.pumping = False

    def _begin(self, head: RequestHead) -> None:
        self._disarm()
        self.state = ACTIVE
        self.req = head
        self.t0 = time.monotonic()
        self.close_after = not head.keep_alive or self.rt.draining
        self.client_progress = self.backend_progress = False
        if head.method == b"CONNECT":
            self._local(405, responses.error(405, "CONNECT is not supported by a reverse proxy"))
            return
        target = head.target
        host = request_host(target, head.headers)
        self.host = host
        path, query = split_target(target)
        if target[:1] != b"/" and target != b"*":
            # absolute-form (RFC 9112 3.2.2): realservers get origin-form, Host from the URI
            self.target = path + b"?" + query if query else path
        else:
            self.target = target
        route = self.vip.router.route(head.method, host, path, head.headers, self.peer)
        if route is None:
            self._local(404, responses.error(404, "no route matches this request"))
        elif route.pool is not None:
            self._to_pool(self.rt.pools[route.pool], path, query)
        elif route.redirect is not None:
            rd = route.redirect
            location = render_redirect(rd.location, host, path, query)
            self._local(
                rd.status,
                responses.redirect(
                    rd.status,
                    location,
                    keep_alive=not self._local_must_close(),
                    head_only=head.method == b"HEAD",
                ),
            )
        elif route.respond is not None:
            self._local(
                route.respond.status,
                responses.static(
                    route.respond,
                    keep_alive=not self._local_must_close(),
                    head_only=head.method == b"HEAD",
                ),
            )
        else:  # pragma: no cover - the loader guarantees one action
            self._local(500, responses.error(500, "route has no action"))

    def _local_must_close(self) -> bool:
        req = self.req
        assert req is not None
        if req.framing is not Framing.NONE or req.upgrade:
            # we answer without reading the body: the connection cannot be reused
            self.close_after = True
        return self.close_after

    def _local(self, status: int, payload: bytes) -> None:
        """Answer from l7lb itself; the request body, if any, is discarded."""
        self._local_must_close()
        if b"connection: close" in payload[:512] and not self.close_after:
            self.close_after = True
        if self.close_after and b"connection: keep-alive\r\n" in payload:
            payload = payload.replace(b"connection: keep-alive\r\n", b"connection: close\r\n", 1)
        self.discard = True
        self.status = status
        self.bytes_sent = len(payload)
        self._write(payload)
        self.resp_done = True
        if self.req_done or self.close_after:
            self._complete()

    def _request_event(self, ev: Event) -> None:
        t = type(ev)
        if t is Data:
            if self.discard:
                return
            assert isinstance(ev, Data)
            data = ev.data
            if not data:
                return
            req = self.req
            assert req is not None
            if req.framing is Framing.CHUNKED:
                data = b"%x\r\n%s\r\n" % (len(data), data)
            b = self.backend
            if b is not None and self.head_sent and b.transport is not None:
                b.transport.write(data)
            else:
                self.early.append(data)
                self.early_size += len(data)
                if self.early_size > _MAX_EARLY_BODY:
                    self.block_reading(_NO_BACKEND)
        elif t is EndOfMessage:
            self.req_done = True
            req = self.req
            assert req is not None
            if not self.discard and req.framing is Framing.CHUNKED:
                b = self.backend
                if b is not None and self.head_sent and b.transport is not None:
                    b.transport.write(_CHUNK_END)
                else:
                    self.early.append(_CHUNK_END)
            if self.resp_done:
                self._complete()
            elif self.head_sent:
                # the whole request is out: now the backend's clock runs
                self._arm(self.rt.timeouts.backend_response)

    def _client_upgrade(self, tail: bytes) -> None:
        # the client parser is finished: from here on the client sends raw bytes
        self.upgrade_tail = tail
        if self.state != ACTIVE or self.discard or self.resp_done:
            self.close_after = True

    # ---- choosing a server -------------------------------------------------------

    def _to_pool(self, pool: PoolRuntime, path: bytes, query: bytes) -> None:
        self.pool = pool
        req = self.req
        assert req is not None
        self._hash_value = pool.hash_key.value(path, query, self.host, req.headers)
        st = pool.stickiness
        if st is not None:
            sticky = st.lookup(self.target, req.headers, self.peer, time.time())
            self.sticky = sticky
            server = sticky.server
            if server is not None:
                state = st.usable(server, self.loop.time())
                if state == "ok":
                    # stuck clients follow their server even while it drains
                    self._use(pool, server)
                    return
                if state == "full":
                    self._wait_for_slot(pool)
                    return
                if not pool.pool.redispatch:
                    self._local(503, responses.error(503, f"the client's server is {state}"))
                    return
                # redispatch: schedule normally; the response re-sticks the client
            elif st.claim_needed(sticky):
                self._claim(pool, st, sticky)
                return
        self._dispatch()

    def _claim(self, pool: PoolRuntime, st: Stickiness, sticky: Sticky) -> None:
        """First contact for a table key on this worker: ask the supervisor."""
        assert sticky.key is not None
        proposal = None
        if st.proposes:
            proposal = pool.state.pick(
                self.peer, self._hash_value, self.excluded or _EMPTY, self.loop.time()
            )
            if proposal is None:
                self._dispatch()  # nothing to propose: fallback, queue or 503
                return
        token = self.req

        def answer(name: str | None) -> None:
            if self.req is not token or self.state != ACTIVE or self.server is not None:
                return  # the client left or the exchange moved on
            server = pool.state.by_name.get(name) if name else None
            if server is not None and st.usable(server, self.loop.time()) == "ok":
                self.sticky = Sticky(
                    server, sticky.key, "source" if st.proposes else "learned", None
                )
                self._use(pool, server)
            else:
                self._dispatch()

        self.rt.claim(st.table_name, sticky.key, proposal.name if proposal else None, answer)

    def _dispatch(self) -> None:
        pool = self.pool
        assert pool is not None
        server = pool.state.pick(
            self.peer, self._hash_value, self.excluded or _EMPTY, self.loop.time()
        )
        if server is None:
            if pool.pool.queue_timeout > 0 and pool.any_full():
                self._wait_for_slot(pool)
            else:
                self._no_server(pool)
            return
        self._use(pool, server)

    def _use(self, pool: PoolRuntime, server: ServerState) -> None:
        pool.state.acquire(server)
        self.server = server
        self.server_name = server.server.name
        st = pool.stickiness
        if st is not None and st.uses_table:
            updates = st.dispatched(self.sticky, server, time.time())
            if updates:
                self.rt.announce(updates)
        conn = pool.take_idle(server)
        if conn is not None:
            self._attach(conn)
        else:
            self.loop.create_task(self._connect(pool, server))

    def _wait_for_slot(self, pool: PoolRuntime) -> None:
        """Every usable server is at max_conn: wait for a release, up to the
        pool's queue_timeout, then 503."""
        if self.queued_until == 0.0:
            self.queued_until = self.loop.time() + pool.pool.queue_timeout
        elif self.loop.time() >= self.queued_until:
            self._local(503, responses.error(503, "every server of this pool is busy"))
            return
        self.waiting_for = pool
        pool.waiters.append(self)
        self._arm(self.queued_until - self.loop.time())

    def retry_dispatch(self) -> None:
        """A server slot was released while this client waited."""
        if self.state != ACTIVE or self.pool is None or self.server is not None:
            return
        st = self.pool.stickiness
        stuck = self.sticky.server
        if st is not None and stuck is not None and st.usable(stuck, self.loop.time()) == "ok":
            self._use(self.pool, stuck)
        else:
            self._dispatch()

    def _no_server(self, pool: PoolRuntime) -> None:
        p = pool.pool
        if p.fallback_pool is not None and self.fallback_hops < _MAX_FALLBACK_HOPS:
            # the loader refuses fallback loops; the hop bound is a second guard
            self.fallback_hops += 1
            self.excluded = None
            self.sticky = NOT_STUCK
            self.pool = self.rt.pools[p.fallback_pool]
            self._dispatch()
            return
        if p.fallback_response is not None:
            self._local(
                p.fallback_response.status,
                responses.static(
                    p.fallback_response,
                    keep_alive=not self._local_must_close(),
                    head_only=self.req is not None and self.req.method == b"HEAD",
                ),
            )
            return
        if self.excluded:
            self._local(502, responses.error(502, "no realserver of this pool could be reached"))
        else:
            self._local(503, responses.error(503, "no realserver of this pool is available"))

    async def _connect(self, pool: PoolRuntime, server: ServerState) -> None:
        addr = server.server.address
        try:
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(
                    lambda: BackendConnection(pool, server, self.rt.response_parser()),
                    addr.host,
                    addr.port,
                ),
                self.rt.timeouts.backend_connect,
            )
        except (TimeoutError, OSError) as exc:
            reason = "timeout" if isinstance(exc, asyncio.TimeoutError) else str(exc)
            log.warning(
                "pool %s server %s (%s): connect failed: %s",
                pool.name,
                server.server.name,
                addr,
                reason,
            )
            pool.connect_failed(server, self.loop.time())
            if self.state != ACTIVE or self.server is not server:
                return  # the client left; its abort released the server already
            self.server = None
            pool.release(server)
            if self.excluded is None:
                self.excluded = set()
            self.excluded.add(server.server.name)
            self._dispatch()
            return
        if self.state != ACTIVE or self.server is not server or self.backend is not None:
            # the client went away while we connected (its abort released the
            # server): keep the connection for someone else
            pool.put_idle(conn, self.loop.time())
            return
        pool.connect_ok(server)
        self._attach(conn)

    def _attach(self, conn: BackendConnection) -> None:
        req = self.req
        pool = self.pool
        assert req is not None and pool is not None and conn.transport is not None
        self.backend = conn
        conn.client = self
        conn.uses += 1
        conn.parser.expect(req.method)
        st = pool.stickiness
        headers = backend_request_headers(
            req.headers if st is None else st.request_headers(req.headers, self.sticky),
            client_ip=self.peer,
            scheme=self.vip.scheme,
            host=self.host,
            via=self.rt.via,
            forwarded=self.rt.forwarded,
            upgrade=req.upgrade,
            version=req.version,
            server_host=b"" if self.host else conn.server.server.address.authority,
        )
        if req.framing is Framing.LENGTH:
            headers.append((b"content-length", b"%d" % req.content_length))
        elif req.framing is Framing.CHUNKED:
            headers.append((b"transfer-encoding", b"chunked"))
        head = serialize_request_head(req.method, self.target, headers)
        self.head_sent = True
        if self.early:
            conn.transport.write(head + b"".join(self.early))
            self.early.clear()
            self.early_size = 0
            self.unblock_reading(_NO_BACKEND)
        else:
            conn.transport.write(head)
        self.t_backend = time.monotonic()
        self.backend_progress = False
        t = self.rt.timeouts
        self._arm(t.backend_response if self.req_done else t.client_idle)

    # ---- the response side ---------------------------------------------------------

    def response_events(self, events: list[Event], conn: BackendConnection) -> None:
        """What one backend read produced, in order; stops if the exchange moves on
        (the backend was released at END and may already serve someone else)."""
        last = len(events) - 1
        for i, ev in enumerate(events):
            t = type(ev)
            if t is Data:
                data = ev.data  # type: ignore[union-attr]
                if data:
                    self.bytes_sent += len(data)
                    if self.out_chunked:
                        self.out.append(b"%x\r\n%s\r\n" % (len(data), data))
                    else:
                        self.out.append(data)
            elif t is ResponseHead:
                self._response_head(ev)  # type: ignore[arg-type]
            elif t is EndOfMessage:
                self._response_end(i == last)
            elif t is Upgrade:
                self._start_tunnel(ev.tail)  # type: ignore[union-attr]
            if conn.client is not self:
                break
        self.flush_out()

    def _response_head(self, head: ResponseHead) -> None:
        req = self.req
        assert req is not None and self.transport is not None
        status = head.status
        if status < 200:
            if status == 101:
                if not req.upgrade:
                    self._backend_error(502, "101 without an upgrade request", passive=False)
                    return
                self.resp = head
                self.status = 101
                hs = client_response_headers(head.headers, via=self.rt.via, rewrite=None)
                hs.append((b"connection", b"upgrade"))
                up = _header(head.headers, b"upgrade")
                if up:
                    hs.append((b"upgrade", up))
                self.out.append(serialize_response_head(b"1.1", 101, b"Switching Protocols", hs))
            elif req.version == b"1.1":
                hs = client_response_headers(head.headers, via=b"", rewrite=None)
                reason = head.reason or responses.reason(status)
                self.out.append(serialize_response_head(b"1.1", status, reason, hs))
            return
        self.resp = head
        self.status = status
        if self.t_backend >= 0:
            self.t_backend = time.monotonic() - self.t_backend
        framing = head.framing
        if not self.req_done or self.upgrade_tail is not None or self.rt.draining:
            # answered before the request body was read, or the client parser is done
            self.close_after = True
        rewriter = None
        pool = self.pool
        if pool is not None:
            rewriter = LocationRewriter(pool.authorities, self.vip.scheme, self.host)
        hs = client_response_headers(head.headers, via=self.rt.via, rewrite=rewriter)
        st = pool.stickiness if pool is not None else None
        if st is not None and self.server is not None:
            hs, updates = st.response_headers(
                hs, self.server, self.sticky, self.vip.scheme == b"https", time.time()
            )
            if updates:
                self.rt.announce(updates)
        self.out_chunked = False
        if framing is Framing.LENGTH:
            hs.append((b"content-length", b"%d" % head.content_length))
        elif framing is Framing.NONE:
            cl = _header(head.headers, b"content-length")
            if cl and status != 204:
                hs.append((b"content-length", cl))
        elif req.version == b"1.1":
            # chunked or close-delimited from the server: chunked to the client keeps it alive
            self.out_chunked = True
            hs.append((b"transfer-encoding", b"chunked"))
        else:
            self.close_after = True
        if self.close_after:
            hs.append((b"connection", b"close"))
        elif req.version == b"1.0":
            hs.append((b"connection", b"keep-alive"))
        reason = head.reason or responses.reason(status)
        self.out.append(serialize_response_head(b"1.1", status, reason, hs))

    def _response_end(self, last: bool) -> None:
        """The response is complete; ``last``: nothing followed it in the same read."""
        if self.resp is None or self.resp.status == 101:
            return  # the END of an informational response, or of a 101 (tunnel follows)
        if self.out_chunked:
            self.out.append(_CHUNK_END)
        b = self.backend
        self.backend = None
        if b is not None:
            b.client = None
            assert self.resp is not None
            if self.resp.keep_alive and self.req_done and not b.closed and self.pool is not None:
                if last and b.parser.idle():
                    self.pool.put_idle(b, self.loop.time())
                else:
                    # Bytes beyond the response (a body sent to HEAD, a 304 or a 204, or
                    # a second response nobody asked for) would answer the next request
                    # sent on this connection: never reuse it.
                    log.warning(
                        "pool %s server %s: bytes after the end of a response to %s; "
                        "connection closed",
                        self.pool.name,
                        b.server.server.name,
                        self.req.method.decode("latin-1") if self.req else "-",
                    )
                    b.close()
            else:
                b.close()
        self._release_server()
        self.resp_done = True
        if self.req_done or self.close_after:
            self._complete()

    def _release_server(self) -> None:
        s = self.server
        self.server = None
        if s is not None and self.pool is not None:
            self.pool.release(s)

    # ---- failures ---------------------------------------------------------------

    def backend_failed(self, conn: BackendConnection, reason: str) -> None:
        """Called by a backend connection that closed or sent garbage mid-exchange."""
        if conn is not self.backend:
            return
        self._backend_error(502, reason, passive=True)

    def _backend_error(self, status: int, reason: str, *, passive: bool) -> None:
        b = self.backend
        self.backend = None
        pool = self.pool
        server = self.server
        req = self.req
        if b is not None:
            b.abort()
        name = server.server.name if server is not None else "-"
        if (
            status == 502
            and self.resp is None
            and b is not None
            and b.uses > 1
            and not self.retried
            and req is not None
            and req.framing is Framing.NONE
            and req.method in _IDEMPOTENT
            and pool is not None
            and server is not None
        ):
            # a reused keep-alive connection the server closed as we sent: retry once, fresh
            self.retried = True
            self.head_sent = False
            conn_server = server
            self.loop.create_task(self._connect(pool, conn_server))
            return
        log.warning(
            "%s %s: pool %s server %s: %s",
            self.peer,
            req.method.decode("latin-1") if req else "-",
            pool.name if pool else "-",
            name,
            reason,
        )
        self._release_server()
        if self.resp is None:
            self.close_after = True
            self._local(status, responses.error(status, reason))
        else:
            self._abort_exchange(status)

    def _protocol_error(self, exc: ProtocolError) -> None:
        self.pending.clear()
        if self.state == ACTIVE and self.resp is not None:
            self._abort_exchange(exc.status)
            return
        if self.state == ACTIVE:
            b = self.backend
            self.backend = None
            if b is not None:
                b.abort()
            self._release_server()
        self.state = ACTIVE
        self.close_after = True
        self.req_done = True
        if self.req is None:
            self.t0 = time.monotonic()
        self.status = exc.status
        payload = responses.error(exc.status, exc.reason)
        self.bytes_sent = len(payload)
        self._write(payload)
        log.info("%s: bad request: %d %s", self.peer, exc.status, exc.reason)
        self.resp_done = True
        self._complete()

    def _abort_exchange(self, status: int) -> None:
        """Give up on the exchange without a response (mid-stream failure)."""
        b = self.backend
        self.backend = None
        if b is not None:
            b.abort()
        self._release_server()
        if self.req is not None:
            self.status = status if not self.resp else self.status
            self._log()
        self._reset_exchange()
        self._cancel_timer()
        self.state = CLOSED
        self.out.clear()
        if self.transport is not None:
            self.transport.abort()

    # ---- tunnel (WebSocket and other upgrades) -------------------------------------

    def _start_tunnel(self, tail: bytes) -> None:
        b = self.backend
        assert b is not None and self.transport is not None and b.transport is not None
        self._cancel_timer()
        self.state = TUNNEL
        b.raw = True
        if tail:
            self.out.append(tail)
        self.flush_out()
        early = self.upgrade_tail or b""
        self.upgrade_tail = None
        if early:
            b.transport.write(early)
        self.unblock_reading(_NO_BACKEND)
        self.resp_done = True
        self._log()

    def tunnel_from_client(self, data: bytes) -> None:
        b = self.backend
        if b is not None and b.transport is not None:
            b.transport.write(data)

    def tunnel_from_backend(self, data: bytes) -> None:
        self._write(data)

    def tunnel_closed(self) -> None:
        self.backend = None
        self._release_server()
        self._close()

    # ---- finishing -------------------------------------------------------------------

    def _complete(self) -> None:
        self._log()
        close = self.close_after
        self._reset_exchange()
        if close or self.state == CLOSED:
            self._close()
            return
        self.state = IDLE
        self._arm(self.rt.timeouts.keepalive)
        if self.pending:
            self._pump()
            if not self.pumping and self.pending:
                self._pump()

    def _log(self) -> None:
        al = self.rt.access_log
        req = self.req
        if req is None or not al.enabled:
            return
        now = time.monotonic()
        al.write(
            AccessRecord(
                client=self.peer,
                method=req.method,
                target=req.target,
                version=req.version,
                status=self.status,
                bytes_sent=self.bytes_sent,
                referer=_header(req.headers, b"referer"),
                user_agent=_header(req.headers, b"user-agent"),
                host=self.host,
                vip=self.vip.name,
                pool=self.pool.name if self.pool else "",
                server=self.server_name,
                backend_ms=self.t_backend * 1000 if self.t_backend >= 0 else -1.0,
                total_ms=(now - self.t0) * 1000,
            )
        )

    def _log_local(self, status: int, method: bytes, target: bytes) -> None:
        al = self.rt.access_log
        if not al.enabled:
            return
        al.write(
            AccessRecord(
                client=self.peer,
                method=method,
                target=target,
                version=b"1.1",
                status=status,
                bytes_sent=0,
                referer=b"",
                user_agent=b"",
                host=b"",
                vip=self.vip.name,
                pool="",
                server="",
                backend_ms=-1.0,
                total_ms=0.0,
            )
        )

    def _write(self, data: bytes) -> None:
        self.out.append(data)
        self.flush_out()

    def flush_out(self) -> None:
        """Write what the exchange queued in one send: head and body together."""
        out = self.out
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(data)

    def _close(self) -> None:
        self._cancel_timer()
        self.state = CLOSED
        t = self.transport
        if isinstance(t, TlsStream):
            # corked: the last response, the close_notify and the FIN leave in
            # one segment instead of three
            t.cork()
        self.flush_out()
        if t is not None:
            t.close()
