"""One HTTP/2 stream: the client side of one ``Exchange`` (``exchange.Client``).

The exchange hands it the response as it hands an ``H1Connection`` one; the stream renders
it as frames: the head as a HEADERS frame (HPACK, ``:status`` first, hop-by-hop fields
already cut by the head edit), the body as DATA frames within the client's windows, the end
as END_STREAM (on the HEADERS or the last DATA frame when the length is known, so a small
response is two frames). Body bytes the windows do not let out wait here, at most
``[http2] stream_buffer`` of them before the stream's backend connection stops being read
(``PauseBackend``); they leave as the client's WINDOW_UPDATE frames come, through the
connection (``h2.H2Connection.send``), which shares the connection window among streams.

The request side: DATA the exchange forwarded is acknowledged (``H2Connection.credit``)
only while the exchange is not paused (``pause_body``: no backend connection yet, or the
backend's write buffer full); what arrives meanwhile is held and acknowledged on
``resume_body``. That is the back-pressure toward the client, per stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from mypy_extensions import trait

from l7lb.http.events import Framing, ResponseHead
from l7lb.http.head_edit import HeadEdit, apply
from l7lb.http2 import frames, hpack
from l7lb.proxy.answers import Answer
from l7lb.proxy.client_side import Client
from l7lb.proxy.commands import Command, PauseBackend, ReleaseBackend, ResumeBackend, ToClient
from l7lb.proxy.flow import Pause

if TYPE_CHECKING:
    from l7lb.proxy.exchange import Exchange
    from l7lb.proxy.link import BackendLink, Requester

_NO_BACKEND: Final = 1
_BACKEND_FULL: Final = 2


class Windows:
    """The sending side of a connection, which all its streams share: the command list,
    the connection's send window, the client's initial stream window and frame size,
    whether the socket is full."""

    __slots__ = (
        "client_blocked",
        "now",
        "out",
        "peer_max_frame",
        "peer_window",
        "send_window",
        "stream_buffer",
    )

    def __init__(self, out: list[Command], stream_buffer: int, now: float) -> None:
        self.out = out
        self.send_window = frames.DEFAULT_WINDOW
        self.peer_max_frame = frames.DEFAULT_FRAME_SIZE
        self.peer_window = frames.DEFAULT_WINDOW  # the client's SETTINGS_INITIAL_WINDOW_SIZE
        self.client_blocked = False  # the socket's write buffer is full
        self.stream_buffer = stream_buffer  # [http2] stream_buffer
        self.now = now  # the latest loop time the connection saw


@trait
class Owner:
    """What a stream asks of its connection (``h2.H2Connection``). A trait, so that
    compiled calls go through a table, not by name; declared here so that this module does
    not import the connection's."""

    def send(self, stream: H2Stream) -> None:
        """Buffered response bytes: out as the windows allow."""
        raise NotImplementedError

    def credit(self, stream: H2Stream | None, n: int) -> None:
        """``n`` request bytes were taken: hand the window back."""
        raise NotImplementedError

    def data_sent(self) -> None:
        """A DATA frame went out."""
        raise NotImplementedError

    def finished(self, stream: H2Stream) -> None:
        """END_STREAM went out: close the stream once its exchange is done."""
        raise NotImplementedError

    def reset(self, stream: H2Stream, code: int, counted: bool) -> None:
        """End the stream with RST_STREAM."""
        raise NotImplementedError


def _pause_bit(reason: Pause) -> int:
    return _NO_BACKEND if reason is Pause.NO_BACKEND else _BACKEND_FULL


