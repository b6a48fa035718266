"""Message framing shared by both codec back ends: where a head ends, what a head means for the
body that follows (RFC 9112 section 6), and the chunked transfer coding.

Both back ends locate heads with ``find_head_end`` and turn parsed heads into events with
``request_head`` / ``response_head``, so the size limits, the request-smuggling rules
(Content-Length vs Transfer-Encoding) and keep-alive / upgrade decisions are made in this one
place and cannot drift apart between h11 and httptools.
"""

from __future__ import annotations

import re
from typing import Final

from l7lb.http.authority import check_authority, check_target
from l7lb.http.events import Framing, Limits, ProtocolError, RequestHead, ResponseHead
from l7lb.http.fields import NOT_EXTRA, REQUEST_REBUILT, RESPONSE_REBUILT
from l7lb.http.lines import Headers, NameSet, all_fields, notable_fields

_CRLF: Final = b"\r\n"
_CRLF2: Final = b"\r\n\r\n"

# Headers whose values decide framing or connection handling; everything else passes untouched.
_CONTENT_LENGTH: Final = b"content-length"
_TRANSFER_ENCODING: Final = b"transfer-encoding"
_HOST: Final = b"host"
_CONNECTION: Final = b"connection"
_UPGRADE: Final = b"upgrade"
_EXPECT: Final = b"expect"
_SPECIAL: Final = frozenset(
    (_CONTENT_LENGTH, _TRANSFER_ENCODING, _HOST, _CONNECTION, _UPGRADE, _EXPECT)
)
# What the one walk over a head stops at: framing fields and the ones the proxy rebuilds.
_REQUEST_NOTABLE: Final = _SPECIAL | REQUEST_REBUILT
_RESPONSE_NOTABLE: Final = frozenset((_CONTENT_LENGTH, _TRANSFER_ENCODING, _CONNECTION)) | (
    RESPONSE_REBUILT
)


_REQUEST_NAMES: Final = NameSet(_REQUEST_NOTABLE)
_RESPONSE_NAMES: Final = NameSet(_RESPONSE_NOTABLE)

# RFC 9110 section 5.6.2: tchar. Used for header names and chunk extensions.
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE: Final = re.compile(_TOKEN)
# A field value: visible chars, obs-text, SP and HTAB; never NUL, CR, LF or other controls.
_VALUE_RE: Final = re.compile(rb"[^\x00-\x08\x0a-\x1f\x7f]*")
# RFC 9112 section 4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ) (empty allowed too)
_REASON_RE: Final = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")


def _walked(headers: Headers | None, lines: list[bytes] | None, notable: NameSet) -> Headers:
    """What the walk over a head looks at: its fields named in ``notable``, in order, from
    its header list or (a head read from its lines) from those lines."""
    if headers is not None:
        return [field for field in headers if notable.has(field[0])]
    assert lines is not None, "a head without a header list has its lines"
    return notable_fields(lines, notable)


def _field_count(lines: list[bytes] | None) -> int:
    """How many fields a head split into ``lines`` has (its start line and the two empty
    lines of the blank line are not fields)."""
    assert lines is not None, "a head without a header list has its lines"
    return len(lines) - 3


def find_head_end(buf: bytes, start: int, limits: Limits) -> int:
    """Return the offset just past the blank line that ends the head starting at 0, or -1.

    ``start`` is where to resume the search (bytes already searched need not be scanned again).
    Raises 431 as soon as the head is known to exceed ``limits.max_head_size``, complete or not,
    so a client cannot make us buffer an unbounded head.
    """
    i = buf.find(_CRLF2, start)
    if i < 0:
        if len(buf) > limits.max_head_size:
            raise ProtocolError(431, "head too large")
        return -1
    end = i + 4
    if end > limits.max_head_size:
        raise ProtocolError(431, "head too large")
    return end


