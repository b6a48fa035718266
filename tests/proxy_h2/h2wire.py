"""HTTP/2 on the wire for tests, written independently of l7lb's own code.

Frames are built and split here by hand (RFC 9113 4.1), header blocks encoded and decoded
with the hpack library (python-hyper's, the reference HPACK), so a test that compares
l7lb's bytes with these does not compare l7lb with itself.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS = 0, 1, 2, 3, 4
PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 5, 6, 7, 8, 9
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL = 5, 6, 7, 8
COMPRESSION_ERROR, ENHANCE_YOUR_CALM = 9, 11


def frame(kind: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, kind, flags, sid) + payload


def settings(**values: int) -> bytes:
    ids = {
        "header_table_size": 1,
        "enable_push": 2,
        "max_concurrent_streams": 3,
        "initial_window_size": 4,
        "max_frame_size": 5,
        "max_header_list_size": 6,
    }
    payload = b"".join(struct.pack(">HI", ids[k], v) for k, v in values.items())
    return frame(SETTINGS, 0, 0, payload)


def preface(**values: int) -> bytes:
    return PREFACE + settings(**values)


def rst(sid: int, code: int = CANCEL) -> bytes:
    return frame(RST_STREAM, 0, sid, struct.pack(">I", code))


def window_update(sid: int, inc: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", inc))


def ping(opaque: bytes = b"12345678", ack: bool = False) -> bytes:
    return frame(PING, ACK if ack else 0, 0, opaque)


def data(sid: int, payload: bytes, end: bool = False) -> bytes:
    return frame(DATA, END_STREAM if end else 0, sid, payload)


@dataclass
class Frame:
    kind: int
    flags: int
    sid: int
    payload: bytes

    def error_code(self) -> int:
        """RST_STREAM's code, or GOAWAY's."""
        if self.kind == RST_STREAM:
            return int(struct.unpack(">I", self.payload)[0])
        assert self.kind == GOAWAY
        return int(struct.unpack(">I", self.payload[4:8])[0])

    def last_stream_id(self) -> int:
        assert self.kind == GOAWAY
        return int(struct.unpack(">I", self.payload[:4])[0]) & 0x7FFFFFFF

    def increment(self) -> int:
        assert self.kind == WINDOW_UPDATE
        return int(struct.unpack(">I", self.payload)[0])

    def settings(self) -> dict[int, int]:
        assert self.kind == SETTINGS
        return {
            struct.unpack(">H", self.payload[i : i + 2])[0]: struct.unpack(
                ">I", self.payload[i + 2 : i + 6]
            )[0]
            for i in range(0, len(self.payload), 6)
        }


def split(data: bytes) -> list[Frame]:
    """Every frame in ``data`` (which must end on a frame boundary)."""
    out = []
    pos = 0
    while pos < len(data):
        assert len(data) - pos >= 9, f"a partial frame header: {data[pos:]!r}"
        hi, lo, kind, flags, sid = struct.unpack(">BHBBI", data[pos : pos + 9])
        n = (hi << 16) | lo
        payload = data[pos + 9 : pos + 9 + n]
        assert len(payload) == n, "a partial frame"
        out.append(Frame(kind, flags, sid & 0x7FFFFFFF, payload))
        pos += 9 + n
    return out


class Client:
    """One client's HPACK encoder and decoder (their tables follow the connection)."""

    def __init__(self) -> None:
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()

    def block(self, fields: list[tuple[bytes, bytes]], huffman: bool = True) -> bytes:
        return bytes(self.encoder.encode(fields, huffman=huffman))

    def headers(
        self,
        sid: int,
        fields: list[tuple[bytes, bytes]],
        end_stream: bool = True,
    ) -> bytes:
        flags = END_HEADERS | (END_STREAM if end_stream else 0)
        return frame(HEADERS, flags, sid, self.block(fields))

    def request(
        self,
        sid: int,
        path: bytes = b"/",
        method: bytes = b"GET",
        authority: bytes = b"www.example.com",
        extra: list[tuple[bytes, bytes]] | None = None,
        end_stream: bool = True,
    ) -> bytes:
        fields = [
            (b":method", method),
            (b":scheme", b"https"),
            (b":authority", authority),
            (b":path", path),
        ]
        return self.headers(sid, fields + (extra or []), end_stream)

    def decode(self, f: Frame) -> list[tuple[bytes, bytes]]:
        """The fields of a HEADERS frame (with END_HEADERS) from l7lb."""
        assert f.kind == HEADERS and f.flags & END_HEADERS, f
        return [(bytes(n), bytes(v)) for n, v in self.decoder.decode(f.payload, raw=True)]
