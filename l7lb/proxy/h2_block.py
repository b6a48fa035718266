"""A header block as it arrives: HEADERS, then CONTINUATION frames up to END_HEADERS.

``HeaderBlock`` collects the fragments of one block (RFC 9113 4.3) and judges every frame
that would add to it from its 9-byte header, before its payload is buffered (the 2024
CONTINUATION flood): at most ``[http2] max_continuation_frames`` CONTINUATION frames and
``max_header_block_size`` bytes (padding included), and no other frame until the block ends
(RFC 9113 6.10). The block must be complete by ``[http2] headers_timeout`` (``at``).
"""

from __future__ import annotations

from typing import Final

from l7lb.config.http2 import Http2Settings
from l7lb.http2.frames import CONTINUATION, HEADERS
from l7lb.http2.limits import CONTINUATIONS, HEADER_BLOCK
from l7lb.proxy.deadlines import NEVER

OUT_OF_BLOCK: Final = "frame inside a header block"  # a connection error, not a limit


class HeaderBlock:
    __slots__ = (
        "at",
        "end_stream",
        "frames",
        "max_frames",
        "max_size",
        "parts",
        "sid",
        "size",
        "timeout",
    )

    def __init__(self, s: Http2Settings) -> None:
        self.sid = 0  # the stream of the block in progress; 0: none
        self.parts: list[bytes] = []
        self.size = 0  # its frames' payload bytes so far
        self.frames = 0  # its CONTINUATION frames so far
        self.end_stream = False  # its HEADERS frame had END_STREAM
        self.at = NEVER  # the block's deadline
        self.max_size = s.max_header_block_size
        self.max_frames = s.max_continuation_frames
        self.timeout = s.headers_timeout

    def refuse(self, kind: int, sid: int, length: int) -> str:
        """Why a frame (``kind`` on stream ``sid``, ``length`` bytes of payload) may not be
        read: ``OUT_OF_BLOCK``, the name of the limit it would break, or "" when it may."""
        if self.sid:
            if kind != CONTINUATION or sid != self.sid:
                return OUT_OF_BLOCK
            if self.frames >= self.max_frames:
                return CONTINUATIONS
            if self.size + length > self.max_size:
                return HEADER_BLOCK
        elif kind == HEADERS and length > self.max_size:
            return HEADER_BLOCK
        return ""

    def start(self, sid: int, fragment: bytes, size: int, end_stream: bool, now: float) -> None:
        """HEADERS without END_HEADERS (``size``: its whole payload, padding included)."""
        self.sid = sid
        self.parts = [fragment]
        self.size = size
        self.frames = 0
        self.end_stream = end_stream
        self.at = now + self.timeout

    def add(self, fragment: bytes) -> None:
        """A CONTINUATION frame's payload."""
        self.parts.append(fragment)
        self.size += len(fragment)
        self.frames += 1

    def take(self) -> bytes:
        """END_HEADERS came: the whole block, and none in progress any more."""
        block = b"".join(self.parts)
        self.clear()
        return block

    def clear(self) -> None:
        self.parts = []
        self.sid = 0
        self.at = NEVER
