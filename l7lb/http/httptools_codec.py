"""The fast back end: llhttp (through httptools) parses heads in C; bodies are sliced by us.

llhttp is fed exactly one head at a time. We find where a head ends with ``bytes.find`` (the
shared ``framing.find_head_end``, which also applies the head-size limit before the head is
complete) and decide the body framing with the shared rules, then cut the body out of the
stream ourselves: a Content-Length body is one slice per feed, a chunked body goes through
``framing.ChunkedDecoder`` (work per chunk, never per byte). Keeping llhttp away from bodies is
what makes this back end exact where llhttp alone is not:

* llhttp cannot tell us where a message ended inside a buffer (so the next head's size, and
  pipelined requests after a chunked body, would be guesswork);
* httptools' response parser has no notion of a HEAD request, and skips the body of any request
  carrying ``Connection: upgrade`` (an h2c POST would lose its body).

After a head whose body llhttp is still waiting for (or after an upgrade), the llhttp parser is
simply replaced: creating one costs about 0.3 us.

llhttp only validates: it is given no header, URL or status callbacks (each would be a Python
call per field), and once it has accepted a head we split the lines ourselves, which its
grammar makes safe (every line is ``token ":" value`` with CRLF, no folding, no bare CR or LF).
The heads keep those lines, and fields are read from them only when asked for
(``l7lb.http.lines``): most are forwarded without ever becoming a (name, value) pair.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from httptools import (
    HttpParserError,
    HttpParserUpgrade,
    HttpRequestParser,
    HttpResponseParser,
)

from l7lb.http.events import (
    END,
    Data,
    Event,
    Framing,
    Limits,
    ProtocolError,
    RequestHead,
    RequestParser,
    ResponseHead,
    ResponseParser,
    Upgrade,
)
from l7lb.http.framing import (
    ChunkedDecoder,
    find_head_end,
    request_head,
    response_head,
    resume_offset,
    skip_empty_lines,
    whole_head_lines,
)

_HEAD: Final = 0
_LENGTH: Final = 1
_CHUNKED: Final = 2
_CLOSE: Final = 3
_DONE: Final = 4
_DEAD: Final = 5
_CRLF: Final = b"\r\n"


def _body_state(framing: Framing) -> int:
    """The parser state that reads a body framed so (not NONE)."""
    # identity tests, not a dict: hashing an Enum member runs Python code (Enum.__hash__)
    if framing is Framing.LENGTH:
        return _LENGTH
    if framing is Framing.CHUNKED:
        return _CHUNKED
    return _CLOSE


def _request_error_status(exc: Exception) -> int:
    reason = str(exc)
    # llhttp rejects these before our own rules see the head; keep their statuses the same.
    if "Invalid HTTP version" in reason:
        return 505
    if "invalid `transfer-encoding`" in reason.lower():
        return 501
    return 400


def _request(head: bytes, limits: Limits, lines: list[bytes] | None = None) -> RequestHead:
    """The RequestHead of one complete head that llhttp accepted (``lines``: its lines, when
    already split)."""
    if lines is None:
        lines = head.split(_CRLF)
    line = lines[0]
    n = len(line)
    sp1 = 0
    while sp1 < n and line[sp1] != 32:
        sp1 += 1
    sp2 = sp1 + 1
    while sp2 < n and line[sp2] != 32:
        sp2 += 1
    # llhttp tolerates runs of spaces between method and target; RFC 9112 3 and h11 do not.
    # It also skips a bare CR or LF before the method, which would stay in ours (RFC 9112
    # 2.2 only lets a server skip empty lines, CRLF, and skip_empty_lines did).
    if (
        sp1 == 0
        or line[0] == 13
        or line[0] == 10
        or sp2 >= n
        or sp2 == sp1 + 1
        or line[sp2 + 1 : sp2 + 6] != b"HTTP/"
    ):
        raise ProtocolError(400, "invalid request line")  # (llhttp also speaks RTSP)
    version = line[sp2 + 6 :]
    if len(version) != 3:
        raise ProtocolError(400, "invalid request line")
    return request_head(line[:sp1], line[sp1 + 1 : sp2], version, None, limits, head, lines)


def _response(head: bytes, method: bytes, limits: Limits) -> ResponseHead:
    """The ResponseHead of one complete head that llhttp accepted (three-digit status)."""
    lines = head.split(_CRLF)
    line = lines[0]
    if line[:5] != b"HTTP/" or line[8:9] != b" ":
        raise ProtocolError(502, "unsupported protocol from server")
    status = (line[9] - 48) * 100 + (line[10] - 48) * 10 + (line[11] - 48)
    reason = line[13:]  # b"" when the line ends after the code, with or without a space
    return response_head(status, reason, line[5:8], None, method, limits, head, lines)


class _BodyReader:
    """State shared by both directions: the body of the current message, sliced from input."""

    __slots__ = ("_chunked", "_remaining")

    def __init__(self) -> None:
        self._remaining = 0
        self._chunked: ChunkedDecoder | None = None

    def read(self, state: int, data: bytes, events: list[Event]) -> bytes | None:
        """Append the body events found in ``data``; return the bytes after the message, or
        None while the body goes on."""
        if state == _LENGTH:
            r = self._remaining
            n = len(data)
            if n < r:
                if n:
                    events.append(Data(data))
                self._remaining = r - n
                return None
            if r:
                events.append(Data(data if n == r else data[:r]))
            events.append(END)
            return data[r:] if n > r else b""
        if state == _CHUNKED:
            assert self._chunked is not None
            payload, rest = self._chunked.feed(data)
            if payload:
                events.append(Data(payload))
            if rest is None:
                return None
            self._chunked = None
            events.append(END)
            return rest
        # _CLOSE: everything until the server closes
        if data:
            events.append(Data(data))
        return None


class _Completion:
    """What llhttp calls back: it notes that the head it was fed is a whole message.

    llhttp keeps a reference to its callback's object. Were that the codec, which keeps the
    llhttp parser, the two would make a reference cycle, and every closed connection would
    leave its codec, parser and last head for the cyclic garbage collector (whose passes
    then cost several per cent of a resumed TLS connection). This object refers to nothing.
    """

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False

    def on_message_complete(self) -> None:
        self.done = True


class HttptoolsRequestParser(RequestParser):
    """Client bytes in, request events out (see ``l7lb.http.events``)."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._state = _HEAD
        self._buf = b""
        self._search = 0
        self._body = _BodyReader()
        self._llhttp = _Completion()  # set by llhttp when the head it was fed is a whole message
        self._parser = HttpRequestParser(self._llhttp)
        # bound with each new llhttp: calling it skips the lookup by name of every feed
        self._feed = self._parser.feed_data
        self._head: RequestHead | None = None

    # -- RequestParser -----------------------------------------------------------------------

    def feed(self, data: bytes) -> list[Event]:
        state = self._state
        if state == _DONE:
            # RFC 9112 section 9.6: nothing after "close" (or an upgrade) is a request.
            return []
        if state == _DEAD:
            raise ProtocolError(400, "request parser already failed")
        events: list[Event] = []
        try:
            if state != _HEAD:
                rest = self._body.read(state, data, events)
                if rest is None or not self._after_message(rest, events):
                    return events
            elif self._buf:
                self._buf += data
            else:
                self._buf = data
            self._heads(events)
        except ProtocolError:
            self._state = _DEAD
            raise
        return events

    def feed_eof(self) -> list[Event]:
        if self._state == _DONE or (self._state == _HEAD and not self._buf.strip(b"\r\n")):
            return []
        self._state = _DEAD
        raise ProtocolError(400, "client closed in the middle of a request")

    # -- internals ---------------------------------------------------------------------------

    def _heads(self, events: list[Event]) -> None:
        limits = self._limits
        while True:
            buf = self._buf
            if buf[:2] == b"\r\n":
                buf = skip_empty_lines(buf)
                self._search = 0
            lines = whole_head_lines(buf, limits) if self._search == 0 else None
            if lines is not None:
                end = len(buf)
            else:
                end = find_head_end(buf, self._search, limits)
                if end < 0:
                    self._buf = buf
                    self._search = resume_offset(buf)
                    return
            head = buf[:end] if end < len(buf) else buf
            self._llhttp.done = False
            reuse = True
            try:
                self._feed(head)
            except HttpParserUpgrade:
                reuse = False  # llhttp stops after an upgrade head; our framing decides
            except HttpParserError as exc:
                status = _request_error_status(exc)
                if status == 501 and str(exc).startswith("Request has invalid"):
                    # llhttp judged Transfer-Encoding once the head was complete, every line
                    # checked: the shared rules name a fault of version, method or Host first
                    # (not for its "header value" error, raised before the lines after it)
                    _request(head, limits)
                raise ProtocolError(status, str(exc)) from None
            rh = _request(head, limits, lines)
            self._head = rh
            if not (reuse and self._llhttp.done):
                self._parser = HttpRequestParser(self._llhttp)
                self._feed = self._parser.feed_data
            events.append(rh)
            rest = buf[end:] if end < len(buf) else b""
            self._buf = b""
            self._search = 0
            framing = rh.framing
            if framing is Framing.NONE:
                events.append(END)
            else:
                state = _body_state(framing)
                body = self._body
                if state == _LENGTH:
                    body._remaining = rh.content_length
                else:
                    body._chunked = ChunkedDecoder(400, limits.max_head_size)
                self._state = state
                tail = body.read(state, rest, events)
                if tail is None:
                    return
                rest = tail
            if not self._after_message(rest, events):
                return

    def _after_message(self, rest: bytes, events: list[Event]) -> bool:
        """The current message ended with ``rest`` left over; True when more may follow."""
        rh = self._head
        assert rh is not None
        if rh.upgrade:
            events.append(Upgrade(rest))
            self._state = _DONE
            return False
        if not rh.keep_alive:
            self._state = _DONE
            return False
        self._state = _HEAD
        self._buf = rest
        self._search = 0
        return bool(rest)


