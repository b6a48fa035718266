"""The connection-level frames of an HTTP/2 client connection: SETTINGS, PING, GOAWAY,
PRIORITY and frames of unknown types.

``announcement`` is what l7lb says first: its SETTINGS, and the connection window beyond
the default. ``Control`` checks and answers the client's frames, each paid for from the
connection's ``Guard`` (a flood is a limit broken, ``Host.calm``); a malformed one is a
connection error (``Host.fail``). What the connection does next it learns from the return
values: a stream window grew (send), l7lb's drain PING came back (the final GOAWAY), the
client sent GOAWAY (no new streams).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from l7lb.config.http2 import Http2Settings
from l7lb.http2 import frames
from l7lb.http2.hpack import Decoder
from l7lb.http2.limits import Guard
from l7lb.proxy.commands import ToClient
from l7lb.proxy.h2_host import Host
from l7lb.proxy.h2_stream import H2Stream, Windows

DRAIN_PING: Final = b"l7lb-gon"  # the PING that follows the first GOAWAY of a drain


def announcement(s: Http2Settings) -> bytes:
    """l7lb's SETTINGS (what differs from the defaults, RFC 9113 6.5.2), then a
    WINDOW_UPDATE for a connection window larger than the default 65535 (6.9.2)."""
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
    return preface


class Control:
    __slots__ = ("decoder", "guard", "host", "settings", "win")

    def __init__(
        self, host: Host, win: Windows, guard: Guard, decoder: Decoder, s: Http2Settings
    ) -> None:
        self.host = host
        self.win = win
        self.guard = guard
        self.decoder = decoder  # the connection's HPACK decoder
        self.settings = s

    def settings_frame(
        self, flags: int, sid: int, payload: bytes, streams: Iterable[H2Stream], now: float
    ) -> bool:
        """SETTINGS (RFC 9113 6.5): applied and acknowledged; True when the client's
        initial stream window grew, so waiting streams may send."""
        host = self.host
        if sid != 0:
            host.fail(frames.PROTOCOL_ERROR, "SETTINGS on a stream", now)
            return False
        n = len(payload)
        if flags & frames.ACK:
            if n:
                host.fail(frames.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload", now)
                return False
            self._acked()
            return False
        if n % 6:
            host.fail(frames.FRAME_SIZE_ERROR, "SETTINGS of the wrong size", now)
            return False
        limit = self.guard.settings_frame(now)
        if limit is not None:
            host.calm(limit, now)
            return False
        win = self.win
        grown = False
        for i in range(0, n, 6):
            ident = (payload[i] << 8) | payload[i + 1]
            value = int.from_bytes(payload[i + 2 : i + 6], "big")
            if ident == frames.INITIAL_WINDOW_SIZE:
                if value > frames.MAX_WINDOW:
                    host.fail(frames.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE over 2**31-1", now)
                    return False
                delta = value - win.peer_window
                win.peer_window = value
                for stream in streams:
                    stream.send_window += delta
                    if stream.send_window > frames.MAX_WINDOW:
                        host.fail(frames.FLOW_CONTROL_ERROR, "a stream window over 2**31-1", now)
                        return False
                grown = grown or delta > 0
            elif ident == frames.MAX_FRAME_SIZE:
                if not frames.DEFAULT_FRAME_SIZE <= value <= frames.MAX_FRAME_SIZE_LIMIT:
                    host.fail(frames.PROTOCOL_ERROR, "invalid MAX_FRAME_SIZE", now)
                    return False
                win.peer_max_frame = value
            elif ident == frames.ENABLE_PUSH and value > 1:
                host.fail(frames.PROTOCOL_ERROR, "invalid ENABLE_PUSH", now)
                return False
            # HEADER_TABLE_SIZE: l7lb's encoder keeps no dynamic table; the others
            # (MAX_CONCURRENT_STREAMS, MAX_HEADER_LIST_SIZE, unknown ones) change nothing here
        win.out.append(ToClient(frames.SETTINGS_ACK))
        return grown

    def _acked(self) -> None:
        """The client applied l7lb's SETTINGS: from now on its HPACK table is at most what
        was advertised, and a smaller one must be announced by a size update."""
        decoder = self.decoder
        size = self.settings.header_table_size
        if decoder.settings_size != size:
            decoder.limit(size)

    def ping(self, flags: int, sid: int, payload: bytes, now: float) -> bool:
        """PING (RFC 9113 6.7): answered; True when it is the ACK of ``DRAIN_PING``."""
        host = self.host
        if sid != 0:
            host.fail(frames.PROTOCOL_ERROR, "PING on a stream", now)
            return False
        if len(payload) != 8:
            host.fail(frames.FRAME_SIZE_ERROR, "PING of the wrong size", now)
            return False
        if flags & frames.ACK:
            return payload == DRAIN_PING
        limit = self.guard.ping(now)
        if limit is not None:
            host.calm(limit, now)
            return False
        self.win.out.append(ToClient(frames.ping_ack(payload)))
        return False

    def goaway(self, sid: int, payload: bytes, now: float) -> bool:
        """GOAWAY (RFC 9113 6.8): True when well formed (the client opens no more streams;
        those in progress finish)."""
        if sid != 0:
            self.host.fail(frames.PROTOCOL_ERROR, "GOAWAY on a stream", now)
            return False
        if len(payload) < 8:
            self.host.fail(frames.FRAME_SIZE_ERROR, "GOAWAY too short", now)
            return False
        return True

    def priority(self, sid: int, payload: bytes, now: float) -> None:
        """PRIORITY (RFC 9113 6.3): checked, paid for, not used (5.3.2)."""
        if sid == 0:
            self.host.fail(frames.PROTOCOL_ERROR, "PRIORITY on stream 0", now)
        elif len(payload) != 5:
            self.host.fail(frames.FRAME_SIZE_ERROR, "PRIORITY frame of the wrong size", now)
        else:
            self.other(now)

    def other(self, now: float) -> None:
        """A frame that asks for nothing (PRIORITY, an unknown type: ignored, RFC 9113 5.5),
        paid for."""
        limit = self.guard.other_frame(now)
        if limit is not None:
            self.host.calm(limit, now)
