"""The strict reference back end: h11 parses every head and body.

h11 is a connection state machine that also wants to see our side of the exchange. We use it
as a parser only: each message gets a fresh ``h11.Connection`` fed exactly that message's bytes
(heads are located by ``framing.find_head_end``, shared with the fast back end so both apply
the head-size limit at the same byte), and whatever h11 leaves unread after the message's end
(``trailing_data``) starts the next one. A response parser tells its fresh connection which
request it answers by sending a synthetic request through it first.

Where h11 is more lenient than llhttp (bare LF line ends, obs-fold, control characters in
values, a repeated Content-Length that h11 silently merges) we check the raw head ourselves, so
the two back ends answer hostile input with the same status.

A chunked body goes through ``framing.ChunkedDecoder`` (the fast back end's decoder) before h11
sees it: h11 waits for a CRLF that a bare LF never brings, accepts any chunk extension and
sizes of up to 20 digits, where the decoder refuses each malformed shape in the feed that
brings it. h11 still decodes the body, and a feed where the two read it differently is
refused: that is what a smuggling attempt looks like.
"""

from __future__ import annotations

import re
from collections import deque

import h11

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
    check_fields,
    find_head_end,
    request_head,
    response_head,
    resume_offset,
    skip_empty_lines,
    transfer_codings,
)

_HEAD, _BODY, _DONE, _DEAD = range(4)

_CL_RAW_RE = re.compile(rb"(?im)^content-length[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$")
_TE_NAME_RE = re.compile(rb"(?im)^transfer-encoding(?=[ \t]*:)")
_TE_RAW_RE = re.compile(rb"(?im)^transfer-encoding[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$")
_HIDDEN_TE = b"x-l7lb-hidden-te"  # same role, a name h11 does not interpret
_HOST_NAME_RE = re.compile(rb"(?im)^host(?=[ \t]*:)")
_HIDDEN_HOST = b"x-l7lb-hidden-host"
_SYNTHETIC_HOST = b"Host: l7lb\r\n"
_UNHIDE = {_HIDDEN_TE: b"transfer-encoding", _HIDDEN_HOST: b"host"}
# The methods llhttp (httptools 0.9) parses in a request; it answers any other token with an
# error, where h11 takes any token. Refusing the rest here too keeps the back ends one proxy
# (found by fuzzing: "GGET" reached the backend with h11 only). RFC 9110 section 9.1 allows
# extension methods; a realserver that needs another one needs this list extended in both.
# tests/http/test_codec_conformance.py checks the list against llhttp.
LLHTTP_METHODS = frozenset(
    b"DELETE GET HEAD POST PUT CONNECT OPTIONS TRACE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH "
    b"SEARCH UNLOCK BIND REBIND UNBIND ACL REPORT MKACTIVITY CHECKOUT MERGE M-SEARCH NOTIFY "
    b"SUBSCRIBE UNSUBSCRIBE PATCH PURGE MKCALENDAR LINK UNLINK SOURCE QUERY".split()
)
# method SP target SP "HTTP/" digit "." digit: what llhttp reads before any header. A target
# of other bytes than VCHAR llhttp (and h11) refuse before the version: 400, not judged here.
_REQUEST_LINE_RE = re.compile(rb"([^ \r\n]*) (?:([\x21-\x7e]*) HTTP/([0-9]\.[0-9]))?")
# the versions llhttp reads in a request line (the shared rules then refuse 0.9 and 2.0, 505);
# None: no version where one belongs, and h11 refuses the line (400) as llhttp does
_LLHTTP_VERSIONS = frozenset((b"0.9", b"1.0", b"1.1", b"2.0", None))
_EMPTY_TE_RE = re.compile(rb"(?im)^transfer-encoding[ \t]*:[ \t]*\r?$")
_SYNTHETIC_HEADERS = [(b"host", b"l7lb"), (b"connection", b"upgrade"), (b"upgrade", b"l7lb")]


def _strict_raw_checks(head: bytes, status: int) -> None:
    """Reject what llhttp rejects but h11 tolerates, looking at the raw head bytes."""
    if head.count(b"\n") != head.count(b"\r\n"):
        raise ProtocolError(status, "bare LF or CR in head")
    if b"\n " in head or b"\n\t" in head:
        # RFC 9112 section 5.2: obs-fold; h11 would join the lines.
        raise ProtocolError(status, "obsolete line folding")
    if len(_CL_RAW_RE.findall(head)) > 1:
        raise ProtocolError(status, "several Content-Length values")
    if _EMPTY_TE_RE.search(head) is not None:
        # llhttp: "Empty Transfer-Encoding", while reading the headers (found by fuzzing)
        raise ProtocolError(status, "empty Transfer-Encoding")


