"""The streams of an HTTP/2 client connection, and how each ends.

``Streams`` is the table of streams that hold work (``H2Stream``, each with its
``Exchange``), with the highest stream id the client opened and the ids it may still open.
A stream ends when its response is out and its exchange done (``finished``; a request body
still coming is refused, RFC 9113 8.1), by a reset (``reset``: either side's RST_STREAM, a
stream error the client caused), or with the connection (``abandon``). Ending one releases
its work at once: its exchange abandoned (and its backend connection closed unless the
response had ended cleanly), its buffers dropped, its held window handed back.
"""

from __future__ import annotations

import logging
from typing import Final

from l7lb.http2 import frames
from l7lb.http2.limits import Guard
from l7lb.proxy import answers
from l7lb.proxy.commands import Connect, ToClient
from l7lb.proxy.h2_host import Host
from l7lb.proxy.h2_stream import H2Stream, Owner, Windows

log: Final = logging.getLogger("l7lb.proxy")

STATUS_MALFORMED: Final = 400  # the access-log status of a stream reset as malformed


class Streams:
    __slots__ = (
        "guard",
        "highest",
        "host",
        "last_sid",
        "owner",
        "peer",
        "peer_goaway",
        "prune",
        "streams",
        "win",
    )

    def __init__(self, host: Host, owner: Owner, win: Windows, guard: Guard, peer: str) -> None:
        self.host = host  # the connection: its errors, idle or not
        self.owner = owner  # the connection as its streams see it (credit)
        self.win = win
        self.guard = guard
        self.peer = peer
        self.streams: dict[int, H2Stream] = {}
        self.highest = 0  # the highest stream id the client opened
        self.last_sid = frames.MAX_STREAM_ID  # streams above it are ignored (after GOAWAY)
        self.peer_goaway = False  # the client sent GOAWAY: it opens no more streams
        self.prune = False  # a stream was dropped: its Connect may still wait in ``out``

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
            self.win.out.append(ToClient(frames.rst_stream(stream.sid, frames.NO_ERROR)))
            if stream.held:
                self.owner.credit(None, stream.held)
                stream.held = 0
        del self.streams[stream.sid]
        stream.ex = None  # (the exchange is done: no reference cycle left for the collector)
        self.host.stream_gone()

    def reset(self, stream: H2Stream, code: int, counted: bool) -> None:
        """End ``stream`` with RST_STREAM ``code``; ``counted``: the client provoked it, and
        pays for it from the reset budget."""
        if self.streams.get(stream.sid) is not stream:
            return
        if not (stream.local_closed and stream.remote_closed):
            self.win.out.append(ToClient(frames.rst_stream(stream.sid, code)))
        stream.local_closed = True
        stream.remote_closed = True
        self.drop(stream, 499, self.win.now)
        if counted:
            now = self.win.now
            limit = self.guard.server_reset(now)
            if limit is not None:
                self.host.calm(limit, now)

    def bad_stream(self, stream: H2Stream, code: int, reason: str, now: float) -> None:
        """A stream error the client caused (a malformed request, a flow-control or a
        content-length violation): logged once per connection, counted as a reset."""
        if self.guard.first("malformed request"):
            log.info("%s: HTTP/2 stream %d: %s", self.peer, stream.sid, reason)
        ex = stream.ex
        if ex is not None and not ex.done:
            ex.client_gone(STATUS_MALFORMED, now)
        self.reset(stream, code, counted=True)

    def bare(self, stream: H2Stream, status: int, reason: str, now: float) -> None:
        """Answer ``status`` on a stream refused before an exchange could be made (the
        request head failed the HTTP/1.1 rules, or was too large)."""
        if self.guard.first("bad request"):
            log.info(
                "%s: HTTP/2 stream %d: bad request: %d %s", self.peer, stream.sid, status, reason
            )
        stream.answer(None, answers.error(status, reason))
        if stream.local_closed:
            self.finished(stream)

    def drop(self, stream: H2Stream, status: int, now: float) -> None:
        """Forget ``stream`` now: its exchange (if still running) is abandoned with
        ``status``, its buffers dropped, its held window handed back."""
        ex = stream.ex
        if ex is not None and not ex.done:
            ex.client_gone(status, now)
            self.prune = True
        stream.paused_link = None  # the exchange closed it
        stream.drop_buffer()
        if stream.held:
            self.owner.credit(None, stream.held)
            stream.held = 0
        if self.streams.get(stream.sid) is stream:
            del self.streams[stream.sid]
            stream.ex = None
            self.host.stream_gone()

    def prune_connects(self) -> None:
        """A stream opened and reset in one read (rapid reset) asked for a backend
        connection nobody will use: the request never reached a backend, so none is made."""
        self.prune = False
        out = self.win.out
        keep = [c for c in out if type(c) is not Connect or not c.exchange.done]
        if len(keep) != len(out):
            out[:] = keep

    def abandon(self, status: int, now: float) -> None:
        """The connection ends: every exchange still running is abandoned with ``status``."""
        streams = list(self.streams.values())
        self.streams.clear()
        for stream in streams:
            ex = stream.ex
            if ex is not None and not ex.done:
                ex.client_gone(status, now)
                self.prune = True
            stream.ex = None
            stream.drop_buffer()

    # ---- the exchanges' deadlines ------------------------------------------------------------

    def next_deadline(self, when: float) -> float:
        """The earlier of ``when`` and the running exchanges' deadlines."""
        for stream in self.streams.values():
            ex = stream.ex
            if ex is not None and not ex.done:
                at = ex.deadline.when
                if at < when:
                    when = at
        return when

    def on_timer(self, now: float) -> None:
        for stream in list(self.streams.values()):
            ex = stream.ex
            if ex is not None and not ex.done and ex.deadline.due(now):
                ex.on_deadline(now)