class H2Stream(Client):
    __slots__ = (
        "buf",
        "buf_off",
        "buf_size",
        "conn",
        "credit",
        "end_pending",
        "ex",
        "expected",
        "head_only",
        "headers_sent",
        "held",
        "local_closed",
        "paused_link",
        "pauses",
        "received",
        "recv_window",
        "remaining",
        "remote_closed",
        "send_window",
        "sid",
        "win",
    )

    def __init__(
        self, conn: Owner, win: Windows, sid: int, send_window: int, recv_window: int
    ) -> None:
        self.conn = conn
        self.win = win
        self.sid = sid
        self.ex: Exchange | None = None
        self.remote_closed = False  # the client sent END_STREAM (or the stream was reset)
        self.local_closed = False  # END_STREAM or RST_STREAM went out
        self.head_only = False  # a HEAD request: the response carries no DATA
        self.headers_sent = False  # the final response head went out
        self.expected = -1  # the request's Content-Length, checked against its DATA
        self.received = 0  # request body bytes received
        self.recv_window = recv_window  # what the client may still send on this stream
        self.credit = 0  # taken by the backend, not yet handed back by WINDOW_UPDATE
        self.held = 0  # received while the exchange is paused: handed back on resume
        self.pauses = 0
        self.send_window = send_window  # what the client lets l7lb send on this stream
        self.buf: list[bytes] = []  # response bytes waiting for a window
        self.buf_off = 0  # bytes of buf[0] already sent
        self.buf_size = 0
        self.end_pending = False  # END_STREAM goes with the last buffered byte
        self.remaining = -1  # response body bytes still to come (a Content-Length)
        self.paused_link: BackendLink | None = None

    def __repr__(self) -> str:
        return f"<H2Stream {self.sid} buffered={self.buf_size}>"

    # ---- the exchange's client side (exchange.Client) -------------------------------------

    def head(self, ex: Requester, resp: ResponseHead, edit: HeadEdit) -> None:
        framing = resp.framing
        no_body = (
            self.head_only
            or framing is Framing.NONE
            or (framing is Framing.LENGTH and resp.content_length == 0)
        )
        self.remaining = resp.content_length if framing is Framing.LENGTH else -1
        self._head(resp.status, apply(resp.headers, edit), no_body)

    def info(self, ex: Requester, resp: ResponseHead, edit: HeadEdit) -> None:
        if not self.headers_sent and not self.local_closed:
            win = self.win
            block = hpack.encode(resp.status, apply(resp.headers, edit))
            win.out.append(ToClient(frames.headers(self.sid, block, False, win.peer_max_frame)))

    def upgrade(self, ex: Requester, resp: ResponseHead, edit: HeadEdit, link: BackendLink) -> None:
        pass  # an HTTP/2 request is never an upgrade request: the exchange answers 502 first

    def tunnel(self, ex: Requester, tail: bytes, link: BackendLink) -> None:
        # (unreachable, as upgrade) the exchange gave us the link and its server slot
        self.win.out.append(ReleaseBackend(link, reuse=False, abort=True))
        if self.ex is not None:
            self.ex.release_server()
        self.conn.reset(self, frames.INTERNAL_ERROR, counted=False)

    def data(self, ex: Requester, data: bytes) -> None:
        own = self.ex
        self.body(data, own.link if own is not None else None)

    def body(self, data: bytes, link: BackendLink | None) -> None:
        """Response body bytes; ``link``: the backend connection they come from (paused
        while too many wait here)."""
        if self.local_closed or self.head_only:
            return
        remaining = self.remaining
        last = False
        if remaining > 0:
            remaining -= len(data)
            self.remaining = remaining
            last = remaining <= 0
        win = self.win
        n = len(data)
        if (
            not self.buf
            and n <= self.send_window
            and n <= win.send_window
            and n <= win.peer_max_frame
            and not win.client_blocked
        ):
            # the usual case: out at once, END_STREAM with the last byte when it is known
            self.send_window -= n
            win.send_window -= n
            win.out.append(ToClient(frames.data(self.sid, data, last)))
            self.conn.data_sent()
            if last:
                self.local_closed = True
            return
        self.buf.append(data)
        self.buf_size += n
        if last:
            self.end_pending = True
        self.conn.send(self)
        full = self.buf_size > win.stream_buffer
        if full and link is not None and self.paused_link is None:
            self.paused_link = link
            win.out.append(PauseBackend(link))

    def end(self, ex: Requester, now: float) -> None:
        win = self.win
        win.now = now
        link = self.paused_link
        if link is not None:
            # released to the idle stock (or closed): it must read again for its next user
            self.paused_link = None
            win.out.append(ResumeBackend(link))
        if not self.local_closed:
            if self.buf_size:
                self.end_pending = True
                return
            win.out.append(ToClient(frames.data(self.sid, b"", True)))
            self.local_closed = True
        self.conn.finished(self)

    def answer(self, ex: Requester | None, answer: Answer) -> int:
        has_body = not self.head_only and answer.has_body() and bool(answer.body)
        sent = self._head(answer.status, answer.fields(), not has_body)
        if has_body:
            body = answer.body
            self.remaining = len(body)
            self.body(body, None)
            sent += len(body)
        return sent

    def abort(self, ex: Requester, now: float) -> None:
        self.win.now = now
        # the client must see the response fail: a reset, never a clean END_STREAM;
        # a body the client stopped sending (408) is its doing, and counted as such
        own = self.ex
        self.conn.reset(self, frames.INTERNAL_ERROR, counted=own is not None and own.status == 408)

    def pause_body(self, ex: Requester, reason: Pause) -> None:
        self.pauses |= _pause_bit(reason)

    def resume_body(self, ex: Requester, reason: Pause) -> None:
        if not self.pauses:
            return
        self.pauses &= ~_pause_bit(reason)
        if not self.pauses and self.held:
            n = self.held
            self.held = 0
            self.conn.credit(self, n)

    # ---- rendering --------------------------------------------------------------------------

    def _head(self, status: int, fields: list[tuple[bytes, bytes]], end_stream: bool) -> int:
        win = self.win
        block = hpack.encode(status, fields)
        frame = frames.headers(self.sid, block, end_stream, win.peer_max_frame)
        win.out.append(ToClient(frame))
        self.headers_sent = True
        if end_stream:
            self.local_closed = True
        return len(frame)

    def next_frame(self) -> bytes:
        """One DATA frame of buffered bytes, as large as the windows and the client's frame
        size allow; b"" when nothing may go."""
        win = self.win
        if not self.buf_size or win.client_blocked:
            return b""
        n = self.send_window
        if win.send_window < n:
            n = win.send_window
        if win.peer_max_frame < n:
            n = win.peer_max_frame
        if n <= 0:
            return b""
        chunk = self.take(n)
        size = len(chunk)
        self.send_window -= size
        win.send_window -= size
        last = self.end_pending and not self.buf_size
        if last:
            self.end_pending = False
            self.local_closed = True
        return frames.data(self.sid, chunk, last)

    def take(self, n: int) -> bytes:
        """Up to ``n`` buffered bytes (at least one)."""
        first = self.buf[0]
        off = self.buf_off
        avail = len(first) - off
        if avail <= n:
            self.buf.pop(0)
            self.buf_off = 0
            chunk = first[off:] if off else first
        else:
            chunk = first[off : off + n]
            self.buf_off = off + n
        self.buf_size -= len(chunk)
        return chunk

    def drop_buffer(self) -> None:
        self.buf.clear()
        self.buf_off = 0
        self.buf_size = 0
        self.end_pending = False
