"""What an HTTP/2 client sends on its streams: requests, and the streams' own control frames.

``Requests`` reads the frames addressed to a stream: HEADERS and CONTINUATION (a header
block, ``h2_block.HeaderBlock``, decoded by HPACK: a new stream's request, or its trailers),
DATA (the request body, within the windows of ``h2_flow.Flow``), RST_STREAM and a stream's
WINDOW_UPDATE. A new stream gets an ``Exchange`` at once, unless ``[http2]
max_concurrent_streams`` streams already hold work (RST_STREAM REFUSED_STREAM) or its head
is refused (431 for a header list too large, 400 and the like for the HTTP/1.1 rules, a
reset for a malformed request, RFC 9113 8.1.1). Errors of the connection go to its ``Host``;
those of one stream end that stream only (``h2_streams.Streams``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from l7lb.http.events import Framing, ProtocolError
from l7lb.http2 import frames
from l7lb.http2.frames import END_HEADERS, END_STREAM, PADDED, PRIORITY_FLAG
from l7lb.http2.hpack import Decoder, HpackError
from l7lb.http2.limits import HEADER_LIST, STREAMS, Guard
from l7lb.http2.request import StreamError, request_head
from l7lb.proxy.commands import ToClient
from l7lb.proxy.exchange import Exchange
from l7lb.proxy.h2_block import HeaderBlock
from l7lb.proxy.h2_flow import Flow
from l7lb.proxy.h2_host import Host
from l7lb.proxy.h2_stream import H2Stream, Owner
from l7lb.proxy.h2_streams import Streams

if TYPE_CHECKING:
    from l7lb.limits.table import SourceEntry
    from l7lb.proxy.runtime import VipRuntime, WorkerRuntime


class Requests:
    __slots__ = (
        "block",
        "decoder",
        "flow",
        "guard",
        "host",
        "owner",
        "peer",
        "rt",
        "settings",
        "source",
        "table",
        "vip",
        "win",
    )

    def __init__(
        self,
        host: Host,
        owner: Owner,
        table: Streams,
        block: HeaderBlock,
        decoder: Decoder,
        flow: Flow,
        guard: Guard,
        rt: WorkerRuntime,
        vip: VipRuntime,
        peer: str,
        source: SourceEntry | None,
    ) -> None:
        self.host = host  # the connection: its errors, idle or not
        self.owner = owner  # the connection as its streams see it
        self.table = table
        self.block = block
        self.decoder = decoder
        self.flow = flow
        self.guard = guard
        self.win = table.win
        self.rt = rt
        self.vip = vip
        self.peer = peer
        self.source = source  # the client's [vip.limits] counters, if any
        self.settings = rt.config.http2

    # ---- request heads and trailers ----------------------------------------------------------

    def headers(self, flags: int, sid: int, payload: bytes, now: float) -> None:
        if sid == 0 or not sid & 1:
            self.host.fail(frames.PROTOCOL_ERROR, "HEADERS on an invalid stream id", now)
            return
        pos = 0
        end = len(payload)
        if flags & PADDED:
            if end < 1 or payload[0] >= end:
                self.host.fail(frames.PROTOCOL_ERROR, "invalid padding", now)
                return
            end -= payload[0]
            pos = 1
        if flags & PRIORITY_FLAG:
            if end - pos < 5:
                self.host.fail(frames.FRAME_SIZE_ERROR, "HEADERS too short for its priority", now)
                return
            pos += 5  # stream priorities are not used (RFC 9113 5.3.2)
        fragment = payload[pos:end] if pos or end < len(payload) else payload
        if flags & END_HEADERS:
            self._header_block(sid, fragment, bool(flags & END_STREAM), now)
            return
        self.block.start(sid, fragment, len(payload), bool(flags & END_STREAM), now)

    def continuation(self, flags: int, sid: int, payload: bytes, now: float) -> None:
        block = self.block
        if not block.sid:
            self.host.fail(frames.PROTOCOL_ERROR, "CONTINUATION without HEADERS", now)
            return
        block.add(payload)
        if flags & END_HEADERS:
            end_stream = block.end_stream
            self._header_block(sid, block.take(), end_stream, now)

    def _header_block(self, sid: int, block: bytes, end_stream: bool, now: float) -> None:
        """A complete header block: a new stream's request, or trailers."""
        s = self.settings
        try:
            fields = self.decoder.decode(block, s.max_header_list_size)
        except HpackError as bad_block:  # (one name per type: compiled, a name has one type)
            self.host.fail(frames.COMPRESSION_ERROR, f"HPACK: {bad_block}", now)
            return
        table = self.table
        stream = table.streams.get(sid)
        if stream is not None:
            self._trailers(stream, fields, end_stream, now)
            return
        if sid <= table.highest:
            # trailers for a stream already reset or finished: decoded (the HPACK table must
            # follow), then dropped; paid for as another frame
            limit = self.guard.other_frame(now)
            if limit is not None:
                self.host.calm(limit, now)
            return
        table.highest = sid
        if sid > table.last_sid or table.peer_goaway:
            return  # after our final GOAWAY: not processed (RFC 9113 6.8)
        guard = self.guard
        guard.stream_opened()
        win = self.win
        if len(table.streams) >= s.max_concurrent_streams:
            self.host.violation(STREAMS, f"more than {s.max_concurrent_streams} streams")
            win.out.append(ToClient(frames.rst_stream(sid, frames.REFUSED_STREAM)))
            limit = guard.server_reset(now)
            if limit is not None:
                self.host.calm(limit, now)
            return
        stream = H2Stream(self.owner, win, sid, win.peer_window, s.initial_window_size)
        stream.remote_closed = end_stream
        table.streams[sid] = stream
        self.host.stream_opened()
        if self.decoder.oversized:
            self.host.violation(HEADER_LIST, f"a header list over {s.max_header_list_size} bytes")
            table.bare(stream, 431, "request header fields too large", now)
            return
        try:
            head = request_head(fields, end_stream, self.rt.limits)
        except StreamError as malformed:
            table.bad_stream(stream, malformed.code, malformed.reason, now)
            return
        except ProtocolError as refused:
            table.bare(stream, refused.status, refused.reason, now)
            return
        if head.framing is Framing.LENGTH:
            stream.expected = head.content_length
        stream.head_only = head.method == b"HEAD"
        ex = Exchange(stream, self.rt, self.vip, self.peer, head, now, win.out, self.source)
        stream.ex = ex
        ex.start(now)
        if end_stream:
            ex.body_end(now)

    def _trailers(
        self, stream: H2Stream, fields: list[tuple[bytes, bytes]], end: bool, now: float
    ) -> None:
        """HEADERS on an open stream: the request's trailers. HTTP/1.1 backends get none
        (l7lb forwards no trailer fields), so they only end the body."""
        table = self.table
        if stream.remote_closed:
            table.bad_stream(stream, frames.STREAM_CLOSED, "HEADERS after END_STREAM", now)
            return
        if not end:
            table.bad_stream(stream, frames.PROTOCOL_ERROR, "trailers without END_STREAM", now)
            return
        for name, _ in fields:
            if name[:1] == b":":
                table.bad_stream(stream, frames.PROTOCOL_ERROR, "pseudo-header in trailers", now)
                return
        self._body_end(stream, now)

    # ---- request bodies ----------------------------------------------------------------------

    def data(self, flags: int, sid: int, payload: bytes, now: float) -> None:
        if sid == 0:
            self.host.fail(frames.PROTOCOL_ERROR, "DATA on stream 0", now)
            return
        n = len(payload)
        if not self.flow.receive(n):
            self.host.fail(frames.FLOW_CONTROL_ERROR, "DATA beyond the connection window", now)
            return
        body = payload
        if flags & PADDED:
            if n < 1 or payload[0] >= n:
                self.host.fail(frames.PROTOCOL_ERROR, "invalid padding", now)
                return
            body = payload[1 : n - payload[0]]
        end_stream = flags & END_STREAM
        if not body and not end_stream:
            limit = self.guard.empty_data_frame(now)
            if limit is not None:
                self.host.calm(limit, now)
                return
        table = self.table
        owner = self.owner
        stream = table.streams.get(sid)
        if stream is None:
            if sid > table.highest:
                self.host.fail(frames.PROTOCOL_ERROR, "DATA on an idle stream", now)
                return
            # a stream already reset or finished: the bytes still count against the
            # connection window (RFC 9113 6.9), so they are handed back
            owner.credit(None, n)
            return
        if stream.remote_closed:
            owner.credit(None, n)
            table.bad_stream(stream, frames.STREAM_CLOSED, "DATA after END_STREAM", now)
            return
        if n > stream.recv_window:
            owner.credit(None, n)
            table.bad_stream(
                stream, frames.FLOW_CONTROL_ERROR, "DATA beyond the stream window", now
            )
            return
        stream.recv_window -= n
        size = len(body)
        received = stream.received + size
        stream.received = received
        expected = stream.expected
        if expected >= 0 and (received > expected or (end_stream and received != expected)):
            owner.credit(None, n)
            table.bad_stream(stream, frames.PROTOCOL_ERROR, "DATA against content-length", now)
            return
        ex = stream.ex
        if ex is not None and not ex.done and not ex.discard:
            if size:
                ex.body(body, now)
            if stream.pauses:
                stream.held += size
                if n > size:
                    owner.credit(stream, n - size)
            else:
                owner.credit(stream, n)
        else:
            owner.credit(stream, n)
        if end_stream:
            self._body_end(stream, now)

    def _body_end(self, stream: H2Stream, now: float) -> None:
        stream.remote_closed = True
        ex = stream.ex
        if ex is not None:
            ex.body_end(now)
        if stream.local_closed:
            self.table.finished(stream)

    # ---- the streams' control frames ---------------------------------------------------------

    def window_update(self, sid: int, inc: int, now: float) -> None:
        """WINDOW_UPDATE on stream ``sid`` (> 0), already paid for."""
        table = self.table
        stream = table.streams.get(sid)
        if stream is None:
            if sid > table.highest:
                self.host.fail(frames.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream", now)
            return  # a closed stream: allowed, ignored
        if inc == 0:
            table.bad_stream(stream, frames.PROTOCOL_ERROR, "WINDOW_UPDATE of 0", now)
            return
        stream.send_window += inc
        if stream.send_window > frames.MAX_WINDOW:
            table.bad_stream(stream, frames.FLOW_CONTROL_ERROR, "stream window over 2**31-1", now)
            return
        if stream.buf_size:
            self.owner.send(stream)

    def rst_stream(self, sid: int, payload: bytes, now: float) -> None:
        host = self.host
        if sid == 0:
            host.fail(frames.PROTOCOL_ERROR, "RST_STREAM on stream 0", now)
            return
        if len(payload) != 4:
            host.fail(frames.FRAME_SIZE_ERROR, "RST_STREAM of the wrong size", now)
            return
        table = self.table
        if sid > table.highest:
            host.fail(frames.PROTOCOL_ERROR, "RST_STREAM on an idle stream", now)
            return
        stream = table.streams.get(sid)
        early = stream is not None and not stream.headers_sent
        if stream is not None:
            # the work is released at once: the backend request abandoned, its connection
            # closed unless the exchange had already ended cleanly
            stream.local_closed = True
            stream.remote_closed = True
            table.drop(stream, 499, now)
        limit = self.guard.client_reset(early, now)
        if limit is not None:
            host.calm(limit, now)