def whole_head_lines(buf: bytes, limits: Limits) -> list[bytes] | None:
    """When ``buf`` is exactly one complete head (the usual request: it ends with the blank
    line and holds no earlier one), its lines, split at CRLF as the codec splits a head
    (the start line, the fields, two empty ones); otherwise None, and ``find_head_end``
    decides. The split is needed anyway, so this saves the search for the blank line."""
    n = len(buf)
    if n > limits.max_head_size or not buf.endswith(_CRLF2):
        return None
    lines = buf.split(_CRLF)
    for k in range(1, len(lines) - 2):
        if not lines[k]:
            return None  # an earlier blank line: more than one head (pipelining)
    return lines


def resume_offset(buf: bytes) -> int:
    """Where to restart ``find_head_end`` once more bytes arrive after ``buf``."""
    return len(buf) - 3 if len(buf) > 3 else 0


def skip_empty_lines(buf: bytes) -> bytes:
    """Drop empty lines before a request line (RFC 9112 section 2.2: a server SHOULD ignore
    at least one; some old clients send CRLF after a POST body)."""
    while buf[:2] == b"\r\n":
        buf = buf[2:]
    return buf


# Browsers send a handful of distinct Connection values; remembering their parse saves a
# split/strip/lower per request. Bounded so hostile values cannot grow it.
_TOKENS_CACHE: Final[dict[bytes, frozenset[bytes]]] = {}
_NOTHING: Final[frozenset[bytes]] = frozenset()
_TOKENS_CACHE_MAX: Final = 64
_EXTRA_CACHE: Final[dict[frozenset[bytes], frozenset[bytes]]] = {}
_KEEP_ALIVE: Final = frozenset([b"keep-alive"])
_CLOSE: Final = frozenset([b"close"])
# Clients send a handful of distinct Host values; remember the ones that passed the authority
# check (a bounded set: an attacker's inventions are checked every time).
_HOSTS_OK: Final[set[bytes]] = set()
_HOSTS_OK_MAX: Final = 256


def _split_tokens(value: bytes) -> frozenset[bytes]:
    # the two values nearly every Connection field holds, compared before the cache (whose
    # lookup hashes the new bytes object first)
    if value == b"keep-alive" or value == b"Keep-Alive":
        return _KEEP_ALIVE
    if value == b"close" or value == b"Close":
        return _CLOSE
    tokens = _TOKENS_CACHE.get(value)
    if tokens is None:
        # one token per list element, OWS around it removed: "keep-al ive" is no
        # "keep-alive" (found by fuzzing: llhttp and we disagreed on keep-alive)
        tokens = frozenset([t for t in [e.strip(b" \t") for e in value.lower().split(b",")] if t])
        if len(_TOKENS_CACHE) < _TOKENS_CACHE_MAX:
            _TOKENS_CACHE[value] = tokens
    return tokens


def _connection_tokens(values: list[bytes]) -> frozenset[bytes]:
    if len(values) == 1:
        return _split_tokens(values[0])
    return frozenset().union(*[_split_tokens(v) for v in values])


def _content_length(values: list[bytes], status: int) -> int:
    # RFC 9112 section 6.3 item 5: several differing lengths are unrecoverable. We go further
    # and refuse any repetition or list (as llhttp and nginx do): a smuggling attempt is far
    # likelier than an honest client repeating the header.
    if len(values) != 1:
        raise ProtocolError(status, "several Content-Length values")
    v = values[0]
    n = len(v)
    if not 0 < n <= 18:  # 18 digits: below 2**63, no overflow games
        raise ProtocolError(status, "invalid Content-Length")
    length = 0
    for c in v:  # a loop over the digits: cheaper than a regex and int() from compiled code
        if c < 48 or c > 57:
            raise ProtocolError(status, "invalid Content-Length")
        length = length * 10 + (c - 48)
    return length


def transfer_codings(values: list[bytes]) -> list[bytes]:
    """The transfer codings of Transfer-Encoding field values, in order, lower-cased."""
    return [c.strip(b" \t").lower() for v in values for c in v.split(b",")]