def _request_line_checks(head: bytes) -> None:
    """llhttp judges the request line before it reads a header: an unknown method (400) or a
    version it does not parse (505) is refused whatever the headers hold. h11 reads the
    headers first, so check these first (found by fuzzing: 400 against 505)."""
    m = _REQUEST_LINE_RE.match(head)
    if m is None:
        return  # no space after a method: h11 refuses it (400), as llhttp does
    if m.group(1) not in LLHTTP_METHODS:
        raise ProtocolError(400, "unknown method")
    if m.group(3) not in _LLHTTP_VERSIONS:
        raise ProtocolError(505, "HTTP version not supported")


def _headers_of(
    ev: h11.Request | h11.Response | h11.InformationalResponse,
) -> list[tuple[bytes, bytes]]:
    return [(name, value) for name, value in ev.headers]


def _raw_content_length_matches(
    head: bytes, headers: list[tuple[bytes, bytes]], status: int
) -> None:
    # h11 turns "Content-Length: 5, 5" into "5"; the shared rules refuse lists, so compare.
    raw = _CL_RAW_RE.findall(head)
    if raw and [v for n, v in headers if n == b"content-length"] != raw:
        raise ProtocolError(status, "invalid Content-Length")


def _chunk_gate(
    head: RequestHead | ResponseHead, status: int, limits: Limits
) -> ChunkedDecoder | None:
    if head.framing is Framing.CHUNKED:
        return ChunkedDecoder(status, limits.max_head_size)
    return None


def _body(
    conn: h11.Connection,
    gate: ChunkedDecoder | None,
    data: bytes,
    events: list[Event],
    status: int,
) -> bytes | None:
    """Feed body bytes to ``conn`` (through ``gate`` first for a chunked body) and move its
    events out; return the bytes after the message once it ends."""
    if gate is None:
        if data:  # h11 takes b"" as end of input
            conn.receive_data(data)
        return _pump(conn, events)
    payload, gate_rest = gate.feed(data)  # raises for every malformed shape, at once
    if data:
        conn.receive_data(data)
    mark = len(events)
    rest = _pump(conn, events)
    got = b"".join([ev.data for ev in events[mark:] if type(ev) is Data])
    if got != payload or rest != gate_rest:
        raise ProtocolError(status, "chunked body read two ways")
    return rest


