"""One request and its response, as a sans-IO object.

An ``Exchange`` is made for each request head a client connection parses (HTTP/1.1, or an
HTTP/2 stream). It routes the request, dispatches it (``dispatch.Dispatch``), sends the head
and the body to a backend connection (``link.BackendLink``), parses the response, and hands
it to its client side (``client_side.Client``) as a head edit, body bytes and an end, which
that side renders for its protocol; it keeps the access record's timings. Events come as
method calls; what it wants done is appended to ``out`` as commands (``commands``). No
socket, no clock, no event loop: ``now`` is the loop's time (the runtime derives wall time).

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
from typing import TYPE_CHECKING, Final

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
from l7lb.http.head_edit import Forwarding, backend_head, response_edit
from l7lb.proxy import answers
from l7lb.proxy.answers import Answer
from l7lb.proxy.body import BodyRelay
from l7lb.proxy.client_side import Client
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
from l7lb.proxy.deadlines import Deadline, Phase
from l7lb.proxy.dispatch import (
    AnswerLocally,
    AskSupervisor,
    Decision,
    Dispatch,
    UseServer,
    WaitForSlot,
    admit,
)
from l7lb.proxy.flow import Pause
from l7lb.proxy.link import Requester
from l7lb.proxy.tally import Tally

if TYPE_CHECKING:
    from l7lb.balancing import ServerState
    from l7lb.limits.table import SourceEntry
    from l7lb.proxy.link import BackendLink
    from l7lb.proxy.runtime import PoolRuntime, VipRuntime, WorkerRuntime

log: Final = logging.getLogger("l7lb.proxy")

_IDEMPOTENT: Final = frozenset((b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"))


class Exchange(Requester):
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
        forwarding: Forwarding | None = None,
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
        if rt.body_watch and req.framing is not Framing.NONE:  # body_min_rate, body_deadline
            self.deadline.watch_request_body(now, req.expect_continue)
        self.source = source  # the client's [vip.limits] counters, if any
        self.forwarding = forwarding  # the connection's memo of its forwarding fields, if any
        self.req_done = False  # the client has sent the whole request
        self.done = False  # answered (or given up) and logged
        self.discard = False  # the request body is read and dropped (a local answer)
        self.waiting = False  # queued for a server slot
        self.head_sent = False
        self.retried = False
        self.relay = BodyRelay(req.framing is Framing.CHUNKED)  # the body's way out
        self.resp: ResponseHead | None = None
        self.status = 0
        self.tally = Tally(now, len(req.raw))  # bytes and times, for the log and /metrics

    # ---- the request ------------------------------------------------------------------

    def start(self, now: float) -> None:
        d, first, self.target = admit(self.rt, self.vip, self.req, self.peer, self.source, now)
        self.dispatch = d
        self.pool = d.pool if d is not None else None
        self._decided(first, now)

    def body(self, data: bytes, now: float) -> None:
        """Request body bytes, decoded."""
        self.tally.bytes_in += len(data)
        if self.discard or not data or self.done:
            return
        self.deadline.body_progress(len(data), now)
        self._forward(self.relay.frame(data))

    def _forward(self, data: bytes) -> None:
        """Body bytes, framed, to the backend once it has the head; held until then."""
        link = self.link
        if link is not None and self.head_sent:
            self.out.append(ToBackend(link, data))
        elif self.relay.hold(data):
            self._body_paused(Pause.NO_BACKEND, True)

    def body_end(self, now: float) -> None:
        """The client has sent the whole request."""
        self.req_done = True
        self.deadline.body_done()
        if self.discard or self.done:
            return
        ending = self.relay.end()
        if ending:
            self._forward(ending)
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
            if self.dispatch is not None:
                self.pool = self.dispatch.pool  # a fallback pool's sorry page is that pool's
            self._answer(d.answer, now)
        elif isinstance(d, AskSupervisor):
            self.out.append(Claim(self, d.table, d.key, d.proposal))
        else:
            assert isinstance(d, WaitForSlot)
            self.pool = d.pool
            self.waiting = True
            self.tally.queued(now)
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
        self.tally.t_dequeued = now
        self.deadline.clear()
        self._decided(d.slot_freed(now, self.rt.wall(now)), now)

    def connect_failed(self, server: ServerState, reason: str, now: float) -> None:
        d = self.dispatch
        if self.pool is not None:
            self.pool.connect_failed(server, reason, now)  # logged; passive health counts it
        if self.done or self.server is not server or d is None:
            return  # the client left meanwhile
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
        st, d, rt = pool.stickiness, self.dispatch, self.rt
        head = backend_head(
            req,
            self.target,
            client_ip=self.peer,
            scheme=self.vip.scheme,
            via=rt.via,
            forwarded=rt.forwarded,
            server_host=b"" if req.host else link.server.server.address.authority,
            cookies=st.request_cookies(d.cookies(), d.sticky) if st and d else None,
            memo=self.forwarding,
        )
        self.head_sent = True
        if self.relay.held:
            self.out.append(ToBackend(link, head + self.relay.release()))
            self._body_paused(Pause.NO_BACKEND, False)
        else:
            self.out.append(ToBackend(link, head))
        self.tally.t_sent = now
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
            self._backend_failed(502, f"{exc.reason} ({error})" if error else exc.reason, now)
            return
        self._response_events(events, link, now)
        if self._holds(link):  # mypy still narrows self.link from the check above
            self._backend_failed(502, "connection closed by server", now)

    def _holds(self, link: BackendLink) -> bool:
        return self.link is link  # a method: compiled code re-reads the optional field

    def backend_full(self, full: bool) -> None:
        """The backend's write buffer went above (or back under) its high-water mark."""
        self._body_paused(Pause.BACKEND_FULL, full)

    def _body_paused(self, reason: Pause, paused: bool) -> None:
        """l7lb stops (or resumes) reading the body: the body watch does not count it."""
        self.deadline.body_paused(reason, paused)
        (self.client.pause_body if paused else self.client.resume_body)(self, reason)

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
                    self.tally.bytes_sent += len(data)
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
        self.tally.t_head = now
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
                head.fields, server, self.dispatch.sticky, self.vip.secure, self.rt.wall(now), edit
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

    def _drop_link(self) -> BackendLink | None:
        """Let the backend connection go, reset: it may hold part of a message."""
        link = self.link
        self.link = None
        if link is not None:
            link.exchange = None
            self.out.append(ReleaseBackend(link, reuse=False, abort=True))
        return link

    def _backend_failed(self, status: int, reason: str, now: float) -> None:
        link = self._drop_link()
        pool, server, req = self.pool, self.server, self.req
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
        where = f"pool {pool.name if pool is not None else '-'} server {self.server_name or '-'}"
        log.warning("%s %s: %s: %s", self.peer, req.method.decode("latin-1"), where, reason)
        self._fail(status, reason, now)

    def _fail(self, status: int, reason: str, now: float) -> None:
        """An error answer, or a reset when the response has begun."""
        if self.resp is None:
            self._answer(answers.error(status, reason), now)
        else:
            self.abort(status, now)

    def on_deadline(self, now: float) -> None:
        """The deadline came due (``deadline.due(now)`` said so)."""
        if self.done:
            return
        slow = self.deadline.body_violation()
        if slow:  # slowloris on the body: 408; a backend that got part of it is closed
            log.info("%s %s: %s: 408", self.peer, self.req.method.decode("latin-1"), slow)
            self.bad_request(408, slow, now)
            return
        if self.waiting:
            self.waiting = False
            self.tally.t_dequeued = now
            d = self.dispatch
            assert d is not None
            self._decided(d.queue_expired(), now)
        elif self.resp is None and self.req_done and self.link is not None:
            self._backend_failed(504, "backend response timeout", now)
        else:  # the client stopped sending its body (408), or the response stalled
            self.abort(408 if self.resp is None and not self.req_done else 504, now)

    def abort(self, status: int, now: float) -> None:
        """Give up without a (complete) response: everything released, the status logged
        (the response's own if its head went out), and the client told."""
        if not self.done:
            self.client_gone(status, now)
            self.client.abort(self, now)

    def bad_request(self, status: int, reason: str, now: float) -> None:
        """The rest of the request turned out malformed (a broken chunked body, say): a
        backend connection that got part of it is closed, never reused, and the client
        gets ``status`` unless its response has begun."""
        if not self.done:
            self._drop_link()
            self._fail(status, reason, now)

    def client_gone(self, status: int, now: float) -> None:
        """The client left (499) before the exchange was done; nothing more is sent."""
        if self.done:
            return
        self._drop_link()
        if self.resp is None:
            self.status = status
        self._finish(now)

    # ---- finishing ----------------------------------------------------------------------

    def _answer(self, answer: Answer, now: float) -> None:
        """Answer from l7lb itself; the request body, if any, is discarded."""
        self.discard = True
        self.relay.drop()
        self.status = answer.status
        self.tally.bytes_sent = self.client.answer(self, answer)
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
        pool = self.pool
        if self.rt.log_enabled:
            name = pool.name if pool is not None else ""
            record = self.tally.record(
                self.req, self.peer, self.vip.name, name, self.server_name, self.status, now
            )
            self.out.append(Log(record))
        metrics = self.rt.metrics
        if metrics is not None:  # counted in l7lb.metrics.counters
            counters = pool.counters if pool is not None else None
            self.tally.report(metrics, self.vip.name, counters, self.server_name, self.status, now)

    def release_server(self) -> None:
        """Give the server slot back (a tunnel's end calls it)."""
        server = self.server
        self.server = None
        if server is not None and self.pool is not None:
            self.pool.release(server)