def check_fields(headers: list[tuple[bytes, bytes]], status: int) -> None:
    """Validate field syntax for a back end that does not enforce it itself (h11 accepts
    control characters in values). llhttp enforces exactly these rules in C."""
    for name, value in headers:
        if _TOKEN_RE.fullmatch(name) is None:
            raise ProtocolError(status, "invalid header name")
        if _VALUE_RE.fullmatch(value) is None:
            raise ProtocolError(status, "invalid character in header value")


def _listed(
    headers: Headers | None,
    raw: bytes,
    lines: list[bytes] | None,
    tokens: frozenset[bytes],
    rebuilt: list[bytes] | None,
    noted: frozenset[bytes],
) -> tuple[frozenset[bytes], list[bytes] | None]:
    """The fields a Connection header names beyond the standard hop-by-hop ones (RFC 9110
    7.6.1: a client must not be able to smuggle a field past the proxy, or strip one, by
    listing it there), and ``rebuilt`` with the ones not noted yet. Rare: only then is the
    header list walked a second time."""
    if tokens is _KEEP_ALIVE or tokens is _CLOSE:  # hop-by-hop: nothing extra
        return _NOTHING, rebuilt
    extra = _EXTRA_CACHE.get(tokens)
    if extra is None:
        extra = tokens - NOT_EXTRA
        if len(_EXTRA_CACHE) < _TOKENS_CACHE_MAX:
            _EXTRA_CACHE[tokens] = extra
    if not extra:
        return _NOTHING, rebuilt
    if headers is None:  # a head read from its lines (see request_head)
        assert lines is not None
        headers = all_fields(raw, lines)
    out = [] if rebuilt is None else rebuilt
    for name, _ in headers:
        if name in extra and name not in noted:
            out.append(name)
    return extra, (out or None)


def request_head(
    method: bytes,
    target: bytes,
    version: bytes,
    headers: Headers | None,
    limits: Limits,
    raw: bytes = b"",
    lines: list[bytes] | None = None,
) -> RequestHead:
    """Build a RequestHead from a parsed head (names already lower-cased, values stripped),
    enforcing the request-side framing, target, Host and limit rules. Raises ProtocolError.
    ``headers`` None: a head llhttp accepted, whose fields are read from ``lines`` (see
    ``l7lb.http.lines``); only the ones the rules name are taken out of them.

    This is the one walk over the request's header list: besides framing it notes the host
    and the fields the proxy must not forward as received (``RequestHead.rebuilt``), so
    nothing later has to look for them again."""
    if version != b"1.1" and version != b"1.0":
        raise ProtocolError(505, "HTTP version not supported")
    if len(target) > limits.max_uri_length:
        raise ProtocolError(414, "request-target too long")
    count = len(headers) if headers is not None else _field_count(lines)
    if count > limits.max_headers:
        raise ProtocolError(431, "too many header fields")
    if method == b"CONNECT":
        # A reverse proxy does not open tunnels to arbitrary hosts.
        raise ProtocolError(501, "CONNECT not supported")
    authority = check_target(method, target)

    cl: list[bytes] | None = None
    te: list[bytes] | None = None
    conn: list[bytes] | None = None
    rebuilt: list[bytes] | None = None
    host = b""
    hosts = 0
    has_upgrade = False
    expect_continue = False
    notable = _REQUEST_NAMES
    for name, value in _walked(headers, lines, notable):
        if name in REQUEST_REBUILT:
            if rebuilt is None:
                rebuilt = [name]
            else:
                rebuilt.append(name)
        if name == _HOST:
            hosts += 1
            host = value
        elif name == _CONNECTION:
            if conn is None:
                conn = [value]
            else:
                conn.append(value)
        elif name == _CONTENT_LENGTH:
            if cl is None:
                cl = [value]
            else:
                cl.append(value)
        elif name == _TRANSFER_ENCODING:
            if te is None:
                te = [value]
            else:
                te.append(value)
        elif name == _UPGRADE:
            has_upgrade = True
        elif name == _EXPECT and value.lower() == b"100-continue":
            expect_continue = True

    http11 = version == b"1.1"
    if hosts > 1 or (http11 and hosts == 0):
        # RFC 9112 section 3.2: exactly one Host in HTTP/1.1.
        raise ProtocolError(400, "missing or repeated Host header")
    if hosts and host not in _HOSTS_OK:
        check_authority(host)
        if len(_HOSTS_OK) < _HOSTS_OK_MAX:
            _HOSTS_OK.add(host)
    if authority is not None:
        # RFC 9112 section 3.2.2: the authority of an absolute-form target replaces Host.
        if hosts:
            rebuilt = [_HOST] if rebuilt is None else [*rebuilt, _HOST]
        host = authority

    framing = Framing.NONE
    length = -1
    if te is not None:
        if cl is not None:
            # RFC 9112 section 6.1: the classic request-smuggling vector.
            raise ProtocolError(400, "both Transfer-Encoding and Content-Length")
        if not http11:
            raise ProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
        codings = transfer_codings(te)
        if codings != [b"chunked"]:
            raise ProtocolError(501, "unsupported Transfer-Encoding")
        framing = Framing.CHUNKED
    elif cl is not None:
        length = _content_length(cl, 400)
        framing = Framing.LENGTH

    dropped = _NOTHING
    if conn is None:
        keep_alive = http11
        upgrade = False
    else:
        tokens = _connection_tokens(conn)
        keep_alive = b"close" not in tokens if http11 else b"keep-alive" in tokens
        upgrade = has_upgrade and method == b"GET" and b"upgrade" in tokens
        dropped, rebuilt = _listed(headers, raw, lines, tokens, rebuilt, REQUEST_REBUILT)
    return RequestHead(
        method,
        target,
        version,
        headers,
        framing,
        length,
        keep_alive,
        upgrade,
        expect_continue,
        host,
        raw,
        lines,
        rebuilt,
        dropped,
    )