class HttptoolsResponseParser(ResponseParser):
    """Server bytes in, response events out (see ``l7lb.http.events``)."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._state = _HEAD
        self._buf = b""
        self._search = 0
        self._body = _BodyReader()
        self._llhttp = _Completion()  # set by llhttp when the head it was fed is a whole message
        self._parser = HttpResponseParser(self._llhttp)
        self._feed = self._parser.feed_data  # bound with each new llhttp, as for requests
        self._methods: deque[bytes] = deque()
        self._head: ResponseHead | None = None

    def expect(self, method: bytes) -> None:
        self._methods.append(method)

    # -- ResponseParser ----------------------------------------------------------------------

    def feed(self, data: bytes) -> list[Event]:
        state = self._state
        if state == _DONE:
            return []
        if state == _DEAD:
            raise ProtocolError(502, "response parser already failed")
        events: list[Event] = []
        try:
            if state != _HEAD:
                rest = self._body.read(state, data, events)
                if rest is None or not self._after_message(rest, events):
                    return events
            elif self._buf:
                self._buf += data
            else:
                self._buf = data
            self._heads(events)
        except ProtocolError as exc:
            self._state = _DEAD
            if exc.status != 502:
                raise ProtocolError(502, exc.reason) from None
            raise
        return events

    def idle(self) -> bool:
        return self._state == _HEAD and not self._buf

    def feed_eof(self) -> list[Event]:
        state = self._state
        if state == _DONE or (state == _HEAD and not self._buf.strip(b"\r\n")):
            return []
        if state == _CLOSE:
            self._state = _DONE
            return [END]
        self._state = _DEAD
        raise ProtocolError(502, "server closed in the middle of a response")

    # -- internals ---------------------------------------------------------------------------

    def _heads(self, events: list[Event]) -> None:
        limits = self._limits
        while True:
            buf = self._buf
            if buf[:2] == b"\r\n":  # stray CRLF after a body; llhttp skips it too
                buf = self._buf = skip_empty_lines(buf)
                self._search = 0
            end = find_head_end(buf, self._search, limits)
            if end < 0:
                self._search = resume_offset(buf)
                return
            head = buf[:end] if end < len(buf) else buf
            self._llhttp.done = False
            reuse = True
            try:
                self._feed(head)
            except HttpParserUpgrade:
                reuse = False
            except HttpParserError as exc:
                # llhttp pauses after any 101 head, but httptools only turns that into
                # HttpParserUpgrade when Connection/Upgrade headers were present. Only that
                # pause is let through: a bad byte in a 101 head is an error as in any other.
                if self._parser.get_status_code() != 101 or "Pause on" not in str(exc):
                    raise ProtocolError(502, str(exc)) from None
                reuse = False
            method = self._methods[0] if self._methods else b"GET"
            rh = _response(head, method, limits)
            self._head = rh
            rest = buf[end:] if end < len(buf) else b""
            if not reuse or not (self._llhttp.done or self._body_to_llhttp(rh, rest)):
                # e.g. a HEAD response announcing a length: llhttp now waits for a body
                self._parser = HttpResponseParser(self._llhttp)
                self._feed = self._parser.feed_data
            if rh.status >= 200 and self._methods:
                self._methods.popleft()
            events.append(rh)
            self._buf = b""
            self._search = 0
            framing = rh.framing
            if framing is Framing.NONE:
                events.append(END)
            else:
                state = _body_state(framing)
                body = self._body
                if state == _LENGTH:
                    body._remaining = rh.content_length
                elif state == _CHUNKED:
                    body._chunked = ChunkedDecoder(502, limits.max_head_size)
                self._state = state
                tail = body.read(state, rest, events)
                if tail is None:
                    return
                rest = tail
            if not self._after_message(rest, events):
                return

    def _body_to_llhttp(self, rh: ResponseHead, rest: bytes) -> bool:
        """llhttp waits for the body of ``rh`` after its head; True when the whole body is in
        ``rest`` and, given to llhttp, ends its message: the parser can then read the next
        head, where a new one would cost twice as much (its set-up looks up every callback
        it could call by name). Only a Content-Length body, as we framed it too: anything
        else (a HEAD response, say, which llhttp cannot tell) gets a new parser."""
        length = rh.content_length
        if rh.framing is not Framing.LENGTH or len(rest) < length:
            return False
        try:
            self._feed(rest if len(rest) == length else rest[:length])
        except HttpParserError:
            return False
        return self._llhttp.done

    def _after_message(self, rest: bytes, events: list[Event]) -> bool:
        rh = self._head
        assert rh is not None
        if rh.status == 101:
            events.append(Upgrade(rest))
            self._state = _DONE
            return False
        if not rh.keep_alive and rh.status >= 200:
            self._state = _DONE
            return False
        self._state = _HEAD
        self._buf = rest
        self._search = 0
        return bool(rest)
