"""An HTTP/2 connection's flow control, both ways (RFC 9113 5.2, 6.9).

Receiving: DATA counts against the connection window l7lb advertised (``[http2]
connection_window_size``; each stream's is its own, ``H2Stream.recv_window``); what the
backend took, or what was dropped, is handed back in WINDOW_UPDATE frames once half a window
is due (``credit``), so a client sends no faster than its backends read.

Sending: responses go out within the client's windows, buffered per stream (``H2Stream``);
a window that opens (or a socket that drains) is shared among the waiting streams a frame at
a time (``flush``). Output held back for ``[timeouts] client_idle`` (checked twice, so one to
two of them) with no DATA frame sent meanwhile is a stall (``stall_at``, ``stalled``).
"""

from __future__ import annotations

from collections.abc import Iterable

from l7lb.config.http2 import Http2Settings
from l7lb.http2 import frames
from l7lb.http2.limits import Guard
from l7lb.proxy.commands import ResumeBackend, ToClient
from l7lb.proxy.deadlines import NEVER
from l7lb.proxy.h2_stream import H2Stream, Owner, Windows


class Flow:
    __slots__ = (
        "client_idle",
        "conn_credit",
        "guard",
        "owner",
        "recv_window",
        "settings",
        "stall_at",
        "stall_seen",
        "win",
    )

    def __init__(
        self, owner: Owner, win: Windows, guard: Guard, s: Http2Settings, client_idle: float
    ) -> None:
        self.owner = owner  # the connection: a stream whose response is out is finished
        self.win = win
        self.guard = guard
        self.settings = s
        self.client_idle = client_idle  # [timeouts] client_idle
        self.recv_window = s.connection_window_size  # what the client may still send
        self.conn_credit = 0  # taken, not yet handed back by WINDOW_UPDATE
        self.stall_at = NEVER  # output waits for a window (or the socket) until then
        self.stall_seen = False  # the stall deadline came once with no progress

    # ---- receiving ---------------------------------------------------------------------------

    def receive(self, n: int) -> bool:
        """A DATA frame of ``n`` bytes (padding included); False when the connection window
        does not hold it (a FLOW_CONTROL_ERROR)."""
        if n > self.recv_window:
            return False
        self.recv_window -= n
        return True

    def credit(self, stream: H2Stream | None, n: int) -> None:
        """``n`` (> 0) bytes of DATA were taken (or dropped): hand them back to the client, in
        WINDOW_UPDATE frames once half a window is due."""
        s = self.settings
        out = self.win.out
        credit = self.conn_credit + n
        if credit >= s.connection_window_size >> 1:
            out.append(ToClient(frames.window_update(0, credit)))
            self.recv_window += credit
            credit = 0
        self.conn_credit = credit
        if stream is not None and not stream.remote_closed:
            credit = stream.credit + n
            if credit >= s.initial_window_size >> 1:
                out.append(ToClient(frames.window_update(stream.sid, credit)))
                stream.recv_window += credit
                credit = 0
            stream.credit = credit

    # ---- sending ---------------------------------------------------------------------------

    def grow(self, inc: int) -> bool:
        """The client's WINDOW_UPDATE on stream 0; False past 2**31-1 (a FLOW_CONTROL_ERROR).
        The waiting streams are then sent to (``flush``)."""
        win = self.win
        win.send_window += inc
        return win.send_window <= frames.MAX_WINDOW

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
            self.win.out.append(ToClient(out[0] if len(out) == 1 else b"".join(out)))
        self._after_send(stream)

    def flush(self, streams: Iterable[H2Stream]) -> None:
        """A window opened (or the socket drained): the waiting streams share it, one frame
        each in turn, so one slow stream does not hold the others back."""
        waiting = [s for s in streams if s.buf_size]
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
            self.win.out.append(ToClient(b"".join(out)))
        for stream in waiting:
            self._after_send(stream)

    def _after_send(self, stream: H2Stream) -> None:
        link = stream.paused_link
        if link is not None and stream.buf_size <= self.settings.stream_buffer >> 1:
            ex = stream.ex
            if ex is not None and ex.link is link:
                stream.paused_link = None
                self.win.out.append(ResumeBackend(link))
        if stream.buf_size:
            if self.stall_at == NEVER:
                self.stall_at = self.win.now + self.client_idle
        elif stream.local_closed:
            self.owner.finished(stream)

    # ---- stalls ------------------------------------------------------------------------------

    def stalled(self, now: float) -> bool:
        """``stall_at`` came: True the second time in a row (no DATA went out since); the
        first time (the deadline may have been set from a stale clock) once more, from now."""
        if self.stall_seen:
            return True
        self.stall_seen = True
        self.stall_at = now + self.client_idle
        return False

    def unstall(self) -> None:
        """No stream is left to wait for a window."""
        self.stall_at = NEVER
        self.stall_seen = False
