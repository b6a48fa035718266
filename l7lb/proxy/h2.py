"""An HTTP/2 client connection as a sans-IO object (RFC 9113): ``engine.Engine``.

``H2Connection`` reads the client's frames straight from its receive buffer, runs one
``Exchange`` per stream (many at once, each with its own backend connection from the
keep-alive pool, as HTTP/1.1 requests get), and writes frames back; each stream's rendering
is ``h2_stream.H2Stream``. The asyncio glue (``client.py``) drives it like ``H1Connection``:
bytes, time and ends in, commands out.

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

from l7lb.http.events import Framing, ProtocolError
from l7lb.http2 import frames
from l7lb.http2.frames import (
    CONTINUATION,
    DATA,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    PADDED,
    PING,
    PRIORITY,
    PRIORITY_FLAG,
    PUSH_PROMISE,
    RST_STREAM,
    SETTINGS,
    WINDOW_UPDATE,
)
from l7lb.http2.hpack import Decoder, HpackError
from l7lb.http2.limits import (
    CONTINUATIONS,
    HEADER_BLOCK,
    HEADER_LIST,
    HEADERS_TIMEOUT,
    STREAMS,
    Guard,
)
from l7lb.http2.request import StreamError, request_head
from l7lb.proxy import answers
from l7lb.proxy.commands import (
    CloseClient,
    Command,
    Connect,
    PauseClient,
    ResumeBackend,
    ResumeClient,
    ToClient,
)
from l7lb.proxy.deadlines import NEVER
from l7lb.proxy.engine import Engine
from l7lb.proxy.exchange import Exchange
from l7lb.proxy.flow import Pause
from l7lb.proxy.h2_stream import H2Stream, Owner, Windows

if TYPE_CHECKING:
    from l7lb.limits.table import SourceEntry
    from l7lb.proxy.runtime import VipRuntime, WorkerRuntime

log: Final = logging.getLogger("l7lb.proxy")

_DRAIN_PING: Final = b"l7lb-gon"  # the PING that follows the first GOAWAY of a drain
_DRAIN_WAIT: Final = 1.0  # seconds to wait for its ACK before the final GOAWAY
_STATUS_MALFORMED: Final = 400  # the access-log status of a stream reset as malformed


class H2Connection(Engine, Owner):
    __slots__ = (
        "block_at",
        "block_end_stream",
        "block_frames",
        "block_parts",
        "block_sid",
        "block_size",
        "buf",
        "closed",
        "conn_credit",
        "decoder",
        "drain_at",
        "draining",
        "goaway_final",
        "guard",
        "highest",
        "idle_at",
        "last_sid",
        "out",
        "peer",
        "peer_goaway",
        "peer_window",
        "preface",
        "preface_at",
        "prune",
        "recv_window",
        "rt",
        "settings",
        "settings_seen",
        "source",
        "stall_at",
        "stall_seen",
        "streams",
        "vip",
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
        self.rt = rt
        self.vip = vip
        self.peer = peer
        self.source = source  # the client's [vip.limits] counters, if any
        self.settings = s
        self.out: list[Command] = [] if out is None else out
        # the connection's sending side, shared with its streams
        self.win = Windows(self.out, s.stream_buffer, now)
        self.buf = b""  # client bytes not parsed yet (at most one frame)
        self.preface = False  # the 24-byte client preface was read
        self.settings_seen = False  # ... and the SETTINGS frame after it
        self.streams: dict[int, H2Stream] = {}
        self.highest = 0  # the highest stream id the client opened
        self.last_sid = frames.MAX_STREAM_ID  # streams above it are ignored (after GOAWAY)
        # the HPACK table is 4096 bytes until the client applies our SETTINGS
        self.decoder = Decoder(max(s.header_table_size, 4096))
        self.guard = Guard(s, now)
        # a header block in progress (HEADERS without END_HEADERS, then CONTINUATION)
        self.block_sid = 0
        self.block_parts: list[bytes] = []
        self.block_size = 0
        self.block_frames = 0
        self.block_end_stream = False
        self.peer_window = frames.DEFAULT_WINDOW  # the client's SETTINGS_INITIAL_WINDOW_SIZE
        self.recv_window = s.connection_window_size
        self.conn_credit = 0
        self.closed = False
        self.draining = False
        self.goaway_final = False
        self.peer_goaway = False
        self.prune = False  # a stream was dropped: its Connect may still wait in ``out``
        # connection deadlines (NEVER when not running)
        self.preface_at = now + rt.timeouts.request_head
        self.block_at = NEVER
        self.idle_at = NEVER
        self.drain_at = NEVER
        self.stall_at = NEVER
        self.stall_seen = False  # the stall deadline came once with no progress
        pairs = [
            (frames.MAX_CONCURRENT_STREAMS, s.max_concurrent_streams),
            (frames.MAX_HEADER_LIST_SIZE, s.max_header_list_size),
        ]
        if s.initial_window_size != frames.DEFAULT_WINDOW:
            pairs.append((frames.INITIAL_WINDOW_SIZE, s.initial_window_size))
        if s.max_frame_size != frames.DEFAULT_FRAME_SIZE:
            pairs.append((frames.MAX_FRAME_SIZE, s.max_frame_size))
        if s.header_table_size != 4096:
            pairs.append((frames.HEADER_TABLE_SIZE, s.header_table_size))
        preface = frames.settings(pairs)
        if s.connection_window_size > frames.DEFAULT_WINDOW:
            preface += frames.window_update(0, s.connection_window_size - frames.DEFAULT_WINDOW)
        self.out.append(ToClient(preface))
        if rt.draining:
            self.drain(now)

    def __repr__(self) -> str:
        return f"<H2Connection {self.peer} streams={len(self.streams)}>"

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
                    self._fail(frames.PROTOCOL_ERROR, "not an HTTP/2 client preface", now)
                    return
                self.buf = buf
                return
            if buf[:24] != frames.PREFACE:
                self._fail(frames.PROTOCOL_ERROR, "not an HTTP/2 client preface", now)
                return
            self.preface = True
            pos = 24
        s = self.settings
        max_frame = s.max_frame_size
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
                self._fail(
                    frames.FRAME_SIZE_ERROR, "frame larger than SETTINGS_MAX_FRAME_SIZE", now
                )
                break
            # a header block is judged from its frame headers, before its bytes are kept
            if self.block_sid:
                if kind != CONTINUATION or sid != self.block_sid:
                    self._fail(frames.PROTOCOL_ERROR, "frame inside a header block", now)
                    break
                if self.block_frames >= s.max_continuation_frames:
                    self._calm(CONTINUATIONS, now)
                    break
                if self.block_size + length > s.max_header_block_size:
                    self._calm(HEADER_BLOCK, now)
                    break
            elif kind == HEADERS and length > s.max_header_block_size:
                self._calm(HEADER_BLOCK, now)
                break
            if end - pos - 9 < length:
                break
            start = pos + 9
            pos = start + length
            payload = buf[start:pos]
            if not self.settings_seen:
                if kind != SETTINGS or flags & frames.ACK:
                    self._fail(frames.PROTOCOL_ERROR, "the client preface lacks SETTINGS", now)
                    break
                self.settings_seen = True
                self.preface_at = NEVER
                if not self.streams:
                    self.idle_at = now + s.idle_timeout
            self._frame(kind, flags, sid, payload, now)
            if self.closed:
                break
        self.buf = buf[pos:] if pos < end and not self.closed else b""
        if self.prune:
            self._prune()

    def receive_eof(self, now: float) -> bool:
        """The client closed its side: nothing more can be asked or acknowledged."""
        return False

    def lost(self, now: float) -> None:
        """The connection is gone: every exchange still running is abandoned (499)."""
        self.win.now = now
        if self.closed and not self.streams:
            return
        self.closed = True
        self._abandon_all(499, now)

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
        for at in (self.block_at, self.idle_at, self.drain_at, self.stall_at):
            if at < when:
                when = at
        for stream in self.streams.values():
            ex = stream.ex
            if ex is not None and not ex.done:
                at = ex.deadline.when
                if at < when:
                    when = at
        return when

    def on_timer(self, now: float) -> None:
        self.win.now = now
        if self.closed:
            return
        if now >= self.preface_at:
            self._goaway_close(frames.NO_ERROR, "client preface not received in time", now)
            return
        if now >= self.block_at:
            self._calm(HEADERS_TIMEOUT, now)
            return
        if now >= self.drain_at:
            self._final_goaway(now)
            if self.closed:
                return
        if now >= self.stall_at:
            if not self.stall_seen:
                # (the deadline may have been set from a stale clock) once more, from now
                self.stall_seen = True
                self.stall_at = now + self.rt.timeouts.client_idle
            else:
                log.info("%s: HTTP/2 output blocked by the client's windows; closing", self.peer)
                self._goaway_close(frames.NO_ERROR, "flow control stalled", now)
                return
        if now >= self.idle_at and not self.streams:
            self._goaway_close(frames.NO_ERROR, "idle", now)
            return
        for stream in list(self.streams.values()):
            ex = stream.ex
            if ex is not None and not ex.done and ex.deadline.due(now):
                ex.on_deadline(now)

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
            ToClient(
                frames.goaway(frames.MAX_STREAM_ID, frames.NO_ERROR) + frames.ping(_DRAIN_PING)
            )
        )
        self.drain_at = now + _DRAIN_WAIT

    # ---- frames ------------------------------------------------------------------------------

    def _frame(self, kind: int, flags: int, sid: int, payload: bytes, now: float) -> None:
        if kind == DATA:
            self._data(flags, sid, payload, now)
        elif kind == HEADERS:
            self._headers(flags, sid, payload, now)
        elif kind == CONTINUATION:
            self._continuation(flags, sid, payload, now)
        elif kind == WINDOW_UPDATE:
            self._window_update(sid, payload, now)
        elif kind == RST_STREAM:
            self._rst_stream(sid, payload, now)
        elif kind == SETTINGS:
            self._settings(flags, sid, payload, now)
        elif kind == PING:
            self._ping(flags, sid, payload, now)
        elif kind == PRIORITY:
            if sid == 0:
                self._fail(frames.PROTOCOL_ERROR, "PRIORITY on stream 0", now)
            elif len(payload) != 5:
                self._fail(frames.FRAME_SIZE_ERROR, "PRIORITY frame of the wrong size", now)
            else:
                self._other(now)
        elif kind == GOAWAY:
            self._goaway(sid, payload, now)
        elif kind == PUSH_PROMISE:
            self._fail(frames.PROTOCOL_ERROR, "PUSH_PROMISE from a client", now)
        else:
            self._other(now)  # unknown frame types are ignored (RFC 9113 5.5), and paid for

    def _other(self, now: float) -> None:
        limit = self.guard.other_frame(now)
        if limit is not None:
            self._calm(limit, now)

    def _headers(self, flags: int, sid: int, payload: bytes, now: float) -> None:
        if sid == 0 or not sid & 1:
            self._fail(frames.PROTOCOL_ERROR, "HEADERS on an invalid stream id", now)
            return
        pos = 0
        end = len(payload)
        if flags & PADDED:
            if end < 1 or payload[0] >= end:
                self._fail(frames.PROTOCOL_ERROR, "invalid padding", now)
                return
            end -= payload[0]
            pos = 1
        if flags & PRIORITY_FLAG:
            if end - pos < 5:
                self._fail(frames.FRAME_SIZE_ERROR, "HEADERS too short for its priority", now)
                return
            pos += 5  # stream priorities are not used (RFC 9113 5.3.2)
        fragment = payload[pos:end] if pos or end < len(payload) else payload
        if flags & END_HEADERS:
            self._header_block(sid, fragment, bool(flags & END_STREAM), now)
            return
        self.block_sid = sid
        self.block_parts = [fragment]
        self.block_size = len(payload)
        self.block_frames = 0
        self.block_end_stream = bool(flags & END_STREAM)
        self.block_at = now + self.settings.headers_timeout

    def _continuation(self, flags: int, sid: int, payload: bytes, now: float) -> None:
        if not self.block_sid:
            self._fail(frames.PROTOCOL_ERROR, "CONTINUATION without HEADERS", now)
            return
        self.block_parts.append(payload)
        self.block_size += len(payload)
        self.block_frames += 1
        if flags & END_HEADERS:
            block = b"".join(self.block_parts)
            self.block_parts = []
            self.block_sid = 0
            self.block_at = NEVER
            self._header_block(sid, block, self.block_end_stream, now)

    def _header_block(self, sid: int, block: bytes, end_stream: bool, now: float) -> None:
        """A complete header block: a new stream's request, or trailers."""
        s = self.settings
        try:
            fields = self.decoder.decode(block, s.max_header_list_size)
        except HpackError as exc:
            self._fail(frames.COMPRESSION_ERROR, f"HPACK: {exc}", now)
            return
        stream = self.streams.get(sid)
        if stream is not None:
            self._trailers(stream, fields, end_stream, now)
            return
        if sid <= self.highest:
            # trailers for a stream already reset or finished: decoded (the HPACK table must
            # follow), then dropped; paid for as another frame
            self._other(now)
            return
        self.highest = sid
        if sid > self.last_sid or self.peer_goaway:
            return  # after our final GOAWAY: not processed (RFC 9113 6.8)
        guard = self.guard
        guard.stream_opened()
        if len(self.streams) >= s.max_concurrent_streams:
            self._violation(STREAMS, f"more than {s.max_concurrent_streams} streams")
            self.out.append(ToClient(frames.rst_stream(sid, frames.REFUSED_STREAM)))
            limit = guard.server_reset(now)
            if limit is not None:
                self._calm(limit, now)
            return
        stream = H2Stream(self, self.win, sid, self.peer_window, s.initial_window_size)
        stream.remote_closed = end_stream
        self.streams[sid] = stream
        self.idle_at = NEVER
        if self.decoder.oversized:
            self._violation(HEADER_LIST, f"a header list over {s.max_header_list_size} bytes")
            self._bare(stream, 431, "request header fields too large", now)
            return
        try:
            head = request_head(fields, end_stream, self.rt.limits)
        except StreamError as exc:
            self._bad_stream(stream, exc.code, exc.reason, now)
            return
        except ProtocolError as exc:
            self._bare(stream, exc.status, exc.reason, now)
            return
        if head.framing is Framing.LENGTH:
            stream.expected = head.content_length
        stream.head_only = head.method == b"HEAD"
        ex = Exchange(stream, self.rt, self.vip, self.peer, head, now, self.out, self.source)
        stream.ex = ex
        ex.start(now)
        if end_stream:
            ex.body_end(now)

    def _trailers(
        self, stream: H2Stream, fields: list[tuple[bytes, bytes]], end: bool, now: float
    ) -> None:
        """HEADERS on an open stream: the request's trailers. HTTP/1.1 backends get none
        (l7lb forwards no trailer fields), so they only end the body."""
        if stream.remote_closed:
            self._bad_stream(stream, frames.STREAM_CLOSED, "HEADERS after END_STREAM", now)
            return
        if not end:
            self._bad_stream(stream, frames.PROTOCOL_ERROR, "trailers without END_STREAM", now)
            return
        for name, _ in fields:
            if name[:1] == b":":
                self._bad_stream(stream, frames.PROTOCOL_ERROR, "pseudo-header in trailers", now)
                return
        self._body_end(stream, now)

    def _data(self, flags: int, sid: int, payload: bytes, now: float) -> None:
        if sid == 0:
            self._fail(frames.PROTOCOL_ERROR, "DATA on stream 0", now)
            return
        n = len(payload)
        if n > self.recv_window:
            self._fail(frames.FLOW_CONTROL_ERROR, "DATA beyond the connection window", now)
            return
        self.recv_window -= n
        body = payload
        if flags & PADDED:
            if n < 1 or payload[0] >= n:
                self._fail(frames.PROTOCOL_ERROR, "invalid padding", now)
                return
            body = payload[1 : n - payload[0]]
        end_stream = flags & END_STREAM
        if not body and not end_stream:
            limit = self.guard.empty_data_frame(now)
            if limit is not None:
                self._calm(limit, now)
                return
        stream = self.streams.get(sid)
        if stream is None:
            if sid > self.highest:
                self._fail(frames.PROTOCOL_ERROR, "DATA on an idle stream", now)
                return
            # a stream already reset or finished: the bytes still count against the
            # connection window (RFC 9113 6.9), so they are handed back
            self.credit(None, n)
            return
        if stream.remote_closed:
            self.credit(None, n)
            self._bad_stream(stream, frames.STREAM_CLOSED, "DATA after END_STREAM", now)
            return
        if n > stream.recv_window:
            self.credit(None, n)
            self._bad_stream(
                stream, frames.FLOW_CONTROL_ERROR, "DATA beyond the stream window", now
            )
            return
        stream.recv_window -= n
        size = len(body)
        received = stream.received + size
        stream.received = received
        expected = stream.expected
        if expected >= 0 and (received > expected or (end_stream and received != expected)):
            self.credit(None, n)
            self._bad_stream(stream, frames.PROTOCOL_ERROR, "DATA against content-length", now)
            return
        ex = stream.ex
        if ex is not None and not ex.done and not ex.discard:
            if size:
                ex.body(body, now)
            if stream.pauses:
                stream.held += size
                if n > size:
                    self.credit(stream, n - size)
            else:
                self.credit(stream, n)
        else:
            self.credit(stream, n)
        if end_stream:
            self._body_end(stream, now)

    def _body_end(self, stream: H2Stream, now: float) -> None:
        stream.remote_closed = True
        ex = stream.ex
        if ex is not None:
            ex.body_end(now)
        if stream.local_closed:
            self.finished(stream)

    def _window_update(self, sid: int, payload: bytes, now: float) -> None:
        if len(payload) != 4:
            self._fail(frames.FRAME_SIZE_ERROR, "WINDOW_UPDATE of the wrong size", now)
            return
        limit = self.guard.window_update(now)
        if limit is not None:
            self._calm(limit, now)
            return
        inc = int.from_bytes(payload, "big") & 0x7FFFFFFF
        if sid == 0:
            if inc == 0:
                self._fail(frames.PROTOCOL_ERROR, "WINDOW_UPDATE of 0", now)
                return
            self.win.send_window += inc
            if self.win.send_window > frames.MAX_WINDOW:
                self._fail(frames.FLOW_CONTROL_ERROR, "connection window over 2**31-1", now)
                return
            self._flush_all()
            return
        stream = self.streams.get(sid)
        if stream is None:
            if sid > self.highest:
                self._fail(frames.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream", now)
            return  # a closed stream: allowed, ignored
        if inc == 0:
            self._bad_stream(stream, frames.PROTOCOL_ERROR, "WINDOW_UPDATE of 0", now)
            return
        stream.send_window += inc
        if stream.send_window > frames.MAX_WINDOW:
            self._bad_stream(stream, frames.FLOW_CONTROL_ERROR, "stream window over 2**31-1", now)
            return
        if stream.buf_size:
            self.send(stream)

    def _rst_stream(self, sid: int, payload: bytes, now: float) -> None:
        if sid == 0:
            self._fail(frames.PROTOCOL_ERROR, "RST_STREAM on stream 0", now)
            return
        if len(payload) != 4:
            self._fail(frames.FRAME_SIZE_ERROR, "RST_STREAM of the wrong size", now)
            return
        if sid > self.highest:
            self._fail(frames.PROTOCOL_ERROR, "RST_STREAM on an idle stream", now)
            return
        stream = self.streams.get(sid)
        early = stream is not None and not stream.headers_sent
        if stream is not None:
            # the work is released at once: the backend request abandoned, its connection
            # closed unless the exchange had already ended cleanly
            stream.local_closed = True
            stream.remote_closed = True
            self._drop(stream, 499, now)
        limit = self.guard.client_reset(early, now)
        if limit is not None:
            self._calm(limit, now)

    def _settings(self, flags: int, sid: int, payload: bytes, now: float) -> None:
        if sid != 0:
            self._fail(frames.PROTOCOL_ERROR, "SETTINGS on a stream", now)
            return
        n = len(payload)
        if flags & frames.ACK:
            if n:
                self._fail(frames.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload", now)
                return
            self._settings_acked()
            return
        if n % 6:
            self._fail(frames.FRAME_SIZE_ERROR, "SETTINGS of the wrong size", now)
            return
        limit = self.guard.settings_frame(now)
        if limit is not None:
            self._calm(limit, now)
            return
        grown = False
        for i in range(0, n, 6):
            ident = (payload[i] << 8) | payload[i + 1]
            value = int.from_bytes(payload[i + 2 : i + 6], "big")
            if ident == frames.INITIAL_WINDOW_SIZE:
                if value > frames.MAX_WINDOW:
                    self._fail(frames.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE over 2**31-1", now)
                    return
                delta = value - self.peer_window
                self.peer_window = value
                for stream in self.streams.values():
                    stream.send_window += delta
                    if stream.send_window > frames.MAX_WINDOW:
                        self._fail(frames.FLOW_CONTROL_ERROR, "a stream window over 2**31-1", now)
                        return
                grown = grown or delta > 0
            elif ident == frames.MAX_FRAME_SIZE:
                if not frames.DEFAULT_FRAME_SIZE <= value <= frames.MAX_FRAME_SIZE_LIMIT:
                    self._fail(frames.PROTOCOL_ERROR, "invalid MAX_FRAME_SIZE", now)
                    return
                self.win.peer_max_frame = value
            elif ident == frames.ENABLE_PUSH and value > 1:
                self._fail(frames.PROTOCOL_ERROR, "invalid ENABLE_PUSH", now)
                return
            # HEADER_TABLE_SIZE: l7lb's encoder keeps no dynamic table; the others
            # (MAX_CONCURRENT_STREAMS, MAX_HEADER_LIST_SIZE, unknown ones) change nothing here
        self.out.append(ToClient(frames.SETTINGS_ACK))
        if grown:
            self._flush_all()

    def _settings_acked(self) -> None:
        """The client applied l7lb's SETTINGS: from now on its HPACK table is at most what
        was advertised, and a smaller one must be announced by a size update."""
        decoder = self.decoder
        size = self.settings.header_table_size
        if decoder.settings_size != size:
            decoder.limit(size)

    def _ping(self, flags: int, sid: int, payload: bytes, now: float) -> None:
        if sid != 0:
            self._fail(frames.PROTOCOL_ERROR, "PING on a stream", now)
            return
        if len(payload) != 8:
            self._fail(frames.FRAME_SIZE_ERROR, "PING of the wrong size", now)
            return
        if flags & frames.ACK:
            if payload == _DRAIN_PING and self.draining and not self.goaway_final:
                self._final_goaway(now)
            return
        limit = self.guard.ping(now)
        if limit is not None:
            self._calm(limit, now)
            return
        self.out.append(ToClient(frames.ping_ack(payload)))

    def _goaway(self, sid: int, payload: bytes, now: float) -> None:
        if sid != 0:
            self._fail(frames.PROTOCOL_ERROR, "GOAWAY on a stream", now)
            return
        if len(payload) < 8:
            self._fail(frames.FRAME_SIZE_ERROR, "GOAWAY too short", now)
            return
        # the client opens no more streams; those in progress finish
        self.peer_goaway = True
        if not self.streams:
            self._close()

    # ---- flow control ------------------------------------------------------------------------

    def credit(self, stream: H2Stream | None, n: int) -> None:
        """``n`` bytes of DATA were taken (or dropped): hand them back to the client, in
        WINDOW_UPDATE frames once half a window is due."""
        if n <= 0 or self.closed:
            return
        s = self.settings
        credit = self.conn_credit + n
        if credit >= s.connection_window_size >> 1:
            self.out.append(ToClient(frames.window_update(0, credit)))
            self.recv_window += credit
            credit = 0
        self.conn_credit = credit
        if stream is not None and not stream.remote_closed:
            credit = stream.credit + n
            if credit >= s.initial_window_size >> 1:
                self.out.append(ToClient(frames.window_update(stream.sid, credit)))
                stream.recv_window += credit
                credit = 0
            stream.credit = credit

    def data_sent(self) -> None:
        """A DATA frame went out: the client earns a WINDOW_UPDATE, and is not stalling."""
        self.guard.data_sent()
        if self.stall_at != NEVER:
            self.stall_at = NEVER
            self.stall_seen = False

    def send(self, stream: H2Stream) -> None:
        """As much of ``stream``'s buffered response as the windows allow."""
        out: list[bytes] = []
        while True:
            frame = stream.next_frame()
            if not frame:
                break
            out.append(frame)
            self.data_sent()
        if out:
            self.out.append(ToClient(out[0] if len(out) == 1 else b"".join(out)))
        self._after_send(stream)

    def _after_send(self, stream: H2Stream) -> None:
        link = stream.paused_link
        if link is not None and stream.buf_size <= self.settings.stream_buffer >> 1:
            ex = stream.ex
            if ex is not None and ex.link is link:
                stream.paused_link = None
                self.out.append(ResumeBackend(link))
        if stream.buf_size:
            if self.stall_at == NEVER:
                self.stall_at = self.win.now + self.rt.timeouts.client_idle
        elif stream.local_closed:
            self.finished(stream)

    def _flush_all(self) -> None:
        """A window opened (or the socket drained): the waiting streams share it, one frame
        each in turn, so one slow stream does not hold the others back."""
        waiting = [s for s in self.streams.values() if s.buf_size]
        if not waiting:
            return
        out: list[bytes] = []
        turn = waiting
        while turn:
            sent: list[H2Stream] = []
            for stream in turn:
                frame = stream.next_frame()
                if frame:
                    out.append(frame)
                    self.data_sent()
                    if stream.buf_size:
                        sent.append(stream)
            turn = sent
        if out:
            self.out.append(ToClient(b"".join(out)))
        for stream in waiting:
            self._after_send(stream)

    # ---- ends of streams -----------------------------------------------------------------

    def finished(self, stream: H2Stream) -> None:
        """The stream's response is out (END_STREAM sent): once its exchange is done too,
        the stream is closed. A request body still coming is refused with RST_STREAM
        NO_ERROR (RFC 9113 8.1): the response did not need it."""
        ex = stream.ex
        if not stream.local_closed or (ex is not None and not ex.done):
            return
        if self.streams.get(stream.sid) is not stream:
            return
        if not stream.remote_closed:
            stream.remote_closed = True
            self.out.append(ToClient(frames.rst_stream(stream.sid, frames.NO_ERROR)))
            if stream.held:
                self.credit(None, stream.held)
                stream.held = 0
        del self.streams[stream.sid]
        stream.ex = None  # (the exchange is done: no reference cycle left for the collector)
        self._stream_gone()

    def reset(self, stream: H2Stream, code: int, counted: bool) -> None:
        """End ``stream`` with RST_STREAM ``code``; ``counted``: the client provoked it, and
        pays for it from the reset budget."""
        if self.streams.get(stream.sid) is not stream:
            return
        if not (stream.local_closed and stream.remote_closed):
            self.out.append(ToClient(frames.rst_stream(stream.sid, code)))
        stream.local_closed = True
        stream.remote_closed = True
        self._drop(stream, 499, self.win.now)
        if counted:
            limit = self.guard.server_reset(self.win.now)
            if limit is not None:
                self._calm(limit, self.win.now)

    def _bad_stream(self, stream: H2Stream, code: int, reason: str, now: float) -> None:
        """A stream error the client caused (a malformed request, a flow-control or a
        content-length violation): logged once per connection, counted as a reset."""
        if self.guard.first("malformed request"):
            log.info("%s: HTTP/2 stream %d: %s", self.peer, stream.sid, reason)
        ex = stream.ex
        if ex is not None and not ex.done:
            ex.client_gone(_STATUS_MALFORMED, now)
        self.reset(stream, code, counted=True)

    def _bare(self, stream: H2Stream, status: int, reason: str, now: float) -> None:
        """Answer ``status`` on a stream refused before an exchange could be made (the
        request head failed the HTTP/1.1 rules, or was too large)."""
        if self.guard.first("bad request"):
            log.info(
                "%s: HTTP/2 stream %d: bad request: %d %s", self.peer, stream.sid, status, reason
            )
        stream.answer(None, answers.error(status, reason))
        if stream.local_closed:
            self.finished(stream)

    def _drop(self, stream: H2Stream, status: int, now: float) -> None:
        """Forget ``stream`` now: its exchange (if still running) is abandoned with
        ``status``, its buffers dropped, its held window handed back."""
        ex = stream.ex
        if ex is not None and not ex.done:
            ex.client_gone(status, now)
            self.prune = True
        stream.paused_link = None  # the exchange closed it
        stream.drop_buffer()
        if stream.held:
            self.credit(None, stream.held)
            stream.held = 0
        if self.streams.get(stream.sid) is stream:
            del self.streams[stream.sid]
            stream.ex = None
            self._stream_gone()

    def _prune(self) -> None:
        """A stream opened and reset in one read (rapid reset) asked for a backend
        connection nobody will use: the request never reached a backend, so none is made."""
        self.prune = False
        out = self.out
        keep = [c for c in out if type(c) is not Connect or not c.exchange.done]
        if len(keep) != len(out):
            out[:] = keep

    def _stream_gone(self) -> None:
        if self.streams:
            return
        self.stall_at = NEVER
        self.stall_seen = False
        if self.goaway_final or self.peer_goaway:
            self._close()
        else:
            self.idle_at = self.win.now + self.settings.idle_timeout

    # ---- the end of the connection ------------------------------------------------------

    def _violation(self, limit: str, detail: str) -> None:
        if self.guard.first(limit):
            log.warning("%s: HTTP/2 %s: %s", self.peer, limit, detail)

    def _calm(self, limit: str, now: float) -> None:
        """A limit broken: GOAWAY ENHANCE_YOUR_CALM, and the connection closed."""
        self._violation(limit, "GOAWAY ENHANCE_YOUR_CALM, connection closed")
        self._goaway_close(frames.ENHANCE_YOUR_CALM, limit, now)

    def _fail(self, code: int, reason: str, now: float) -> None:
        """A connection error (RFC 9113 5.4.1)."""
        if self.guard.first("protocol error"):
            log.info("%s: HTTP/2 %s: %s", self.peer, frames.ERROR_NAMES.get(code, code), reason)
        self._goaway_close(code, reason, now)

    def _goaway_close(self, code: int, reason: str, now: float) -> None:
        if self.closed:
            return
        self.out.append(
            ToClient(frames.goaway(self.highest, code, reason.encode("ascii", "replace")))
        )
        self.closed = True
        self._abandon_all(499, now)
        self.out.append(CloseClient(abort=False))

    def _final_goaway(self, now: float) -> None:
        self.drain_at = NEVER
        self.goaway_final = True
        self.last_sid = self.highest
        self.out.append(ToClient(frames.goaway(self.highest, frames.NO_ERROR)))
        if not self.streams and not self.block_sid:
            self._close()

    def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.out.append(CloseClient(abort=False))

    def _abandon_all(self, status: int, now: float) -> None:
        streams = list(self.streams.values())
        self.streams.clear()
        for stream in streams:
            ex = stream.ex
            if ex is not None and not ex.done:
                ex.client_gone(status, now)
                self.prune = True
            stream.ex = None
            stream.drop_buffer()
        self.block_parts = []
        self.block_sid = 0
        self.preface_at = self.block_at = self.idle_at = self.drain_at = self.stall_at = NEVER