def response_head(
    status: int,
    reason: bytes,
    version: bytes,
    headers: Headers | None,
    request_method: bytes,
    limits: Limits,
    raw: bytes = b"",
    lines: list[bytes] | None = None,
) -> ResponseHead:
    """Build a ResponseHead, deciding how its body is delimited (RFC 9112 section 6.3).
    Every problem is the server's fault: ProtocolError(502). The one walk over the header
    list also notes the fields the proxy may rewrite (``ResponseHead.rebuilt``)."""
    if version != b"1.1" and version != b"1.0":
        raise ProtocolError(502, "unsupported HTTP version from server")
    if not 100 <= status <= 599:
        raise ProtocolError(502, "invalid status code from server")
    if reason != b"OK" and _REASON_RE.fullmatch(reason) is None:
        # llhttp passes a NUL or other control in the reason phrase (h11 does not): a next
        # hop may cut the status line there
        raise ProtocolError(502, "invalid character in reason phrase from server")
    count = len(headers) if headers is not None else _field_count(lines)
    if count > limits.max_headers:
        raise ProtocolError(502, "too many header fields from server")

    cl: list[bytes] | None = None
    te: list[bytes] | None = None
    conn: list[bytes] | None = None
    rebuilt: list[bytes] | None = None
    notable = _RESPONSE_NAMES
    for name, value in _walked(headers, lines, notable):
        if name in RESPONSE_REBUILT:
            if rebuilt is None:
                rebuilt = [name]
            else:
                rebuilt.append(name)
        if name == _CONTENT_LENGTH:
            if cl is None:
                cl = [value]
            else:
                cl.append(value)
        elif name == _TRANSFER_ENCODING:
            if te is None:
                te = [value]
            else:
                te.append(value)
        elif name == _CONNECTION:
            if conn is None:
                conn = [value]
            else:
                conn.append(value)

    http11 = version == b"1.1"
    dropped = _NOTHING
    if conn is None:
        keep_alive = http11
    else:
        tokens = _connection_tokens(conn)
        keep_alive = b"close" not in tokens if http11 else b"keep-alive" in tokens
        dropped, rebuilt = _listed(headers, raw, lines, tokens, rebuilt, RESPONSE_REBUILT)

    if te is not None and cl is not None:
        raise ProtocolError(502, "both Transfer-Encoding and Content-Length from server")
    length = -1
    if request_method == b"HEAD" or status < 200 or status == 204 or status == 304:
        framing = Framing.NONE
        if cl is not None:
            _content_length(cl, 502)  # still reject garbage: it would confuse the next hop
            if status < 200 or status == 204:
                # RFC 9110 8.6: never in a 1xx or 204; the proxy drops it
                rebuilt = [_CONTENT_LENGTH] if rebuilt is None else [*rebuilt, _CONTENT_LENGTH]
    elif te is not None:
        codings = transfer_codings(te)
        if codings[-1] == b"chunked":
            if codings.count(b"chunked") != 1:
                raise ProtocolError(502, "chunked applied more than once")
            framing = Framing.CHUNKED
        else:
            # RFC 9112 section 6.3 item 4 (response): the body runs until the server closes.
            framing = Framing.CLOSE
            keep_alive = False
    elif cl is not None:
        length = _content_length(cl, 502)
        framing = Framing.LENGTH
    else:
        framing = Framing.CLOSE
        keep_alive = False
    return ResponseHead(
        status,
        reason,
        version,
        headers,
        framing,
        length,
        keep_alive,
        raw,
        lines,
        rebuilt,
        dropped,
    )


