"""A request body on its way to the backend.

The codec hands the exchange decoded body bytes; ``BodyRelay`` frames them as the backend
gets them (chunked again when the client sent chunks; a Content-Length body as it is) and
holds them while the backend connection is made: at most ``HOLD_MAX`` bytes, beyond which
the exchange stops reading from the client until the head and the held bytes have gone out.
"""

from __future__ import annotations

from typing import Final

HOLD_MAX: Final = 65536
_CHUNK_END: Final = b"0\r\n\r\n"


class BodyRelay:
    __slots__ = ("chunked", "held", "held_size")

    def __init__(self, chunked: bool) -> None:
        self.chunked = chunked
        self.held: list[bytes] = []
        self.held_size = 0

    def frame(self, data: bytes) -> bytes:
        """``data`` as the backend gets it."""
        return b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data

    def end(self) -> bytes:
        """What ends the body on the wire (the last chunk), or b""."""
        return _CHUNK_END if self.chunked else b""

    def hold(self, framed: bytes) -> bool:
        """Keep ``framed`` until the backend connection is there; True once more than
        HOLD_MAX bytes wait (stop reading from the client)."""
        self.held.append(framed)
        self.held_size += len(framed)
        return self.held_size > HOLD_MAX

    def release(self) -> bytes:
        """The held bytes, in order; none are held afterwards."""
        data = b"".join(self.held)
        self.drop()
        return data

    def drop(self) -> None:
        self.held.clear()
        self.held_size = 0
