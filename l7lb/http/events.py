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
from typing import Final

from mypy_extensions import mypyc_attr

from l7lb.http.lines import Headers, all_fields, fields_named


class Framing(enum.Enum):
    """How a message body is delimited on the wire (RFC 9112 section 6.3)."""

    NONE = "none"  # no body: GET without length, HEAD/1xx/204/304 responses
    LENGTH = "length"  # Content-Length
    CHUNKED = "chunked"  # Transfer-Encoding: chunked
    CLOSE = "close"  # responses only: the body ends when the server closes


_NOTHING: Final[frozenset[bytes]] = frozenset()

# The events are plain classes, not dataclasses: mypyc compiles their __init__, where a
# dataclass's generated one would run as interpreted Python for every head and every read.


class _Fields:
    """A head's fields: its header list, or the lines of the HTTP/1.x head it came as, from
    which a field is read only when asked for (``l7lb.http.lines``)."""

    __slots__ = ("_headers", "lines", "raw")

    _headers: Headers | None  # None: built from ``lines`` when first asked for
    lines: list[bytes] | None
    raw: bytes

    @property
    def headers(self) -> Headers:
        """Every field: names lower-cased, values without surrounding whitespace, in order."""
        headers = self._headers
        if headers is None:
            assert self.lines is not None, "a head without a header list has its lines"
            headers = self._headers = all_fields(self.raw, self.lines)
        return headers

    def fields(self, name: bytes) -> Headers:
        """The fields called ``name`` (lower case), in order, read without building the
        whole header list when it is not built yet."""
        headers = self._headers
        if headers is None:
            assert self.lines is not None, "a head without a header list has its lines"
            return fields_named(self.lines, name)
        return [h for h in headers if h[0] == name]


class RequestHead(_Fields):
    __slots__ = (
        "content_length",
        "dropped",
        "expect_continue",
        "framing",
        "host",
        "keep_alive",
        "method",
        "rebuilt",
        "target",
        "upgrade",
        "version",
    )

    def __init__(
        self,
        method: bytes,
        target: bytes,
        version: bytes,
        headers: Headers | None,
        framing: Framing,
        content_length: int,
        keep_alive: bool,
        upgrade: bool,
        expect_continue: bool,
        host: bytes = b"",
        raw: bytes = b"",
        lines: list[bytes] | None = None,
        rebuilt: list[bytes] | None = None,
        dropped: frozenset[bytes] = _NOTHING,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version  # b"1.0" or b"1.1"
        self._headers = headers  # None: built from ``lines`` when first asked for
        self.framing = framing
        self.content_length = content_length  # >= 0 when framing is LENGTH, else -1
        self.keep_alive = keep_alive  # what the client asked for (version + Connection)
        self.upgrade = upgrade  # Connection: upgrade with an Upgrade header
        self.expect_continue = expect_continue  # Expect: 100-continue
        # The host the client asked for: an absolute-form target's authority, else the one
        # Host value, else b"" (HTTP/1.0 without Host); checked by ``l7lb.http.authority``.
        self.host = host
        # The head as received, request line to blank line, when it came as HTTP/1.x bytes
        # (b"" otherwise), and its lines (``raw.split(CRLF)``: the start line, one per field
        # as ``headers`` has them, two empty ones; None without ``raw``): forwarding splices
        # these instead of serialising the header list again.
        self.raw = raw
        self.lines = lines
        # One name per field of the head that the proxy must not forward as received
        # (``l7lb.http.fields.REQUEST_REBUILT``, Host of an absolute-form request, and what
        # Connection lists), in order; None when there is none.
        self.rebuilt = rebuilt
        # The field names Connection lists beyond the hop-by-hop ones: dropped, never merged
        self.dropped = dropped

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RequestHead):
            return NotImplemented
        return _fields_of(self) == _fields_of(other)

    def __repr__(self) -> str:
        return _repr(self)


