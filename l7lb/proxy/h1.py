"""An HTTP/1.1 client connection as a sans-IO object.

``H1Connection`` parses the client's bytes, runs one ``Exchange`` per request (pipelined
requests wait their turn and are answered in order), and renders what the exchange hands
back as HTTP/1.1: the response head spliced from the realserver's, re-chunked bodies, the
Connection field. It decides what happens to the connection: kept alive, closed after the
response, reset when a response is cut short, or turned into a tunnel after a 101.

States::

    HEAD --RequestHead--> ACTIVE --response and request complete--> IDLE --bytes--> HEAD
                            | 101                                      |
                            v                                          v
                          TUNNEL                                     CLOSED

Like the exchange it answers with commands in ``out`` (``commands``); the asyncio glue in
``client.py`` feeds it and carries them out.
"""

from __future__ import annotations

import logging
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
from l7lb.http.head_edit import Forwarding, HeadEdit, client_response
from l7lb.proxy import answers
from l7lb.proxy.answers import Answer
from l7lb.proxy.client_side import Client
from l7lb.proxy.commands import (
    CloseClient,
    Command,
    Log,
    PauseBackend,
    PauseClient,
    ReleaseBackend,
    ResumeBackend,
    ResumeClient,
    ToBackend,
    ToClient,
    Tunnel,
)
from l7lb.proxy.deadlines import NEVER, Deadline, Phase
from l7lb.proxy.engine import Engine
from l7lb.proxy.exchange import Exchange
from l7lb.proxy.flow import Pause
from l7lb.proxy.link import Requester

if TYPE_CHECKING:
    from l7lb.limits.table import SourceEntry
    from l7lb.proxy.link import BackendLink
    from l7lb.proxy.runtime import VipRuntime, WorkerRuntime

log: Final = logging.getLogger("l7lb.proxy")

HEAD: Final = 0
IDLE: Final = 1
ACTIVE: Final = 2
TUNNEL: Final = 3
CLOSED: Final = 4

# the queue when nothing waits: never extended, since receive() then takes the parser's list
_NO_EVENTS: Final[list[Event]] = []
_MAX_PENDING: Final = 16  # parsed events queued behind the active exchange
_MAX_EARLY_TUNNEL: Final = 65536  # client bytes held until an upgrade is answered
_CHUNK_END: Final = b"0\r\n\r\n"


