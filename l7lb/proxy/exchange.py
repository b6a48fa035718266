"""One request and its response, as a sans-IO object.

An ``Exchange`` is made for each request head a client connection parses (HTTP/1.1, or an
HTTP/2 stream). It routes the request, dispatches it (``dispatch.Dispatch``), sends the head
and the body to a backend connection (``link.BackendLink``) it asks for, parses the
response, and hands the response to its client side (``Client``) as a head edit, body
bytes and an end, which that side renders for its own protocol. It keeps the timings of the
access record. What it needs from the outside comes as method calls (events); what it wants
done is appended to ``out`` as commands (``commands``). No socket, no clock, no event loop:
``now`` is the event loop's time, and wall-clock time (cookie dates) is derived from it by
the runtime.

The events, in the order they usually come::

    start(now)                            the head is in: route and dispatch
    body(data, now), body_end(now)        the request body, decoded, as it arrives
    attached(link, now)                   a backend connection is ready (after Connect)
    backend_received(link, data, now)
    backend_closed(link, error, now)

and when things go otherwise: connect_failed, claim_answer, slot_free, on_deadline,
client_gone, client_full, backend_full.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final, Protocol

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
from l7lb.http.head_edit import HeadEdit, backend_request, request_edit, response_edit
from l7lb.limits.window import retry_after
from l7lb.proxy import answers
from l7lb.proxy.answers import Answer
from l7lb.proxy.commands import (
    Announce,
    Claim,
    Command,
    Connect,
    Enqueue,
    Log,
    PauseBackend,
    ReleaseBackend,
    ResumeBackend,
    ToBackend,
)
from l7lb.proxy.deadlines import BodyWatch, Deadline, Phase
from l7lb.proxy.dispatch import (
    AnswerLocally,
    AskSupervisor,
    Decision,
    Dispatch,
    UseServer,
    WaitForSlot,
)
from l7lb.proxy.flow import Pause
from l7lb.routing.redirect import render_redirect
from l7lb.routing.target import split_target

if TYPE_CHECKING:
    from l7lb.balancing import ServerState
    from l7lb.limits.table import SourceEntry
    from l7lb.proxy.link import BackendLink
    from l7lb.proxy.runtime import PoolRuntime, VipRuntime, WorkerRuntime

log: Final = logging.getLogger("l7lb.proxy")

_MAX_EARLY_BODY: Final = 65536  # body bytes held while the backend connection is made
_CHUNK_END: Final = b"0\r\n\r\n"
_IDEMPOTENT: Final = frozenset((b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"))


class Client(Protocol):
    """The client side an exchange answers through: an HTTP/1.1 connection, or an HTTP/2
    stream. It renders what the exchange hands it and decides what its connection does."""

    def head(self, ex: Exchange, resp: ResponseHead, edit: HeadEdit) -> None:
        """The final response head (status 200 or more), with the edit toward the client."""

    def info(self, ex: Exchange, resp: ResponseHead, edit: HeadEdit) -> None:
        """An informational response (1xx but 101), to relay if the client can take it."""

    def upgrade(self, ex: Exchange, resp: ResponseHead, edit: HeadEdit, link: BackendLink) -> None:
        """A 101 for an upgrade request: the head, then raw bytes both ways."""

    def tunnel(self, ex: Exchange, tail: bytes, link: BackendLink) -> None:
        """After the 101: ``tail`` (bytes the backend sent after it) and the tunnel."""

    def data(self, ex: Exchange, data: bytes) -> None:
        """Response body bytes (decoded)."""

    def end(self, ex: Exchange, now: float) -> None:
        """The response is complete; the exchange has released everything and logged."""

    def answer(self, ex: Exchange, answer: Answer) -> int:
        """A complete response from l7lb itself (``end`` follows); returns the bytes it took
        on the wire."""

    def abort(self, ex: Exchange, now: float) -> None:
        """Give up on the response (it is cut short): the client must see a failure."""

    def pause_body(self, ex: Exchange, reason: Pause) -> None:
        """Stop reading the request body for ``reason``."""

    def resume_body(self, ex: Exchange, reason: Pause) -> None: ...


class Exchange:
    __slots__ = (
        "bytes_sent",
        "client",
        "deadline",
        "discard",
        "dispatch",
        "done",
        "early",
        "early_size",
        "head_sent",
        "link",
        "out",
        "peer",
        "pool",
        "req",
        "req_done",
        "resp",
        "retried",
        "rt",
        "server",
        "server_name",
        "source",
        "status",
        "t0",
        "t_head",
        "t_sent",
        "target",
        "vip",
        "waiting",
    )

    def __init__(
        self,
        client: Client,
        rt: WorkerRuntime,
        vip: VipRuntime,
        peer: str,
        req: RequestHead,
        now: float,
        out: list[Command],
        source: SourceEntry | None = None,
    ) -> None:
        self.client = client
        self.rt = rt
        self.vip = vip
        self.peer = peer
        self.req = req
        self.out = out
        self.target = req.target  # origin-form, for the backend
        self.pool: PoolRuntime | None = None
        self.server: ServerState | None = None
        self.server_name = ""  # kept for the log once the slot is released
        self.dispatch: Dispatch | None = None
        self.link: BackendLink | None = None
        self.deadline = Deadline(rt.timeouts)
        if req.framing is not Framing.NONE and rt.body_watch:
            t = rt.timeouts
            self.deadline.watch_body(
                BodyWatch(
                    t.body_min_rate, t.body_rate_window, t.body_deadline, now, req.expect_continue
                )
            )
        self.source = source  # the client's [vip.limits] counters, if any
        self.req_done = False  # the client has sent the whole request
        self.done = False  # answered (or given up) and logged
        self.discard = False  # the request body is read and dropped (a local answer)
        self.waiting = False  # queued for a server slot
        self.head_sent = False
        self.retried = False
        self.early: list[bytes] = []  # framed body bytes waiting for the backend
        self.early_size = 0
        self.resp: ResponseHead | None = None
        self.status = 0
        self.bytes_sent = 0
        self.t0 = now
        self.t_sent = -1.0  # when the head went to the backend
        self.t_head = -1.0  # when the response head came back

    # ---- the request ------------------------------------------------------------------

    def start(self, now: float) -> None:
        source = self.source
        if source is not None:
            wait = source.request(self.rt.wall(now))
            if wait:
                self._answer(
                    answers.too_many(retry_after(wait), "too many requests from this address"), now
                )
                return
        req = self.req
        target = req.target
        if target[:1] == b"/":
            # origin-form (the codec refused any fragment)
            path, _, query = target.partition(b"?")
        else:
            path, query = split_target(target)
            if target != b"*":
                # absolute-form (RFC 9112 3.2.2): realservers get origin-form
                self.target = path + b"?" + query if query else path
        route = self.vip.router.route(req.method, req.host, path, req.headers, self.peer)
        if route is None:
            self._answer(answers.error(404, "no route matches this request"), now)
        elif route.pool is not None:
            pool = self.rt.pools[route.pool]
            self.pool = pool
            d = Dispatch(self.rt.pools, pool, req, self.target, path, query, self.peer)
            self.dispatch = d
            self._decided(d.first(now, self.rt.wall(now)), now)
        elif route.redirect is not None:
            rd = route.redirect
            location = render_redirect(rd.location, req.host, path, query)
            self._answer(answers.redirect(rd.status, location), now)
        elif route.respond is not None:
            self._answer(answers.static(route.respond), now)
        else:  # pragma: no cover - the loader guarantees one action
            self._answer(answers.error(500, "route has no action"), now)

    def body(self, data: bytes, now: float) -> None:
        """Request body bytes, decoded."""
        if self.discard or not data or self.done:
            return
        self.deadline.body_progress(len(data), now)
        if self.req.framing is Framing.CHUNKED:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        link = self.link
        if link is not None and self.head_sent:
            self.out.append(ToBackend(link, data))
        else:
            self.early.append(data)
            self.early_size += len(data)
            if self.early_size > _MAX_EARLY_BODY:
                self._pause_body(Pause.NO_BACKEND)

    def body_end(self, now: float) -> None:
        """The client has sent the whole request."""
        self.req_done = True
        if self.deadline.body is not None:
            self.deadline.body_done()
        if self.discard or self.done:
            return
        if self.req.framing is Framing.CHUNKED:
            link = self.link
            if link is not None and self.head_sent:
                self.out.append(ToBackend(link, _CHUNK_END))
            else:
                self.early.append(_CHUNK_END)
        if self.head_sent:
            # the whole request is out: now the backend's clock runs
            self.deadline.start(Phase.RESPONSE, now)

    # ---- choosing a server --------------------------------------------------------------

    def _decided(self, d: Decision, now: float) -> None:
        if isinstance(d, UseServer):
            self.pool = d.pool
            self.server = d.server
            self.server_name = d.server.server.name
            if d.updates:
                self.out.append(Announce(d.updates))
            self.out.append(Connect(self, d.pool, d.server))
        elif isinstance(d, AnswerLocally):
            self._answer(d.answer, now)
        elif isinstance(d, AskSupervisor):
            self.out.append(Claim(self, d.table, d.key, d.proposal))
        else:
            assert isinstance(d, WaitForSlot)
            self.pool = d.pool
            self.waiting = True
            self.deadline.until(Phase.QUEUE, d.until)
            self.out.append(Enqueue(self, d.pool))

    def claim_answer(self, name: str | None, now: float) -> None:
        d = self.dispatch
        if self.done or d is None or not d.claiming:
            return  # the client left, or the exchange moved on
        self._decided(d.claimed(name, now, self.rt.wall(now)), now)

    def slot_free(self, now: float) -> None:
        """A server slot was released while this exchange was queued."""
        d = self.dispatch
        if self.done or not self.waiting or d is None:
            return
        self.waiting = False
        self.deadline.clear()
        self._decided(d.slot_freed(now, self.rt.wall(now)), now)

    def connect_failed(self, server: ServerState, reason: str, now: float) -> None:
        pool = self.pool
        log.warning(
            "pool %s server %s (%s): connect failed: %s",
            pool.name if pool is not None else "-",
            server.server.name,
            server.server.address,
            reason,
        )
        d = self.dispatch
        if self.done or self.server is not server or d is None:
            if pool is not None:
                pool.connect_failed(server, now)  # passive health counts it all the same
            return
        self.server = None
        self._decided(d.failed(server, now, self.rt.wall(now)), now)

    # ---- the backend connection --------------------------------------------------------

    def attached(self, link: BackendLink, now: float) -> None:
        """The backend connection the Connect asked for (idle or new)."""
        pool = self.pool
        if self.done or self.link is not None or self.server is not link.server:
            # the client went away meanwhile (its end released the server): keep the
            # connection for someone else
            self.out.append(ReleaseBackend(link, reuse=True))
            return
        assert pool is not None
        if link.uses == 0:
            pool.connect_ok(link.server)
        req = self.req
        self.link = link
        link.exchange = self
        link.uses += 1
        link.parser.expect(req.method)
        rt = self.rt
        st = pool.stickiness
        d = self.dispatch
        cookies = None
        if st is not None and d is not None:
            cookies = st.request_cookies(req.headers, d.sticky)
        edit = request_edit(
            req,
            client_ip=self.peer,
            scheme=self.vip.scheme,
            via=rt.via,
            forwarded=rt.forwarded,
            server_host=b"" if req.host else link.server.server.address.authority,
            cookies=cookies,
        )
        head = backend_request(req, self.target, edit)
        self.head_sent = True
        if self.early:
            self.out.append(ToBackend(link, head + b"".join(self.early)))
            self.early.clear()
            self.early_size = 0
            self._resume_body(Pause.NO_BACKEND)
        else:
            self.out.append(ToBackend(link, head))
        self.t_sent = now
        self.deadline.start(Phase.RESPONSE if self.req_done else Phase.BODY, now)

    def backend_received(self, link: BackendLink, data: bytes, now: float) -> None:
        if link is not self.link:
            return
        try:
            events = link.parser.feed(data)
        except ProtocolError as exc:
            self._backend_failed(502, f"invalid response: {exc.reason}", now)
            return
        self.deadline.progress()
        self._response_events(events, link, now)

    def backend_closed(self, link: BackendLink, error: str, now: float) -> None:
        """The backend connection ended (``error``: why, if it was not a clean close)."""
        if link is not self.link:
            return
        try:
            events = link.parser.feed_eof()
        except ProtocolError as exc:
            reason = exc.reason if not error else f"{exc.reason} ({error})"
            self._backend_failed(502, reason, now)
            return
        self._response_events(events, link, now)
        if self.link is link:
            self._backend_failed(502, "connection closed by server", now)

    def backend_full(self, full: bool) -> None:
        """The backend's write buffer went above (or back under) its high-water mark."""
        if full:
            self._pause_body(Pause.BACKEND_FULL)
        else:
            self._resume_body(Pause.BACKEND_FULL)

    def _pause_body(self, reason: Pause) -> None:
        # l7lb stops reading the body: the body watch does not hold it against the client
        self.deadline.pause_body(reason)
        self.client.pause_body(self, reason)

    def _resume_body(self, reason: Pause) -> None:
        self.deadline.resume_body(reason)
        self.client.resume_body(self, reason)

    def client_full(self, full: bool) -> None:
        """The client's write buffer went above (or back under) its high-water mark."""
        link = self.link
        if link is not None:
            self.out.append(PauseBackend(link) if full else ResumeBackend(link))

    # ---- the response -------------------------------------------------------------------

    def _response_events(self, events: list[Event], link: BackendLink, now: float) -> None:
        """What one backend read produced, in order; stops once the exchange lets the link
        go (at the response's end, or on an error)."""
        last = len(events) - 1
        for i, ev in enumerate(events):
            t = type(ev)
            if t is Data:
                data = ev.data  # type: ignore[union-attr]
                if data:
                    self.bytes_sent += len(data)
                    self.client.data(self, data)
            elif t is ResponseHead:
                self._response_head(ev, now)  # type: ignore[arg-type]
            elif t is EndOfMessage:
                self._response_end(link, i == last, now)
            elif t is Upgrade:
                # the tunnel keeps the link and the server slot until it closes
                link.raw = True
                self.link = None
                link.exchange = None
                self._finish(now, keep_server=True)
                self.client.tunnel(self, ev.tail, link)  # type: ignore[union-attr]
            if self.link is not link:
                break

    def _response_head(self, head: ResponseHead, now: float) -> None:
        req = self.req
        status = head.status
        if status < 200:
            if status == 101:
                link = self.link
                if not req.upgrade or link is None:
                    self._backend_failed(502, "101 without an upgrade request", now)
                    return
                self.resp = head
                self.status = 101
                edit = response_edit(head, via=self.rt.via, upgrade=True)
                self.client.upgrade(self, head, edit, link)
            else:
                self.client.info(self, head, response_edit(head, via=b""))
            return
        self.resp = head
        self.status = status
        self.t_head = now
        pool = self.pool
        edit = response_edit(
            head,
            via=self.rt.via,
            authorities=pool.authorities if pool is not None else None,
            scheme=self.vip.scheme,
            host=req.host,
        )
        server = self.server
        st = pool.stickiness if pool is not None else None
        if st is not None and server is not None and self.dispatch is not None:
            updates = st.response_edit(
                head.headers, server, self.dispatch.sticky, self.vip.secure, self.rt.wall(now), edit
            )
            if updates:
                self.out.append(Announce(updates))
        self.client.head(self, head, edit)

    def _response_end(self, link: BackendLink, last: bool, now: float) -> None:
        """The response is complete; ``last``: nothing followed it in the same read."""
        resp = self.resp
        if resp is None or resp.status == 101:
            return  # the END of an informational response, or of a 101 (the tunnel follows)
        self.link = None
        link.exchange = None
        if resp.keep_alive and self.req_done and not link.closed:
            if last and link.parser.idle():
                self.out.append(ReleaseBackend(link, reuse=True))
            else:
                # Bytes beyond the response (a body sent to HEAD, a 304 or a 204, or a
                # second response nobody asked for) would answer the next request sent on
                # this connection: never reuse it.
                log.warning(
                    "pool %s server %s: bytes after the end of a response to %s; connection closed",
                    link.pool_name,
                    link.server.server.name,
                    self.req.method.decode("latin-1"),
                )
                self.out.append(ReleaseBackend(link, reuse=False))
        else:
            self.out.append(ReleaseBackend(link, reuse=False))
        self._finish(now)
        self.client.end(self, now)

    # ---- failures ---------------------------------------------------------------------

    def _backend_failed(self, status: int, reason: str, now: float) -> None:
        link = self.link
        self.link = None
        pool = self.pool
        server = self.server
        req = self.req
        if link is not None:
            link.exchange = None
            self.out.append(ReleaseBackend(link, reuse=False, abort=True))
        if (
            status == 502
            and self.resp is None
            and link is not None
            and link.uses > 1
            and not self.retried
            and req.framing is Framing.NONE
            and req.method in _IDEMPOTENT
            and pool is not None
            and server is not None
        ):
            # a reused keep-alive connection the server closed as we sent: retry once, fresh
            self.retried = True
            self.head_sent = False
            self.out.append(Connect(self, pool, server, fresh=True))
            return
        log.warning(
            "%s %s: pool %s server %s: %s",
            self.peer,
            req.method.decode("latin-1"),
            pool.name if pool is not None else "-",
            server.server.name if server is not None else "-",
            reason,
        )
        if self.resp is None:
            self._answer(answers.error(status, reason), now)
        else:
            self.abort(status, now)

    def on_deadline(self, now: float) -> None:
        """The deadline came due (``deadline.due(now)`` said so)."""
        if self.done:
            return
        slow = self.deadline.body_violation()
        if slow:
            # too slow a body (slowloris on the body): 408, and the backend connection that
            # got part of it is closed, never reused
            log.info("%s %s: %s: 408", self.peer, self.req.method.decode("latin-1"), slow)
            self.bad_request(408, slow, now)
            return
        if self.waiting:
            self.waiting = False
            d = self.dispatch
            assert d is not None
            self._decided(d.queue_expired(), now)
            return
        if self.resp is None and self.req_done and self.link is not None:
            self._backend_failed(504, "backend response timeout", now)
        elif self.resp is None and not self.req_done:
            self.abort(408, now)  # the client stopped sending its body
        else:
            self.abort(504, now)

    def abort(self, status: int, now: float) -> None:
        """Give up without a (complete) response: everything released, the status logged
        (the response's own if its head went out), and the client told."""
        if self.done:
            return
        link = self.link
        self.link = None
        if link is not None:
            link.exchange = None
            self.out.append(ReleaseBackend(link, reuse=False, abort=True))
        if self.resp is None:
            self.status = status
        self._finish(now)
        self.client.abort(self, now)

    def bad_request(self, status: int, reason: str, now: float) -> None:
        """The rest of the request turned out malformed (a broken chunked body, say): a
        backend connection that got part of it is closed, never reused, and the client
        gets ``status`` unless its response has begun."""
        if self.done:
            return
        link = self.link
        self.link = None
        if link is not None:
            link.exchange = None
            self.out.append(ReleaseBackend(link, reuse=False, abort=True))
        if self.resp is None:
            self._answer(answers.error(status, reason), now)
        else:
            self.abort(status, now)

    def client_gone(self, status: int, now: float) -> None:
        """The client left (499) before the exchange was done; nothing more is sent."""
        if self.done:
            return
        link = self.link
        self.link = None
        if link is not None:
            link.exchange = None
            self.out.append(ReleaseBackend(link, reuse=False, abort=True))
        if self.resp is None:
            self.status = status
        self._finish(now)

    # ---- finishing ----------------------------------------------------------------------

    def _answer(self, answer: Answer, now: float) -> None:
        """Answer from l7lb itself; the request body, if any, is discarded."""
        self.discard = True
        self.early.clear()
        self.status = answer.status
        self.bytes_sent = self.client.answer(self, answer)
        self._finish(now)
        self.client.end(self, now)

    def _finish(self, now: float, keep_server: bool = False) -> None:
        """Release the server slot (unless a tunnel keeps it) and log, once."""
        if self.done:
            return
        self.done = True
        self.waiting = False
        self.deadline.clear()
        if not keep_server:
            self.release_server()
        if self.rt.log_enabled:
            self.out.append(Log(self.record(now)))

    def release_server(self) -> None:
        """Give the server slot back (a tunnel's end calls it)."""
        server = self.server
        self.server = None
        if server is not None and self.pool is not None:
            self.pool.release(server)

    def record(self, now: float) -> AccessRecord:
        req = self.req
        referer = user_agent = b""
        for name, value in req.headers:
            if name == b"referer":
                referer = value
            elif name == b"user-agent":
                user_agent = value
        t_sent, t_head = self.t_sent, self.t_head
        pool = self.pool
        return AccessRecord(
            client=self.peer,
            method=req.method,
            target=req.target,
            version=req.version,
            status=self.status,
            bytes_sent=self.bytes_sent,
            referer=referer,
            user_agent=user_agent,
            host=req.host,
            vip=self.vip.name,
            pool=pool.name if pool is not None else "",
            server=self.server_name,
            # a response head that never came has no backend time (not "since the epoch")
            backend_ms=(t_head - t_sent) * 1000 if t_sent >= 0 and t_head >= 0 else -1.0,
            total_ms=(now - self.t0) * 1000,
        )