# ---------------------------------------------------------------------------------------------
# Chunked transfer coding (RFC 9112 section 7.1), for back ends that hand us raw body bytes.
#
# Every malformed shape is refused as soon as the byte that makes it malformed arrives, never
# at a line end that may not come: a client that sends "5\n" and waits must get its 400 at
# once, not a 408 when client_idle runs out (issue 15). So a size line or trailer line that
# is still incomplete at the end of a feed is checked as a prefix of a valid one.

_SIZE: Final = 0
_DATA: Final = 1
_DATA_CRLF: Final = 2
_TRAILER: Final = 3
_DONE: Final = 4
_CR: Final = 13
_LF: Final = 10
_HEXDIGITS: Final = b"0123456789abcdefABCDEF"
# 16 hex digits hold any size a 64-bit peer can mean: a longer string (even of leading zeros)
# probes for a parser that truncates, and a size above 2**63 - 1 for one that wraps into a
# signed 64-bit length.
_MAX_SIZE_DIGITS: Final = 16
_MAX_CHUNK_SIZE: Final = (1 << 63) - 1
_QUOTED = rb'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\t !-~\x80-\xff])*"'
_EXT_FIRST = rb";[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?"
_EXTS = _EXT_FIRST + rb"(?:[ \t]*" + _EXT_FIRST + rb")*"
# chunk-size [ chunk-ext ]: extensions checked for syntax only (nobody uses them; they are
# dropped, the proxy re-frames the body). RFC 9112 allows whitespace (BWS) around ";" and "=",
# but h11, the strict back end, refuses it between the size and the first ";": a shape that
# parsers read differently is refused. Whitespace before the line end is tolerated as h11
# does: the re-framed body the backend sees never carries it.
_CHUNK_LINE_RE: Final = re.compile(rb"([0-9A-Fa-f]{1,16})(?:" + _EXTS + rb")?[ \t]*")
# every proper prefix of a chunk line: whole extensions, then at most one unfinished one
_UNFINISHED_EXT = (
    rb";[ \t]*(?:"
    + _TOKEN
    + rb'[ \t]*=[ \t]*(?:"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\t !-~\x80-\xff])*\\?)?)?'
)
_CHUNK_PREFIX_RE: Final = re.compile(
    rb"([0-9A-Fa-f]{1,16})(?:[ \t]*|"
    + _UNFINISHED_EXT
    + rb"|"
    + _EXTS
    + rb"(?:[ \t]*|[ \t]*"
    + _UNFINISHED_EXT
    + rb"))"
)
_TRAILER_RE: Final = re.compile(_TOKEN + rb":[ \t]*[^\x00-\x08\x0a-\x1f\x7f]*")
_TRAILER_PREFIX_RE: Final = re.compile(rb"(?:" + _TOKEN + rb"(?::[^\x00-\x08\x0a-\x1f\x7f]*)?)?")
# RFC 9110 section 6.5.1: framing cannot be decided after the body. A next hop that merges
# trailers into the header section would take these for real: refuse them.
_TRAILER_FORBIDDEN: Final = frozenset((_CONTENT_LENGTH, _TRANSFER_ENCODING))
_MAX_CHUNK_LINE: Final = 4096


