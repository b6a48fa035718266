"""HTTP/2 frames (RFC 9113 section 4 and 6): the numbers, and the frames l7lb writes.

Reading is done by the connection itself (``l7lb.proxy.h2``), one 9-byte header at a time
straight from its receive buffer, so that a frame's length and type are checked (and
counted against the flood limits) before its payload is even buffered. What it writes is
built here, as bytes, ready for the TLS pump.
"""

from __future__ import annotations

from typing import Final

PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADER_SIZE: Final = 9

# frame types (RFC 9113 6)
DATA: Final = 0x0
HEADERS: Final = 0x1
PRIORITY: Final = 0x2
RST_STREAM: Final = 0x3
SETTINGS: Final = 0x4
PUSH_PROMISE: Final = 0x5
PING: Final = 0x6
GOAWAY: Final = 0x7
WINDOW_UPDATE: Final = 0x8
CONTINUATION: Final = 0x9

# flags
END_STREAM: Final = 0x1
ACK: Final = 0x1
END_HEADERS: Final = 0x4
PADDED: Final = 0x8
PRIORITY_FLAG: Final = 0x20

# error codes (RFC 9113 7)
NO_ERROR: Final = 0x0
PROTOCOL_ERROR: Final = 0x1
INTERNAL_ERROR: Final = 0x2
FLOW_CONTROL_ERROR: Final = 0x3
SETTINGS_TIMEOUT: Final = 0x4
STREAM_CLOSED: Final = 0x5
FRAME_SIZE_ERROR: Final = 0x6
REFUSED_STREAM: Final = 0x7
CANCEL: Final = 0x8
COMPRESSION_ERROR: Final = 0x9
CONNECT_ERROR: Final = 0xA
ENHANCE_YOUR_CALM: Final = 0xB
INADEQUATE_SECURITY: Final = 0xC
HTTP_1_1_REQUIRED: Final = 0xD

ERROR_NAMES: Final = {
    NO_ERROR: "NO_ERROR",
    PROTOCOL_ERROR: "PROTOCOL_ERROR",
    INTERNAL_ERROR: "INTERNAL_ERROR",
    FLOW_CONTROL_ERROR: "FLOW_CONTROL_ERROR",
    SETTINGS_TIMEOUT: "SETTINGS_TIMEOUT",
    STREAM_CLOSED: "STREAM_CLOSED",
    FRAME_SIZE_ERROR: "FRAME_SIZE_ERROR",
    REFUSED_STREAM: "REFUSED_STREAM",
    CANCEL: "CANCEL",
    COMPRESSION_ERROR: "COMPRESSION_ERROR",
    CONNECT_ERROR: "CONNECT_ERROR",
    ENHANCE_YOUR_CALM: "ENHANCE_YOUR_CALM",
    INADEQUATE_SECURITY: "INADEQUATE_SECURITY",
    HTTP_1_1_REQUIRED: "HTTP_1_1_REQUIRED",
}

# settings (RFC 9113 6.5.2)
HEADER_TABLE_SIZE: Final = 0x1
ENABLE_PUSH: Final = 0x2
MAX_CONCURRENT_STREAMS: Final = 0x3
INITIAL_WINDOW_SIZE: Final = 0x4
MAX_FRAME_SIZE: Final = 0x5
MAX_HEADER_LIST_SIZE: Final = 0x6

DEFAULT_WINDOW: Final = 65535
DEFAULT_FRAME_SIZE: Final = 16384
MAX_FRAME_SIZE_LIMIT: Final = 16777215
MAX_WINDOW: Final = 0x7FFFFFFF
MAX_STREAM_ID: Final = 0x7FFFFFFF


def frame(kind: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    """One frame: the 9-byte header, then ``payload`` (at most the peer's frame size)."""
    header = (len(payload) << 48) | (kind << 40) | (flags << 32) | stream_id
    return header.to_bytes(9, "big") + payload


def settings(pairs: list[tuple[int, int]]) -> bytes:
    payload = b"".join(
        [ident.to_bytes(2, "big") + value.to_bytes(4, "big") for ident, value in pairs]
    )
    return frame(SETTINGS, 0, 0, payload)


SETTINGS_ACK: Final = b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"


def ping_ack(opaque: bytes) -> bytes:
    return frame(PING, ACK, 0, opaque)


def ping(opaque: bytes) -> bytes:
    return frame(PING, 0, 0, opaque)


def goaway(last_stream_id: int, error: int, debug: bytes = b"") -> bytes:
    return frame(GOAWAY, 0, 0, last_stream_id.to_bytes(4, "big") + error.to_bytes(4, "big") + debug)


def rst_stream(stream_id: int, error: int) -> bytes:
    return frame(RST_STREAM, 0, stream_id, error.to_bytes(4, "big"))


def window_update(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, increment.to_bytes(4, "big"))


def headers(stream_id: int, block: bytes, end_stream: bool, max_frame: int) -> bytes:
    """A HEADERS frame, followed by CONTINUATION frames when ``block`` is larger than the
    peer's frame size."""
    flags = END_STREAM if end_stream else 0
    if len(block) <= max_frame:
        return frame(HEADERS, flags | END_HEADERS, stream_id, block)
    parts = [frame(HEADERS, flags, stream_id, block[:max_frame])]
    pos = max_frame
    end = len(block)
    while pos < end:
        stop = pos + max_frame
        last = stop >= end
        parts.append(frame(CONTINUATION, END_HEADERS if last else 0, stream_id, block[pos:stop]))
        pos = stop
    return b"".join(parts)


def data(stream_id: int, payload: bytes, end_stream: bool) -> bytes:
    return frame(DATA, END_STREAM if end_stream else 0, stream_id, payload)
