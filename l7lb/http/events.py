"""The sans-IO HTTP/1.1 codec contract shared by every parser back end.

A parser takes bytes and returns events; it never touches a socket or a clock.
Two back ends implement it (``h11_codec``: strict reference, ``httptools_codec``:
fast), and ``tests/http/test_codec_conformance.py`` holds both to the same
behaviour, byte for byte where it matters (framing, errors, limits).

Events, in the order a parser returns them for one message::

    RequestHead | ResponseHead, Data*, END [, Upgrade]

Header names are lower-cased ASCII bytes, values have surrounding whitespace
removed, order and repetition are kept. Body ``Data`` is the decoded payload
(chunk framing removed); the proxy re-frames what it forwards.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Protocol


class Framing(enum.Enum):
    """How a message body is delimited on the wire (RFC 9112 section 6.3)."""

    NONE = "none"  # no body: GET without length, HEAD/1xx/204/304 responses
    LENGTH = "length"  # Content-Length
    CHUNKED = "chunked"  # Transfer-Encoding: chunked
    CLOSE = "close"  # responses only: the body ends when the server closes


@dataclass(slots=True)
class RequestHead:
    method: bytes
    target: bytes
    version: bytes  # b"1.0" or b"1.1"
    headers: list[tuple[bytes, bytes]]
    framing: Framing
    content_length: int  # >= 0 when framing is LENGTH, else -1
    keep_alive: bool  # what the client asked for (version + Connection)
    upgrade: bool  # Connection: upgrade with an Upgrade header
    expect_continue: bool  # Expect: 100-continue


@dataclass(slots=True)
class ResponseHead:
    status: int
    reason: bytes
    version: bytes
    headers: list[tuple[bytes, bytes]]
    framing: Framing
    content_length: int
    keep_alive: bool  # the server keeps the connection open after this response


@dataclass(slots=True)
class Data:
    data: bytes


class EndOfMessage:
    """The current message is complete (the singleton ``END``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


END: Final = EndOfMessage()


@dataclass(slots=True)
class Upgrade:
    """The connection leaves HTTP: ``tail`` holds the bytes after the head.

    A request parser emits it after the END of a request whose ``upgrade`` is
    true; a response parser after the END of a 101 response. The parser must not
    be fed afterwards: the caller tunnels the raw bytes.
    """

    tail: bytes


Event = RequestHead | ResponseHead | Data | EndOfMessage | Upgrade


class ProtocolError(Exception):
    """Malformed or over-limit input. ``status`` is what to answer a client."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class RequestParser(Protocol):
    def feed(self, data: bytes) -> list[Event]:
        """Parse client bytes; raise ProtocolError on malformed input."""
        ...

    def feed_eof(self) -> list[Event]:
        """The client closed. Raise ProtocolError if a message was cut short."""
        ...


class ResponseParser(Protocol):
    def expect(self, method: bytes) -> None:
        """Announce the method of the request the next response answers
        (a response to HEAD has no body whatever its headers say)."""
        ...

    def feed(self, data: bytes) -> list[Event]:
        """Parse server bytes; raise ProtocolError on malformed input."""
        ...

    def feed_eof(self) -> list[Event]:
        """The server closed: ends a close-delimited body with END; raises
        ProtocolError when a message was cut short."""
        ...

    def idle(self) -> bool:
        """Between messages with nothing buffered: after a response's END, False means
        the server sent bytes beyond it, and the connection must not be reused."""
        ...


@dataclass(frozen=True, slots=True)
class Limits:
    max_head_size: int = 16384  # request line + headers, bytes -> 431
    max_headers: int = 100  # header fields -> 431
    max_uri_length: int = 8192  # request-target bytes -> 414