class ResponseHead(_Fields):
    __slots__ = (
        "content_length",
        "dropped",
        "framing",
        "keep_alive",
        "reason",
        "rebuilt",
        "status",
        "version",
    )

    def __init__(
        self,
        status: int,
        reason: bytes,
        version: bytes,
        headers: Headers | None,
        framing: Framing,
        content_length: int,
        keep_alive: bool,
        raw: bytes = b"",
        lines: list[bytes] | None = None,
        rebuilt: list[bytes] | None = None,
        dropped: frozenset[bytes] = _NOTHING,
    ) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self._headers = headers  # None: built from ``lines`` when first asked for
        self.framing = framing
        self.content_length = content_length
        self.keep_alive = keep_alive  # the server keeps the connection open after this
        self.raw = raw  # see RequestHead.raw and lines
        self.lines = lines
        # One name per field in ``l7lb.http.fields.RESPONSE_REBUILT`` (and what Connection
        # lists, and a Content-Length a 1xx or 204 must not carry), in order; None when none.
        self.rebuilt = rebuilt
        self.dropped = dropped  # see RequestHead.dropped

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ResponseHead):
            return NotImplemented
        return _fields_of(self) == _fields_of(other)

    def __repr__(self) -> str:
        return _repr(self)


def _fields_of(head: RequestHead | ResponseHead) -> list[object]:
    return [getattr(head, name) for name in _ORDER[type(head).__name__]]


def _repr(head: RequestHead | ResponseHead) -> str:
    cls = type(head).__name__
    inner = ", ".join(f"{name}={getattr(head, name)!r}" for name in _ORDER[cls])
    return f"{cls}({inner})"


_ORDER: Final = {
    "RequestHead": (
        "method",
        "target",
        "version",
        "headers",
        "framing",
        "content_length",
        "keep_alive",
        "upgrade",
        "expect_continue",
        "host",
        "raw",
        "lines",
        "rebuilt",
        "dropped",
    ),
    "ResponseHead": (
        "status",
        "reason",
        "version",
        "headers",
        "framing",
        "content_length",
        "keep_alive",
        "raw",
        "lines",
        "rebuilt",
        "dropped",
    ),
}


class Data:
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Data):
            return NotImplemented
        return self.data == other.data

    def __repr__(self) -> str:
        return f"Data(data={self.data!r})"


class EndOfMessage:
    """The current message is complete (the singleton ``END``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


END: Final = EndOfMessage()


class Upgrade:
    """The connection leaves HTTP: ``tail`` holds the bytes after the head.

    A request parser emits it after the END of a request whose ``upgrade`` is
    true; a response parser after the END of a 101 response. The parser must not
    be fed afterwards: the caller tunnels the raw bytes.
    """

    __slots__ = ("tail",)

    def __init__(self, tail: bytes) -> None:
        self.tail = tail

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Upgrade):
            return NotImplemented
        return self.tail == other.tail

    def __repr__(self) -> str:
        return f"Upgrade(tail={self.tail!r})"


Event = RequestHead | ResponseHead | Data | EndOfMessage | Upgrade


class ProtocolError(Exception):
    """Malformed or over-limit input. ``status`` is what to answer a client."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# The parser interfaces are base classes, not Protocols: compiled callers reach a compiled
# back end's methods through a table (a Protocol's go by name, ~250 instructions more a
# call), and the h11 back end, interpreted, may still subclass them.


@mypyc_attr(allow_interpreted_subclasses=True)
class RequestParser:
    def feed(self, data: bytes) -> list[Event]:
        """Parse client bytes; raise ProtocolError on malformed input. The list is a new
        one, the caller's to keep (the HTTP/1.1 engine queues it as it is)."""
        raise NotImplementedError

    def feed_eof(self) -> list[Event]:
        """The client closed. Raise ProtocolError if a message was cut short."""
        raise NotImplementedError


@mypyc_attr(allow_interpreted_subclasses=True)
class ResponseParser:
    def expect(self, method: bytes) -> None:
        """Announce the method of the request the next response answers
        (a response to HEAD has no body whatever its headers say)."""
        raise NotImplementedError

    def feed(self, data: bytes) -> list[Event]:
        """Parse server bytes; raise ProtocolError on malformed input."""
        raise NotImplementedError

    def feed_eof(self) -> list[Event]:
        """The server closed: ends a close-delimited body with END; raises
        ProtocolError when a message was cut short."""
        raise NotImplementedError

    def idle(self) -> bool:
        """Between messages with nothing buffered: after a response's END, False means
        the server sent bytes beyond it, and the connection must not be reused."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Limits:
    max_head_size: int = 16384  # request line + headers, bytes -> 431
    max_headers: int = 100  # header fields -> 431
    max_uri_length: int = 8192  # request-target bytes -> 414