def _raw_transfer_encoding(
    head: bytes, headers: list[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    """h11 lower-cases a Transfer-Encoding value ("Chunked" becomes "chunked"); the events
    carry the bytes as sent, as with llhttp (found by fuzzing)."""
    if not any(n == b"transfer-encoding" for n, _ in headers):
        return headers
    raw = iter(_TE_RAW_RE.findall(head))
    return [(n, next(raw, v) if n == b"transfer-encoding" else v) for n, v in headers]


def _pump(conn: h11.Connection, events: list[Event]) -> bytes | None:
    """Move body events out of ``conn``; return the bytes after the message once it ends."""
    pieces: list[bytes] = []
    while True:
        ev = conn.next_event()
        if type(ev) is h11.Data:
            pieces.append(bytes(ev.data))
            continue
        if pieces:
            events.append(Data(b"".join(pieces)))
            pieces = []
        if type(ev) is h11.EndOfMessage:
            events.append(END)
            return conn.trailing_data[0]
        if ev is h11.NEED_DATA or ev is h11.PAUSED or type(ev) is h11.ConnectionClosed:
            return None
        raise ProtocolError(400, f"unexpected h11 event {ev!r}")  # pragma: no cover


class H11RequestParser(RequestParser):
    """Client bytes in, request events out (see ``l7lb.http.events``)."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._state = _HEAD
        self._buf = b""
        self._search = 0
        self._conn: h11.Connection | None = None
        self._gate: ChunkedDecoder | None = None
        self._head: RequestHead | None = None

    def feed(self, data: bytes) -> list[Event]:
        if self._state == _DONE:
            # RFC 9112 section 9.6: nothing after "close" (or an upgrade) is a request.
            return []
        if self._state == _DEAD:
            raise ProtocolError(400, "request parser already failed")
        try:
            return self._run(data)
        except ProtocolError:
            self._state = _DEAD
            raise
        except h11.RemoteProtocolError as exc:
            self._state = _DEAD
            raise ProtocolError(exc.error_status_hint, str(exc)) from None

    def feed_eof(self) -> list[Event]:
        if self._state == _HEAD and not self._buf.strip(b"\r\n"):
            return []
        if self._state == _DONE:
            return []
        self._state = _DEAD
        raise ProtocolError(400, "client closed in the middle of a request")

    def _run(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        if self._state == _BODY:
            assert self._conn is not None and self._head is not None
            rest = _body(self._conn, self._gate, data, events, 400)
            if rest is None:
                return events
            if not self._after_message(self._head, rest, events):
                return events
        else:
            self._buf += data
        limits = self._limits
        while True:
            buf = skip_empty_lines(self._buf)
            end = find_head_end(buf, self._search if buf is self._buf else 0, limits)
            if end < 0:
                self._buf = buf
                self._search = resume_offset(buf)
                return events
            head = buf[:end]
            if head[0] == 13 or head[0] == 10:
                # RFC 9112 section 2.2: only empty lines (CRLF) may come before a request
                # line; a bare CR or LF there is refused, as by the httptools back end
                raise ProtocolError(400, "invalid request line")
            _request_line_checks(head)
            _strict_raw_checks(head, 400)
            conn, ev, headers = self._parse_head(head)
            headers = _raw_transfer_encoding(head, headers)
            check_fields(headers, 400)
            _raw_content_length_matches(head, headers, 400)
            rh = request_head(
                ev.method, ev.target, ev.http_version, headers, limits, head, head.split(b"\r\n")
            )
            events.append(rh)
            self._buf = b""
            self._search = 0
            self._gate = _chunk_gate(rh, 400, limits)
            rest = _body(conn, self._gate, buf[end:], events, 400)
            if rest is None:
                self._state = _BODY
                self._conn = conn
                self._head = rh
                return events
            if not self._after_message(rh, rest, events):
                return events

    def _parse_head(
        self, head: bytes
    ) -> tuple[h11.Connection, h11.Request, list[tuple[bytes, bytes]]]:
        """h11's parse of one request head, with its headers as the shared rules must see
        them. h11 applies two rules of its own while parsing, before anything else: one
        "chunked" Transfer-Encoding only (501) and exactly one Host (400). With llhttp the
        shared rules see the head first and check the version, the limits and the method
        before those (found by fuzzing: 501 or 400 against 505 or 431). So when h11 refuses
        for either reason, the header is hidden from it and the shared rules judge it in
        their turn."""
        size = self._limits.max_head_size  # for the body: the head is whole already
        hide_te = hide_host = False
        while True:
            raw = head
            if hide_te:
                raw = _TE_NAME_RE.sub(_HIDDEN_TE, raw)
            if hide_host:
                # h11 also insists on a Host in HTTP/1.1: give it one, dropped below
                raw = _HOST_NAME_RE.sub(_HIDDEN_HOST, raw)[:-2] + _SYNTHETIC_HOST + b"\r\n"
            conn = h11.Connection(h11.SERVER, max_incomplete_event_size=size)
            conn.receive_data(raw)
            try:
                ev = conn.next_event()
            except h11.RemoteProtocolError as exc:
                if exc.error_status_hint == 501 and not hide_te:
                    hide_te = True
                    continue
                if "Host: header" in str(exc) and not hide_host:
                    hide_host = True
                    continue
                raise
            assert type(ev) is h11.Request
            headers = _headers_of(ev)
            if hide_host:
                assert headers[-1][0] == b"host"
                del headers[-1]
            return conn, ev, [(_UNHIDE.get(n, n), v) for n, v in headers]

    def _after_message(self, rh: RequestHead, rest: bytes, events: list[Event]) -> bool:
        """Finish a message; True when more requests may follow on this connection."""
        self._conn = None
        self._gate = None
        self._head = None
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
        return True


class H11ResponseParser(ResponseParser):
    """Server bytes in, response events out (see ``l7lb.http.events``)."""

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._state = _HEAD
        self._buf = b""
        self._search = 0
        self._methods: deque[bytes] = deque()
        self._conn: h11.Connection | None = None
        self._gate: ChunkedDecoder | None = None
        self._head: ResponseHead | None = None

    def expect(self, method: bytes) -> None:
        self._methods.append(method)

    def feed(self, data: bytes) -> list[Event]:
        if self._state == _DONE:
            return []
        if self._state == _DEAD:
            raise ProtocolError(502, "response parser already failed")
        try:
            return self._run(data)
        except ProtocolError as exc:
            self._state = _DEAD
            if exc.status != 502:
                raise ProtocolError(502, exc.reason) from None
            raise
        except h11.RemoteProtocolError as exc:
            self._state = _DEAD
            raise ProtocolError(502, str(exc)) from None

    def idle(self) -> bool:
        return self._state == _HEAD and not self._buf

    def feed_eof(self) -> list[Event]:
        if self._state == _DONE or (self._state == _HEAD and not self._buf.strip(b"\r\n")):
            return []
        if self._state == _BODY and self._head is not None and self._head.framing is Framing.CLOSE:
            self._state = _DONE
            return [END]
        self._state = _DEAD
        raise ProtocolError(502, "server closed in the middle of a response")

    def _parse_head(
        self, head: bytes, method: bytes
    ) -> tuple[h11.Connection, h11.Response | h11.InformationalResponse]:
        conn = self._client_conn(method)
        conn.receive_data(head)
        hidden = b""
        try:
            ev = conn.next_event()
        except h11.RemoteProtocolError as exc:
            if exc.error_status_hint != 501:
                raise
            # h11 refuses any Transfer-Encoding but chunked; RFC 9112 section 6.3 says such a
            # response body runs until close. Hide the header from h11 (it then reads until
            # close) and let the shared rules decide.
            hidden = _TE_NAME_RE.sub(_HIDDEN_TE, head)
            conn = self._client_conn(method)
            conn.receive_data(hidden)
            ev = conn.next_event()
        if not isinstance(ev, h11.Response | h11.InformationalResponse):  # pragma: no cover
            raise ProtocolError(502, "no response head")
        if hidden:
            codings = transfer_codings([v for n, v in ev.headers if n == _HIDDEN_TE])
            if codings and codings[-1] == b"chunked":
                # "gzip, chunked": the shared rules read the body chunked (the last coding
                # decides), so h11 must read it so too: tell it only that (found by fuzzing)
                conn = self._client_conn(method)
                conn.receive_data(hidden[:-2] + b"Transfer-Encoding: chunked\r\n\r\n")
                conn.next_event()
        return conn, ev

    def _client_conn(self, method: bytes) -> h11.Connection:
        conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=self._limits.max_head_size)
        conn.send(h11.Request(method=method, target=b"/", headers=_SYNTHETIC_HEADERS))
        conn.send(h11.EndOfMessage())
        return conn

    def _run(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        if self._state == _BODY:
            assert self._conn is not None and self._head is not None
            rest = _body(self._conn, self._gate, data, events, 502)
            if rest is None:
                return events
            if not self._after_message(self._head, rest, events):
                return events
        else:
            self._buf += data
        limits = self._limits
        while True:
            buf = self._buf
            if buf[:2] == b"\r\n":  # stray CRLF after a body: skip as llhttp does
                buf = self._buf = skip_empty_lines(buf)
                self._search = 0
            end = find_head_end(buf, self._search, limits)
            if end < 0:
                self._search = resume_offset(buf)
                return events
            head = buf[:end]
            if head[0] == 13 or head[0] == 10:  # a bare CR or LF (see the request parser)
                raise ProtocolError(502, "invalid status line from server")
            _strict_raw_checks(head, 502)
            method = self._methods[0] if self._methods else b"GET"
            conn, ev = self._parse_head(head, method)
            # restore the name hidden from h11 (see _parse_head)
            headers = _raw_transfer_encoding(
                head,
                [(b"transfer-encoding" if n == _HIDDEN_TE else n, v) for n, v in _headers_of(ev)],
            )
            if type(ev) is h11.InformationalResponse:
                check_fields(headers, 502)
                rh = response_head(
                    ev.status_code,
                    bytes(ev.reason),
                    ev.http_version,
                    headers,
                    method,
                    limits,
                    head,
                    head.split(b"\r\n"),
                )
                events.append(rh)
                events.append(END)
                if not self._after_message(rh, buf[end:], events):
                    return events
                continue
            if self._methods:
                self._methods.popleft()
            check_fields(headers, 502)
            _raw_content_length_matches(head, headers, 502)
            rh = response_head(
                ev.status_code,
                bytes(ev.reason),
                ev.http_version,
                headers,
                method,
                limits,
                head,
                head.split(b"\r\n"),
            )
            events.append(rh)
            self._buf = b""
            self._search = 0
            self._gate = _chunk_gate(rh, 502, limits)
            rest = _body(conn, self._gate, buf[end:], events, 502)
            if rest is None:
                self._state = _BODY
                self._conn = conn
                self._head = rh
                return events
            if not self._after_message(rh, rest, events):
                return events

    def _after_message(self, rh: ResponseHead, rest: bytes, events: list[Event]) -> bool:
        self._conn = None
        self._gate = None
        self._head = None
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
        return True
