"""An HTTP/2 client connection as a sans-IO object (RFC 9113): ``engine.Engine``.

``H2Connection`` reads the client's frames straight from its receive buffer, runs one
``Exchange`` per stream (many at once, each with its own backend connection from the
keep-alive pool, as HTTP/1.1 requests get), and writes frames back; each stream's rendering
is ``h2_stream.H2Stream``. The asyncio glue (``client.py``) drives it like ``H1Connection``:
bytes, time and ends in, commands out.

The connection reads the bytes and keeps its deadlines and its end; the rest is in helpers
it owns: ``h2_control`` (SETTINGS, PING, GOAWAY, PRIORITY), ``h2_requests`` (the frames on
streams), ``h2_block`` (a header block being assembled), ``h2_streams`` (the streams and how
each ends), ``h2_flow`` (the windows both ways). They report back through ``h2_host.Host``.

What a client may make it do is bounded, before the work is done:

* a frame longer than ``[http2] max_frame_size`` is refused from its 9-byte header; so is a
  header block past ``max_continuation_frames`` CONTINUATION frames or
  ``max_header_block_size`` bytes (GOAWAY ENHANCE_YOUR_CALM before the bytes are buffered);
* HPACK (``l7lb.http2.hpack``) keeps the decoded list within ``max_header_list_size``
  (431) and the dynamic table within ``header_table_size``;
* at most ``max_concurrent_streams`` streams hold work; one more is refused
  (RST_STREAM REFUSED_STREAM); a reset stream releases its exchange (and closes its
  backend connection unless the response had ended cleanly) at once;
* resets, PING, SETTINGS, empty DATA, WINDOW_UPDATE and PRIORITY frames are paid for from
  the token buckets of ``l7lb.http2.limits.Guard``; past one: GOAWAY ENHANCE_YOUR_CALM;
* request bodies: DATA is acknowledged only as the backend takes it (``credit``);
* response bodies: sent within the client's windows, buffered per stream (``H2Stream``),
  the connection window shared among the waiting streams a frame at a time.

Deadlines: the client preface and its SETTINGS within ``[timeouts] request_head``; a header
block within ``[http2] headers_timeout``; a connection without streams closes after
``[http2] idle_timeout``; output held by a closed window (or a full socket) for
``[timeouts] client_idle`` (checked twice, so one to two of them) ends the connection; each
exchange keeps its own (``Exchange.deadline``).

Draining (reload, SIGTERM): GOAWAY with the highest stream id, announced first with
2**31-1 and a PING so that requests already in flight are still taken (RFC 9113 6.8), then
the streams in progress finish and the connection closes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from l7lb.http2 import frames
from l7lb.http2.frames import (
    CONTINUATION,
    DATA,
    GOAWAY,
    HEADERS,
    PING,
    PRIORITY,
    PUSH_PROMISE,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
)
from l7lb.http2.hpack import Decoder
from l7lb.http2.limits import HEADERS_TIMEOUT, Guard
from l7lb.proxy.commands import CloseClient, Command, PauseClient, ResumeClient, ToClient
from l7lb.proxy.deadlines import NEVER
from l7lb.proxy.engine import Engine
from l7lb.proxy.flow import Pause
from l7lb.proxy.h2_block import OUT_OF_BLOCK, HeaderBlock
from l7lb.proxy.h2_control import DRAIN_PING, Control, announcement
from l7lb.proxy.h2_flow import Flow
from l7lb.proxy.h2_host import Host
from l7lb.proxy.h2_requests import Requests
from l7lb.proxy.h2_stream import H2Stream, Owner, Windows
from l7lb.proxy.h2_streams import Streams

if TYPE_CHECKING:
    from l7lb.limits.table import SourceEntry
    from l7lb.proxy.runtime import VipRuntime, WorkerRuntime

log: Final = logging.getLogger("l7lb.proxy")

_DRAIN_WAIT: Final = 1.0  # seconds to wait for the drain PING's ACK before the final GOAWAY


class H2Connection(Engine, Owner, Host):
    """The connection: its bytes, deadlines and end. What it reads goes to its helpers:
    ``Control`` (connection-level frames), ``Requests`` (frames on streams), ``Streams``
    (the streams and their ends), ``Flow`` (the windows), ``HeaderBlock``."""

    __slots__ = (
        "block",
        "buf",
        "closed",
        "control",
        "decoder",
        "drain_at",
        "draining",
        "flow",
        "goaway_final",
        "guard",
        "idle_at",
        "out",
        "peer",
        "preface",
        "preface_at",
        "requests",
        "settings",
        "settings_seen",
        "table",
        "win",
    )

    def __init__(
        self,
        rt: WorkerRuntime,
        vip: VipRuntime,
        peer: str,
        now: float,
        source: SourceEntry | None = None,
        out: list[Command] | None = None,
    ) -> None:
        s = rt.config.http2
        self.peer = peer
        self.settings = s
        self.out: list[Command] = [] if out is None else out
        # the connection's sending side, shared with its streams
        self.win = Windows(self.out, s.stream_buffer, now)
        self.buf = b""  # client bytes not parsed yet (at most one frame)
        self.preface = False  # the 24-byte client preface was read
        self.settings_seen = False  # ... and the SETTINGS frame after it
        # the HPACK table is 4096 bytes until the client applies our SETTINGS
        self.decoder = Decoder(max(s.header_table_size, 4096))
        self.guard = Guard(s, now)
        self.block = HeaderBlock(s)  # a header block in progress
        self.flow = Flow(self, self.win, self.guard, s, rt.timeouts.client_idle)
        self.control = Control(self, self.win, self.guard, self.decoder, s)
        self.table = Streams(self, self, self.win, self.guard, peer)
        self.requests = Requests(
            self,
            self,
            self.table,
            self.block,
            self.decoder,
            self.flow,
            self.guard,
            rt,
            vip,
            peer,
            source,
        )
        self.closed = False
        self.draining = False
        self.goaway_final = False
        # connection deadlines (NEVER when not running)
        self.preface_at = now + rt.timeouts.request_head
        self.idle_at = NEVER
        self.drain_at = NEVER
        self.out.append(ToClient(announcement(s)))
        if rt.draining:
            self.drain(now)

    def __repr__(self) -> str:
        return f"<H2Connection {self.peer} streams={len(self.table.streams)}>"

    @property
    def streams(self) -> dict[int, H2Stream]:
        """The streams that hold work, by id (``Streams.streams``)."""
        return self.table.streams

    # ---- events from the glue (engine.Engine) ----------------------------------------------

    def receive(self, data: bytes, now: float) -> None:
        """Bytes from the client."""
        self.win.now = now
        if self.closed:
            return
        buf = self.buf + data if self.buf else data
        pos = 0
        end = len(buf)
        if not self.preface:
            if end < 24:
                if frames.PREFACE[:end] != buf:
                    self.fail(frames.PROTOCOL_ERROR, "not an HTTP/2 client preface", now)
                    return
                self.buf = buf
                return
            if buf[:24] != frames.PREFACE:
                self.fail(frames.PROTOCOL_ERROR, "not an HTTP/2 client preface", now)
                return
            self.preface = True
            pos = 24
        max_frame = self.settings.max_frame_size
        block = self.block
        while end - pos >= 9:
            length = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2]
            kind = buf[pos + 3]
            flags = buf[pos + 4]
            sid = (
                ((buf[pos + 5] & 0x7F) << 24)
                | (buf[pos + 6] << 16)
                | (buf[pos + 7] << 8)
                | (buf[pos + 8])
            )
            if length > max_frame:
                self.fail(frames.FRAME_SIZE_ERROR, "frame larger than SETTINGS_MAX_FRAME_SIZE", now)
                break
            # a header block is judged from its frame headers, before its bytes are kept
            if block.sid or kind == HEADERS:
                refused = block.refuse(kind, sid, length)
                if refused == OUT_OF_BLOCK:
                    self.fail(frames.PROTOCOL_ERROR, refused, now)
                    break
                if refused:
                    self.calm(refused, now)
                    break
            if end - pos - 9 < length:
                break
            start = pos + 9
            pos = start + length
            payload = buf[start:pos]
            if not self.settings_seen:
                if kind != SETTINGS or flags & frames.ACK:
                    self.fail(frames.PROTOCOL_ERROR, "the client preface lacks SETTINGS", now)
                    break
                self.settings_seen = True
                self.preface_at = NEVER
                if not self.table.streams:
                    self.idle_at = now + self.settings.idle_timeout
            self._frame(kind, flags, sid, payload, now)
            if self.closed:
                break
        self.buf = buf[pos:] if pos < end and not self.closed else b""
        table = self.table
        if table.prune:
            table.prune_connects()

    def receive_eof(self, now: float) -> bool:
        """The client closed its side: nothing more can be asked or acknowledged."""
        return False

    def lost(self, now: float) -> None:
        """The connection is gone: every exchange still running is abandoned (499), then
        the parts let go of the connection (``_let_go``)."""
        self.win.now = now
        if not self.closed or self.table.streams:
            self.closed = True
            self._abandon_all(499, now)
        self._let_go()

    def client_full(self, full: bool) -> None:
        """The socket's write buffer crossed its high-water mark: stop reading (PING and
        SETTINGS would queue answers) and keep response bytes in the streams' buffers,
        whose backends pause in turn; resume both when it drains."""
        if self.closed or full == self.win.client_blocked:
            return
        self.win.client_blocked = full
        if full:
            self.out.append(PauseClient(Pause.CLIENT_FULL))
        else:
            self.out.append(ResumeClient(Pause.CLIENT_FULL))
            self._flush_all()

    def tunnel_closed(self) -> None:
        """Never: HTTP/2 streams do not tunnel."""

    def next_deadline(self) -> float:
        if self.closed:
            return NEVER
        when = self.preface_at
        for at in (self.block.at, self.idle_at, self.drain_at, self.flow.stall_at):
            if at < when:
                when = at
        return self.table.next_deadline(when)

    def on_timer(self, now: float) -> None:
        self.win.now = now
        if self.closed:
            return
        if now >= self.preface_at:
            self._goaway_close(frames.NO_ERROR, "client preface not received in time", now)
            return
        if now >= self.block.at:
            self.calm(HEADERS_TIMEOUT, now)
            return
        if now >= self.drain_at:
            self._final_goaway(now)
            if self.closed:
                return
        flow = self.flow
        if now >= flow.stall_at and flow.stalled(now):
            log.info("%s: HTTP/2 output blocked by the client's windows; closing", self.peer)
            self._goaway_close(frames.NO_ERROR, "flow control stalled", now)
            return
        if now >= self.idle_at and not self.table.streams:
            self._goaway_close(frames.NO_ERROR, "idle", now)
            return
        self.table.on_timer(now)

    def drain(self, now: float) -> None:
        """Stop taking new streams (reload, SIGTERM): GOAWAY 2**31-1 and a PING now, the
        final GOAWAY with the last stream id once the PING comes back (or after a second).
        Requests the client sent before it saw the first GOAWAY arrive before the PING's
        answer and are served, so a client that obeys GOAWAY loses none; that holds for an
        idle connection too, whose client may be sending a request this very moment."""
        self.win.now = now
        if self.closed or self.draining:
            return
        self.draining = True
        self.out.append(
            ToClient(frames.goaway(frames.MAX_STREAM_ID, frames.NO_ERROR) + frames.ping(DRAIN_PING))
        )
        self.drain_at = now + _DRAIN_WAIT

    # ---- frames ------------------------------------------------------------------------------

    def _frame(self, kind: int, flags: int, sid: int, payload: bytes, now: float) -> None:
        if kind == DATA:
            self.requests.data(flags, sid, payload, now)
        elif kind == HEADERS:
            self.requests.headers(flags, sid, payload, now)
        elif kind == CONTINUATION:
            self.requests.continuation(flags, sid, payload, now)
        elif kind == WINDOW_UPDATE:
            self._window_update(sid, payload, now)
        elif kind == RST_STREAM:
            self.requests.rst_stream(sid, payload, now)
        elif kind == SETTINGS:
            if self.control.settings_frame(flags, sid, payload, self.table.streams.values(), now):
                self._flush_all()
        elif kind == PING:
            # (the ACK of the drain PING: the client saw the first GOAWAY)
            drain_ack = self.control.ping(flags, sid, payload, now)
            if drain_ack and self.draining and not self.goaway_final:
                self._final_goaway(now)
        elif kind == PRIORITY:
            self.control.priority(sid, payload, now)
        elif kind == GOAWAY:
            if self.control.goaway(sid, payload, now):
                # the client opens no more streams; those in progress finish
                self.table.peer_goaway = True
                if not self.table.streams:
                    self._close()
        elif kind == PUSH_PROMISE:
            self.fail(frames.PROTOCOL_ERROR, "PUSH_PROMISE from a client", now)
        else:
            self.control.other(now)  # unknown frame types are ignored (RFC 9113 5.5)

    def _window_update(self, sid: int, payload: bytes, now: float) -> None:
        if len(payload) != 4:
            self.fail(frames.FRAME_SIZE_ERROR, "WINDOW_UPDATE of the wrong size", now)
            return
        limit = self.guard.window_update(now)
        if limit is not None:
            self.calm(limit, now)
            return
        inc = int.from_bytes(payload, "big") & 0x7FFFFFFF
        if sid != 0:
            self.requests.window_update(sid, inc, now)
        elif inc == 0:
            self.fail(frames.PROTOCOL_ERROR, "WINDOW_UPDATE of 0", now)
        elif not self.flow.grow(inc):
            self.fail(frames.FLOW_CONTROL_ERROR, "connection window over 2**31-1", now)
        else:
            self._flush_all()

    # ---- what a stream asks of its connection (h2_stream.Owner) ----------------------------

    def credit(self, stream: H2Stream | None, n: int) -> None:
        """``n`` bytes of DATA were taken (or dropped): hand them back (``Flow.credit``)."""
        if n <= 0 or self.closed:
            return
        self.flow.credit(stream, n)

    def data_sent(self) -> None:
        self.flow.data_sent()

    def send(self, stream: H2Stream) -> None:
        self.flow.send(stream)

    def finished(self, stream: H2Stream) -> None:
        self.table.finished(stream)

    def reset(self, stream: H2Stream, code: int, counted: bool) -> None:
        self.table.reset(stream, code, counted)

    def _flush_all(self) -> None:
        self.flow.flush(self.table.streams.values())

    # ---- what its helpers ask of it (h2_host.Host) --------------------------------------

    def stream_opened(self) -> None:
        self.idle_at = NEVER

    def stream_gone(self) -> None:
        if self.table.streams:
            return
        self.flow.unstall()
        if self.goaway_final or self.table.peer_goaway:
            self._close()
        else:
            self.idle_at = self.win.now + self.settings.idle_timeout

    def violation(self, limit: str, detail: str) -> None:
        if self.guard.first(limit):
            log.warning("%s: HTTP/2 %s: %s", self.peer, limit, detail)

    def calm(self, limit: str, now: float) -> None:
        """A limit broken: GOAWAY ENHANCE_YOUR_CALM, and the connection closed."""
        self.violation(limit, "GOAWAY ENHANCE_YOUR_CALM, connection closed")
        self._goaway_close(frames.ENHANCE_YOUR_CALM, limit, now)

    def fail(self, code: int, reason: str, now: float) -> None:
        """A connection error (RFC 9113 5.4.1)."""
        if self.guard.first("protocol error"):
            log.info("%s: HTTP/2 %s: %s", self.peer, frames.ERROR_NAMES.get(code, code), reason)
        self._goaway_close(code, reason, now)

    # ---- the end of the connection ------------------------------------------------------

    def _goaway_close(self, code: int, reason: str, now: float) -> None:
        if self.closed:
            return
        highest = self.table.highest
        self.out.append(ToClient(frames.goaway(highest, code, reason.encode("ascii", "replace"))))
        self.closed = True
        self._abandon_all(499, now)
        self.out.append(CloseClient(abort=False))

    def _final_goaway(self, now: float) -> None:
        self.drain_at = NEVER
        self.goaway_final = True
        table = self.table
        table.last_sid = table.highest
        self.out.append(ToClient(frames.goaway(table.highest, frames.NO_ERROR)))
        if not table.streams and not self.block.sid:
            self._close()

    def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.out.append(CloseClient(abort=False))

    def _let_go(self) -> None:
        """The parts keep the connection as their host and owner, a cycle that only the
        cyclic collector would free. Once the connection is gone they report to ``GONE``
        instead, which does nothing, and reference counting frees the connection when the
        glue drops it (tests/tls/test_connection_garbage.py)."""
        self.flow.owner = GONE
        self.control.host = GONE
        self.table.host = GONE
        self.table.owner = GONE
        self.requests.host = GONE
        self.requests.owner = GONE

    def _abandon_all(self, status: int, now: float) -> None:
        self.table.abandon(status, now)
        self.block.clear()
        self.flow.unstall()
        self.preface_at = self.idle_at = self.drain_at = NEVER


class _Gone(Owner, Host):
    """What the parts of a connection that is gone report to (``H2Connection._let_go``):
    nothing is left to act on, so nothing happens."""

    def send(self, stream: H2Stream) -> None:
        pass

    def credit(self, stream: H2Stream | None, n: int) -> None:
        pass

    def data_sent(self) -> None:
        pass

    def finished(self, stream: H2Stream) -> None:
        pass

    def reset(self, stream: H2Stream, code: int, counted: bool) -> None:
        pass

    def fail(self, code: int, reason: str, now: float) -> None:
        pass

    def calm(self, limit: str, now: float) -> None:
        pass

    def violation(self, limit: str, detail: str) -> None:
        pass

    def stream_opened(self) -> None:
        pass

    def stream_gone(self) -> None:
        pass


GONE: Final = _Gone()