class H1Connection(Engine, Client):
    def __init__(
        self,
        rt: WorkerRuntime,
        vip: VipRuntime,
        peer: str,
        now: float,
        source: SourceEntry | None = None,
    ) -> None:
        self.rt = rt
        self.vip = vip
        self.peer = peer
        self.source = source  # the client's [vip.limits] counters, if any
        self.out: list[Command] = []
        self.parser = rt.request_parser()
        # parsed events not yet acted on: pending[taken:] (a list and an index, not a deque:
        # compiled code extends and indexes a list directly, a deque's methods go by name)
        self.pending: list[Event] = _NO_EVENTS
        self.taken = 0
        self.state = HEAD
        self.deadline = Deadline(rt.timeouts)
        self.deadline.start(Phase.HEAD, now)
        self.ex: Exchange | None = None
        self.forwarding: Forwarding | None = None  # made once the connection is kept alive
        self.link: BackendLink | None = None  # the tunnel's, after a 101
        self.req_done = False
        self.resp_done = False
        self.close_after = False
        self.head_only = False  # the response carries no body (a HEAD request)
        self.chunked = False  # the response body is re-chunked toward the client
        self.version = b"1.1"  # the current request's
        self.upgrade_tail: bytes | None = None  # client bytes after an upgrade request
        self.pumping = False
        self.pipeline_paused = False

    # ---- events from the glue ------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> None:
        """Bytes from the client."""
        state = self.state
        if state == TUNNEL:
            if self.link is not None:
                self.out.append(ToBackend(self.link, data))
            return
        if state == CLOSED:
            return
        if self.upgrade_tail is not None:
            # after an upgrade request, before the backend's answer: raw bytes
            self.upgrade_tail += data
            if len(self.upgrade_tail) > _MAX_EARLY_TUNNEL:
                self.out.append(PauseClient(Pause.NO_BACKEND))
            return
        try:
            events = self.parser.feed(data)
        except ProtocolError as exc:
            self._protocol_error(exc, now)
            return
        ex = self.ex
        if ex is not None:
            ex.deadline.progress()
        if not events:
            if state == IDLE:
                self.state = HEAD
                self.deadline.start(Phase.HEAD, now)
            return
        if self.taken >= len(self.pending):  # nothing waits: the parser's new list is the queue
            self.pending = events
            self.taken = 0
        else:
            self.pending.extend(events)
        self._pump(now)

    def receive_eof(self, now: float) -> bool:
        """The client half-closed; True to keep the connection open to answer."""
        try:  # noqa: SIM105  # contextlib.suppress would cost a context manager
            self.parser.feed_eof()
        except ProtocolError:
            pass
        ex = self.ex
        if self.state == ACTIVE and ex is not None and not ex.done:
            if not self.req_done:
                ex.abort(499, now)  # the client gave up mid-request
                return False
            # a complete request, then half-close: answer it, then close
            self.close_after = True
            return True
        return False

    def lost(self, now: float) -> None:
        """The connection is gone (closed by either side, or reset)."""
        prev = self.state
        self.state = CLOSED
        self.deadline.clear()
        ex = self.ex
        if prev == TUNNEL:
            link = self.link
            self.link = None
            if link is not None:
                self.out.append(ReleaseBackend(link, reuse=False))
            if ex is not None:
                ex.release_server()
            return
        if ex is not None and not ex.done:
            ex.client_gone(499, now)

    def tunnel_closed(self) -> None:
        """The backend side of a tunnel closed: so does the client side."""
        self.link = None
        if self.ex is not None:
            self.ex.release_server()
        self._close()

    def client_full(self, full: bool) -> None:
        """The client's write buffer crossed its high-water mark (``full``) or came back."""
        if self.state == TUNNEL:
            if self.link is not None:
                self.out.append(PauseBackend(self.link) if full else ResumeBackend(self.link))
            return
        ex = self.ex
        if ex is not None and not ex.done:
            ex.client_full(full)

    def next_deadline(self) -> float:
        ex = self.ex
        if self.state == ACTIVE and ex is not None and not ex.done:
            return ex.deadline.when
        if self.state == TUNNEL or self.state == CLOSED:
            return NEVER
        return self.deadline.when

    def on_timer(self, now: float) -> None:
        """The time of ``next_deadline`` came."""
        ex = self.ex
        state = self.state
        if state == ACTIVE and ex is not None and not ex.done:
            if ex.deadline.due(now):
                ex.on_deadline(now)
            return
        if state == TUNNEL or state == CLOSED or not self.deadline.due(now):  # noqa: SIM109
            return
        if state == IDLE:
            self._close()
        elif state == HEAD:
            self.out.append(
                ToClient(
                    answers.render(
                        answers.error(408, "request head not received in time"),
                        keep_alive=False,
                        head_only=False,
                    )
                )
            )
            if self.rt.log_enabled:
                self.out.append(Log(self._bare_record(408, now)))
            self._close()

    # ---- requests -------------------------------------------------------------------------

    def _pump(self, now: float) -> None:
        if self.pumping:
            return
        self.pumping = True
        try:
            while True:
                pending = self.pending  # read again: a handler may have emptied it
                i = self.taken
                if i >= len(pending):
                    break
                state = self.state
                ev = pending[i]
                if type(ev) is Upgrade:
                    self.taken = i + 1
                    self._client_upgrade(ev.tail)
                elif state == HEAD or state == IDLE:  # noqa: SIM109  # no tuple per event
                    self.taken = i + 1
                    assert type(ev) is RequestHead
                    self._begin(ev, now)
                elif state == ACTIVE and not self.req_done:
                    self.taken = i + 1
                    self._request_event(ev, now)
                else:
                    break
            pending = self.pending
            taken = self.taken
            if taken >= len(pending):
                if taken:  # all taken: the events are let go until the next read
                    self.pending = _NO_EVENTS
                    self.taken = 0
            elif taken > _MAX_PENDING:  # a pipelining client never lets the list drain
                del pending[:taken]
                self.taken = 0
            if len(self.pending) - self.taken > _MAX_PENDING:
                if not self.pipeline_paused:
                    self.pipeline_paused = True
                    self.out.append(PauseClient(Pause.PIPELINE))
            elif self.pipeline_paused:
                self.pipeline_paused = False
                self.out.append(ResumeClient(Pause.PIPELINE))
        finally:
            self.pumping = False

    def _begin(self, head: RequestHead, now: float) -> None:
        self.deadline.clear()
        self.state = ACTIVE
        self.req_done = False
        self.resp_done = False
        self.chunked = False
        self.close_after = not head.keep_alive or self.rt.draining
        self.head_only = head.method == b"HEAD"
        self.version = head.version
        ex = Exchange(
            self, self.rt, self.vip, self.peer, head, now, self.out, self.source, self.forwarding
        )
        self.ex = ex
        ex.start(now)

    def _request_event(self, ev: Event, now: float) -> None:
        ex = self.ex
        assert ex is not None
        if type(ev) is Data:
            ex.body(ev.data, now)
        elif type(ev) is EndOfMessage:
            self.req_done = True
            ex.body_end(now)
            if self.resp_done:
                self._complete(now)

    def _client_upgrade(self, tail: bytes) -> None:
        # the request parser is finished: from here on the client sends raw bytes
        self.upgrade_tail = tail
        ex = self.ex
        if self.state != ACTIVE or ex is None or ex.discard or self.resp_done:
            self.close_after = True

    def _protocol_error(self, exc: ProtocolError, now: float) -> None:
        self.pending = _NO_EVENTS
        self.taken = 0
        self.close_after = True
        log.info("%s: bad request: %d %s", self.peer, exc.status, exc.reason)
        ex = self.ex
        if self.state == ACTIVE and ex is not None and not ex.done:
            self.req_done = True
            ex.bad_request(exc.status, exc.reason, now)
            return
        self.state = CLOSED
        page = answers.render(
            answers.error(exc.status, exc.reason), keep_alive=False, head_only=False
        )
        self.out.append(ToClient(page))
        self.out.append(CloseClient(abort=False))
        self.deadline.clear()

    # ---- the exchange's client side (exchange.Client) ---------------------------------------

    def head(self, ex: Requester, resp: ResponseHead, edit: HeadEdit) -> None:
        if not self.req_done or self.upgrade_tail is not None or self.rt.draining:
            # answered before the request was read, or the request parser is done
            self.close_after = True
        framing = resp.framing
        add = edit.add
        if framing is Framing.CHUNKED or framing is Framing.CLOSE:
            if self.version == b"1.1":
                # chunked to the client keeps the connection alive
                self.chunked = True
                add.append((b"transfer-encoding", b"chunked"))
            else:
                self.close_after = True
        if self.close_after:
            add.append((b"connection", b"close"))
        elif self.version == b"1.0":
            add.append((b"connection", b"keep-alive"))
        self.out.append(ToClient(client_response(resp, edit)))

    def info(self, ex: Requester, resp: ResponseHead, edit: HeadEdit) -> None:
        if self.version == b"1.1":  # an HTTP/1.0 client expects none (RFC 9110 15.2)
            self.out.append(ToClient(client_response(resp, edit)))

    def upgrade(self, ex: Requester, resp: ResponseHead, edit: HeadEdit, link: BackendLink) -> None:
        self.out.append(ToClient(client_response(resp, edit)))

    def tunnel(self, ex: Requester, tail: bytes, link: BackendLink) -> None:
        self.state = TUNNEL
        self.deadline.clear()
        self.link = link
        self.resp_done = True
        if tail:
            self.out.append(ToClient(tail))
        self.out.append(Tunnel(link))
        early = self.upgrade_tail
        self.upgrade_tail = None
        if early:
            self.out.append(ToBackend(link, early))
        self.out.append(ResumeClient(Pause.NO_BACKEND))

    def data(self, ex: Requester, data: bytes) -> None:
        if self.chunked:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self.out.append(ToClient(data))

    def end(self, ex: Requester, now: float) -> None:
        if self.chunked:
            self.out.append(ToClient(_CHUNK_END))
        self.resp_done = True
        if self.req_done or self.close_after:
            self._complete(now)

    def answer(self, ex: Requester, answer: Answer) -> int:
        active = self.ex
        assert active is not None
        req = active.req
        if req.framing is not Framing.NONE or req.upgrade or answer.closes:
            # a body we do not read (or an upgrade we refuse) leaves the connection unusable
            self.close_after = True
        page = answers.render(answer, keep_alive=not self.close_after, head_only=self.head_only)
        self.out.append(ToClient(page))
        return len(page)

    def abort(self, ex: Requester, now: float) -> None:
        self.state = CLOSED
        self.pending = _NO_EVENTS
        self.taken = 0
        self.deadline.clear()
        self.out.append(CloseClient(abort=True))

    def pause_body(self, ex: Requester, reason: Pause) -> None:
        self.out.append(PauseClient(reason))

    def resume_body(self, ex: Requester, reason: Pause) -> None:
        self.out.append(ResumeClient(reason))

    # ---- finishing ---------------------------------------------------------------------------

    def _complete(self, now: float) -> None:
        self.ex = None
        if self.close_after or self.state == CLOSED:
            self._close()
            return
        self.state = IDLE
        if self.forwarding is None:  # a second request may come: its fields can be reused
            self.forwarding = Forwarding()
        self.deadline.start(Phase.KEEPALIVE, now)
        if self.taken < len(self.pending):
            self._pump(now)

    def _close(self) -> None:
        self.state = CLOSED
        self.deadline.clear()
        self.out.append(CloseClient(abort=False))

    def _bare_record(self, status: int, now: float) -> AccessRecord:
        """The record of a request that never got a head through."""
        return AccessRecord(
            client=self.peer,
            method=b"-",
            target=b"-",
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