def _chunk_line_ok(line: bytes) -> bool:
    """Whether ``line`` (bytes of a chunk-size line before its LF) is, or can still become,
    a valid line. A CR may only be the last byte, after a whole line."""
    if not line:
        return True
    if line[-1] == _CR:
        m = _CHUNK_LINE_RE.fullmatch(line, 0, len(line) - 1)
    else:
        m = _CHUNK_PREFIX_RE.fullmatch(line)
    return m is not None and int(m.group(1), 16) <= _MAX_CHUNK_SIZE


def _trailer_line_ok(line: bytes) -> bool:
    """Like ``_chunk_line_ok``, for a line of the trailer section (empty: its end)."""
    if not line:
        return True
    if line[-1] == _CR:
        if len(line) > 1 and _TRAILER_RE.fullmatch(line, 0, len(line) - 1) is None:
            return False
    elif _TRAILER_PREFIX_RE.fullmatch(line) is None:
        return False
    colon = line.find(b":")
    return colon < 0 or line[:colon].lower() not in _TRAILER_FORBIDDEN


def _first_bad(line: bytes, trailer: bool) -> int:
    """The index of the byte that made ``line`` unacceptable (the shortest bad prefix ends
    there). Error path only: a binary search, since every prefix of an acceptable line is
    acceptable.

    (No slice below may start after its end: compiled by mypyc, ``b[1:0]`` raises
    SystemError where Python returns b"".)"""
    lo, hi = 0, len(line)  # line[:lo] is acceptable, line[:hi] is not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _trailer_line_ok(line[:mid]) if trailer else _chunk_line_ok(line[:mid]):
            lo = mid
        else:
            hi = mid
    return hi - 1


def _chunk_line_problem(line: bytes, i: int) -> str:
    """Why a chunk-size line whose first bad byte is ``line[i]`` is refused."""
    good = line[:i]
    b = line[i]
    if i > 0 and good[i - 1] == _CR:
        return "bare CR in chunk size line"
    if not good:
        return "invalid chunk size"
    if not good.lstrip(_HEXDIGITS) and b in _HEXDIGITS:
        if len(good) == _MAX_SIZE_DIGITS:
            return "chunk size longer than 16 hex digits"
        return "chunk size overflows 63 bits"
    if b";" in good or b == 59:  # ";"
        return "invalid chunk extension"
    return "invalid chunk size line"


def _trailer_problem(line: bytes, i: int) -> str:
    """Why a trailer line whose first bad byte is ``line[i]`` is refused."""
    if i > 0 and line[i - 1] == _CR:
        return "bare CR in trailer section"
    colon = line.find(b":", 0, i + 1)
    if colon >= 0 and line[:colon].lower() in _TRAILER_FORBIDDEN:
        return "framing field in the trailer section"
    return "invalid trailer field"


def _line_error(line: bytes, trailer: bool, limit: int) -> str:
    """Why a chunk-size or trailer line is refused: ``line`` is what arrived of it (with its
    LF when it is whole), ``limit`` how many bytes it may have (a chunk-size line's LF is not
    counted, a trailer line's is). The reason names the first bad byte by position, be it an
    invalid byte, a LF without its CR or the first byte past the limit, so that it is the
    same however the bytes were cut into feeds (the fuzzer checks it)."""
    n = len(line)
    whole = n > 0 and line[n - 1] == _LF
    body = line[: n - 1] if whole else line
    if not (_trailer_line_ok(body) if trailer else _chunk_line_ok(body)):
        bad = _first_bad(body, trailer)
        reason = _trailer_problem(body, bad) if trailer else _chunk_line_problem(body, bad)
    elif whole and (not body or body[len(body) - 1] != _CR):
        bad = len(body)  # the LF
        reason = "bare LF in trailer section" if trailer else "bare LF in chunk size line"
    else:
        bad = n  # nothing is wrong but the length
        reason = ""
    counted = n if trailer else len(body)
    if counted > limit and limit <= bad:
        return "trailer section too large" if trailer else "chunk size line too long"
    return reason


class ChunkedDecoder:
    """Incremental decoder: ``feed`` returns the payload bytes found so far and, once the last
    chunk and the trailer section are through, the bytes that follow the message.

    Work is per chunk, never per byte: data is sliced out of the input, lines are found with
    ``bytes.find``. Trailer fields are validated and dropped (the proxy re-frames the body).
    Raises ProtocolError(status) in the feed that brings the first malformed byte.
    """

    __slots__ = ("_buf", "_max_trailer", "_remaining", "_state", "_status", "_trailer_size")

    def __init__(self, status: int, max_trailer: int) -> None:
        self._state = _SIZE
        self._remaining = 0
        self._buf = b""  # an incomplete line (or CRLF) carried to the next feed
        self._status = status  # what to raise: 400 for requests, 502 for responses
        self._max_trailer = max_trailer
        self._trailer_size = 0

    def feed(self, data: bytes) -> tuple[bytes, bytes | None]:
        """Return (payload, rest): ``rest`` is None while the body is incomplete."""
        if self._state == _DONE:
            return b"", data
        if self._buf:
            data = self._buf + data
            self._buf = b""
        out: list[bytes] = []
        pos = 0
        n = len(data)
        while pos < n:
            state = self._state
            if state == _DATA:
                take = n - pos
                if take > self._remaining:
                    take = self._remaining
                out.append(data[pos : pos + take])
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = _DATA_CRLF
            elif state == _DATA_CRLF:
                if data[pos] != _CR:
                    raise ProtocolError(self._status, "missing CRLF after chunk data")
                if n - pos < 2:
                    self._buf = data[pos:]
                    break
                if data[pos + 1] != _LF:
                    raise ProtocolError(self._status, "bare CR after chunk data")
                pos += 2
                self._state = _SIZE
            elif state == _SIZE:
                i = data.find(b"\n", pos)
                if i < 0:
                    line = data[pos:]
                    if len(line) > _MAX_CHUNK_LINE or not _chunk_line_ok(line):
                        raise ProtocolError(self._status, _line_error(line, False, _MAX_CHUNK_LINE))
                    self._buf = line
                    break
                size = -1
                if pos < i <= pos + _MAX_CHUNK_LINE and data[i - 1] == _CR:
                    m = _CHUNK_LINE_RE.fullmatch(data, pos, i - 1)
                    if m is not None:
                        size = int(m.group(1), 16)
                if not 0 <= size <= _MAX_CHUNK_SIZE:
                    line = data[pos : i + 1]
                    raise ProtocolError(self._status, _line_error(line, False, _MAX_CHUNK_LINE))
                pos = i + 1
                if size:
                    self._remaining = size
                    self._state = _DATA
                else:
                    self._state = _TRAILER
            else:  # _TRAILER
                i = data.find(b"\n", pos)
                limit = self._max_trailer - self._trailer_size
                if i < 0:
                    line = data[pos:]
                    if len(line) > limit or not _trailer_line_ok(line):
                        raise ProtocolError(self._status, _line_error(line, True, limit))
                    self._buf = line
                    break
                line = data[pos : i + 1]
                if (
                    len(line) > limit
                    or i == pos
                    or data[i - 1] != _CR
                    or not _trailer_line_ok(data[pos:i])
                ):
                    raise ProtocolError(self._status, _line_error(line, True, limit))
                self._trailer_size += len(line)
                if len(line) == 2:  # the blank line: the message ends here
                    self._state = _DONE
                    return b"".join(out), data[i + 1 :]
                pos = i + 1
        if len(out) == 1:
            return out[0], None
        return b"".join(out), None
