"""What the fuzzer checks: one function per target, bytes in, ``Finding`` raised on a crash or
a disagreement.

``tools/fuzz.py`` searches for inputs that make these raise; ``tests/fuzz/`` replays the
committed corpus through the same functions, so a saved input means the same thing in both.
Each check is deterministic in its input: how it cuts the input into feeds is derived from the
bytes themselves.

Targets:

request     both request-parser back ends (h11, httptools) on the same bytes, whole and cut
            into pieces: the same events, or the same error status; no exception but
            ProtocolError. framing.py is the third party: each head the back ends accept is put
            through ``framing.request_head`` again and must come out the same, and a chunked
            body must decode as a standalone ``ChunkedDecoder`` decodes it.
response    the same for the response parsers (the first byte chooses which requests were
            HEAD), including ``feed_eof`` and ``idle``.
chunked     ``framing.ChunkedDecoder`` alone: the same payload, rest or error reason however the
            bytes are cut; an error comes with the byte that causes it (every shorter prefix is
            accepted); and whatever it accepts, h11's own chunked reader reads the same way.
clienthello l7lb's ClientHello parser against the reference parser in tests/tls: the same
            fields, NEED_MORE or error message; no exception escapes as anything but
            ClientHelloError, nor reaches the parser's catch-all; errors are final.
cookie      persistence cookie values (forged, tampered, random) and Cookie / Set-Cookie
            headers through the insert and prefix decoders: no crash, no forgery accepted.
jsessionid  session ids from targets, Cookie and Set-Cookie headers: no crash, and what is
            found is a piece of what was sent.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import h11

from l7lb.http.codec import make_request_parser, make_response_parser
from l7lb.http.events import (
    Data,
    Event,
    Framing,
    Limits,
    ProtocolError,
    RequestHead,
    ResponseHead,
    Upgrade,
)
from l7lb.http.framing import (
    ChunkedDecoder,
    find_head_end,
    request_head,
    response_head,
    skip_empty_lines,
)
from l7lb.http.h11_codec import LLHTTP_METHODS
from l7lb.http.httptools_codec import HttptoolsRequestParser  # noqa: F401  # imported here: instrumented
from l7lb.persistence.cookie import CookieCodec
from l7lb.persistence.jsessionid import (
    SessionIdFinder,
    path_session_id,
    query_session_id,
    route_of,
    set_cookie_session_id,
)
from l7lb.persistence.prefix import prefix_set_cookie, unprefix_request
from l7lb.persistence.setcookie import (
    get_cookie,
    iter_cookies,
    remove_cookie,
    split_cookie,
    strip_cookie,
)
from l7lb.tls import clienthello

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("h11", "httptools")
# small limits, so the fuzzer reaches them
LIMITS = Limits(max_head_size=1024, max_headers=16, max_uri_length=256)
MAX_TRAILER = LIMITS.max_head_size


class Finding(AssertionError):
    """A crash or a disagreement: the input that raised it is worth keeping. ``key`` sorts
    findings into kinds (the fuzzer keeps one input per kind)."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


# Disagreements whose fix is other work, skipped so the fuzzer can look past them (and
# counted in PENDING). Each names the work that removes it.
PENDING: dict[str, int] = {}
# True: two back ends that refuse an input must give the same status even when it has several
# faults (the replay of tests/fuzz/regressions sets it: those inputs were fixed to agree).
STATUS_MUST_AGREE = False


# what looks like a request line, anywhere in the input (a pipelined one follows a body)
_REQUEST_LINE_RE = re.compile(
    rb"(?<![A-Z_-])(" + b"|".join(re.escape(m) for m in sorted(LLHTTP_METHODS)) + rb")"
    rb"( +)([^ \r\n]*)( *)(HTTP/[0-9]\.[0-9]\r\n)?"
)
_TARGET_FORMS = (b"/", b"*")
_ABSOLUTE = (b"http://", b"https://")


def _pending(data: bytes) -> str | None:
    """The name of the pending work that explains a back-end disagreement on ``data``, or
    None. Only consulted once the back ends disagree. (Empty since issue 15 section 1 gave
    both back ends the same request-line and target rules.)"""
    return None


def _difference(a: tuple[object, ...], b: tuple[object, ...]) -> str:
    """Where two outcomes first differ, coarsely: the key of a disagreement."""
    ea, eb = a[0], b[0]
    assert isinstance(ea, tuple) and isinstance(eb, tuple)
    where = f"{a[1]}{a[2]}/{b[1]}{b[2]}"
    for i in range(max(len(ea), len(eb))):
        x = ea[i] if i < len(ea) else None
        y = eb[i] if i < len(eb) else None
        if x != y:
            if isinstance(x, tuple) and isinstance(y, tuple) and len(x) == len(y) > 3:
                field = next(j for j, (u, v) in enumerate(zip(x, y, strict=True)) if u != v)
                return f"{where} event {i} field {field}"
            kinds = [
                type(e).__name__ if not isinstance(e, tuple) else str(e[0])[:8] for e in (x, y)
            ]
            return f"{where} event {i} {kinds[0]}|{kinds[1]}"
    return f"{where} idle"


def _cuts(data: bytes) -> list[list[bytes]]:
    """The ways a check feeds ``data``: whole, cut at two points, and in small pieces (of 1 to
    7 bytes, for inputs short enough), all chosen from the bytes themselves."""
    n = len(data)
    h = zlib.crc32(data)
    ways = [[data]]
    points = sorted({n // 3, h % (n + 1)})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    ways.append(pieces)
    if n <= 512:
        step = 1 + (h >> 8) % 7
        ways.append([data[i : i + step] for i in range(0, n, step)])
    return ways


def _merged(events: list[Event]) -> list[Event]:
    out: list[Event] = []
    for ev in events:
        if isinstance(ev, Data) and out and isinstance(out[-1], Data):
            out[-1] = Data(out[-1].data + ev.data)
        elif not (isinstance(ev, Data) and not ev.data):
            out.append(ev)
    return out


# What a head means: every attribute but the received bytes it was split from (``raw``,
# ``lines``). Named here: a compiled class has no ``__slots__`` to list them from.
_REQUEST_FIELDS = (
    "method", "target", "version", "headers", "framing", "content_length", "keep_alive",
    "upgrade", "expect_continue", "host", "rebuilt", "dropped",
)  # fmt: skip
_RESPONSE_FIELDS = (
    "status", "reason", "version", "headers", "framing", "content_length", "keep_alive",
    "rebuilt", "dropped",
)  # fmt: skip


def _head_fields(head: RequestHead | ResponseHead) -> tuple[object, ...]:
    names = _REQUEST_FIELDS if isinstance(head, RequestHead) else _RESPONSE_FIELDS
    return tuple(getattr(head, n) for n in names)


def _summary(events: list[Event]) -> tuple[object, ...]:
    out: list[object] = []
    for ev in _merged(events):
        if isinstance(ev, RequestHead | ResponseHead):
            out.append(_head_fields(ev))
        elif isinstance(ev, Data):
            out.append(("data", ev.data))
        elif isinstance(ev, Upgrade):
            out.append(("upgrade", ev.tail))
        else:
            out.append(("end",))
    return tuple(out)


def _status_ok(exc: ProtocolError, response: bool) -> None:
    if response and exc.status != 502:
        raise Finding(f"response parser raised {exc.status}, not 502: {exc.reason}")
    if not 400 <= exc.status <= 599:
        raise Finding(f"status {exc.status} out of range: {exc.reason}")
    if exc.reason == "chunked body read two ways":
        raise Finding("h11 and ChunkedDecoder read a chunked body differently")


# --- request and response codecs ----------------------------------------------------------


def _run(kind: str, pieces: list[bytes], methods: list[bytes] | None) -> tuple[object, ...]:
    """Events and outcome of one parser fed ``pieces`` then EOF. ``methods``: None for a
    request parser, else the methods announced to a response parser."""
    if methods is None:
        p = make_request_parser(kind, LIMITS)
    else:
        p = make_response_parser(kind, LIMITS)
        for m in methods:
            p.expect(m)
    events: list[Event] = []
    try:
        for piece in pieces:
            events.extend(p.feed(piece))
        events.extend(p.feed_eof())
    except ProtocolError as exc:
        _status_ok(exc, methods is not None)
        return (_summary(events), "error", exc.status, None)
    idle = p.idle() if methods is not None else None  # type: ignore[union-attr]
    _framing_agrees(events, methods)
    return (_summary(events), "ok", 0, idle)


def _framing_agrees(events: list[Event], methods: list[bytes] | None) -> None:
    """framing.py's rules, applied again to the fields a back end parsed, give its event."""
    pending = list(methods or [])
    for ev in events:
        if isinstance(ev, RequestHead):
            again = request_head(
                ev.method, ev.target, ev.version, ev.headers, LIMITS, ev.raw, ev.lines
            )
            if again != ev:
                raise Finding(f"framing.request_head disagrees: {again} != {ev}")
        elif isinstance(ev, ResponseHead):
            method = pending[0] if pending else b"GET"
            if ev.status >= 200 and pending:
                pending.pop(0)
            again_r = response_head(
                ev.status, ev.reason, ev.version, ev.headers, method, LIMITS, ev.raw, ev.lines
            )
            if again_r != ev:
                raise Finding(f"framing.response_head disagrees: {again_r} != {ev}")


def _first_chunked_body(data: bytes, summary: tuple[object, ...], status: int) -> None:
    """framing.py's own reading: where ``find_head_end`` ends the first head, a standalone
    ChunkedDecoder decodes the bytes after it as the back ends did for a chunked first
    message: the same payload, and the message ends exactly when the decoder says so."""
    first = summary[0] if summary else None
    if not isinstance(first, tuple) or Framing.CHUNKED not in first:
        return
    stream = skip_empty_lines(data)
    end = find_head_end(stream, 0, LIMITS)
    body: list[bytes] = []
    ended = False
    for ev in summary[1:]:
        assert isinstance(ev, tuple)
        if ev[0] == "data":
            body.append(ev[1])  # type: ignore[arg-type]
        else:
            ended = ev == ("end",)
            break
    try:
        payload, rest = ChunkedDecoder(status, MAX_TRAILER).feed(stream[end:])
    except ProtocolError as exc:
        raise Finding(
            f"the back ends accepted a body ChunkedDecoder refuses: {exc.reason}"
        ) from exc
    if b"".join(body) != payload or ended != (rest is not None):
        raise Finding(f"the first body differs from ChunkedDecoder's: {body} {payload!r} {rest!r}")


def _codec(data: bytes, methods: list[bytes] | None) -> None:
    outcomes: dict[tuple[str, int], tuple[object, ...]] = {}
    for i, pieces in enumerate(_cuts(data)):
        for kind in KINDS:
            try:
                outcomes[(kind, i)] = _run(kind, pieces, methods)
            except Finding:
                raise
            except Exception as exc:  # a crash: any exception but ProtocolError
                raise Finding(f"{kind}: {type(exc).__name__}: {exc}") from exc
        h11_out, fast_out = outcomes[("h11", i)], outcomes[("httptools", i)]
        if h11_out != fast_out:
            pending = _pending(data) if methods is None else None
            both_refuse = h11_out[0:2] == fast_out[0:2] and h11_out[1] == "error"
            if pending is None and both_refuse and not STATUS_MUST_AGREE:
                # Both refuse, after the same events, with other statuses: the input has
                # several faults and each back end names another first (llhttp the first by
                # position). Single faults get the same status: the conformance suite.
                pending = "both refuse, other status (several faults)"
            if pending is not None:
                PENDING[pending] = PENDING.get(pending, 0) + 1
                return
            raise Finding(
                f"back ends disagree (cut {i}):\nh11:       {h11_out}\nhttptools: {fast_out}",
                key="back ends: " + _difference(h11_out, fast_out),
            )
    whole = outcomes[("h11", 0)]
    for key, got in outcomes.items():
        # however the bytes were cut: the same accept or reject, and the same status
        if got[1:3] != whole[1:3] or (whole[1] == "ok" and _untailed(got) != _untailed(whole)):
            raise Finding(
                f"outcome depends on the cut {key}:\n{got}\n{whole}",
                key=f"cuts: {key[0]} " + _difference(got, whole),
            )
    if whole[1] == "ok":
        first = whole[0]
        assert isinstance(first, tuple)
        _first_chunked_body(data, first, 400 if methods is None else 502)


def _untailed(outcome: tuple[object, ...]) -> tuple[object, ...]:
    """An outcome without the tail of an Upgrade: after an upgrade head the parser stops, and
    the tail is only what came in the same feed (the caller tunnels the rest raw)."""
    events = outcome[0]
    assert isinstance(events, tuple)
    kept = tuple(
        ev[:1] if isinstance(ev, tuple) and ev[:1] == ("upgrade",) else ev for ev in events
    )
    return (kept, *outcome[1:])


def check_request(data: bytes) -> None:
    _codec(data, None)


def check_response(data: bytes) -> None:
    # the first byte says which of the (up to 8) requests were HEAD: bit i for request i
    if not data:
        return
    mask = data[0]
    methods = [b"HEAD" if mask >> i & 1 else b"GET" for i in range(8)]
    _codec(data[1:], methods)


# --- the chunked decoder --------------------------------------------------------------------


def _decode(pieces: list[bytes]) -> tuple[bytes, bytes | None, str | None, int]:
    """(payload, rest, error reason, bytes fed before the piece that raised)."""
    d = ChunkedDecoder(400, MAX_TRAILER)
    out: list[bytes] = []
    fed = 0
    for i, piece in enumerate(pieces):
        try:
            payload, rest = d.feed(piece)
        except ProtocolError as exc:
            return b"".join(out), None, exc.reason, fed
        except Exception as exc:
            raise Finding(f"ChunkedDecoder: {type(exc).__name__}: {exc}") from exc
        out.append(payload)
        fed += len(piece)
        if rest is not None:
            # the rest of this piece and every later piece follow the message
            return b"".join(out), rest + b"".join(pieces[i + 1 :]), None, fed
    return b"".join(out), None, None, fed


_H11_HEAD = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


def _h11_reads(data: bytes) -> tuple[bytes, bytes | None] | None:
    """h11's own reading of a chunked body: (payload, rest), rest None while incomplete;
    None when h11 refuses the bytes."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 20)
    conn.receive_data(_H11_HEAD)
    if not isinstance(conn.next_event(), h11.Request):
        raise Finding("h11 did not parse the synthetic head")
    if data:
        conn.receive_data(data)
    out: list[bytes] = []
    try:
        while True:
            ev = conn.next_event()
            if isinstance(ev, h11.Data):
                out.append(bytes(ev.data))
            elif isinstance(ev, h11.EndOfMessage):
                return b"".join(out), conn.trailing_data[0]
            else:
                return b"".join(out), None
    except h11.RemoteProtocolError:
        return None


def check_chunked(data: bytes) -> None:
    ways = [_decode(pieces) for pieces in _cuts(data)]
    bytewise = _decode([data[i : i + 1] for i in range(len(data))])
    whole = ways[0]
    for got in [*ways, bytewise]:
        # the same error, or the same payload and rest (the payload of the feed that raised
        # is lost with the error, so it depends on the cut)
        same = got[2] == whole[2] if whole[2] is not None else got[:3] == whole[:3]
        if not same:
            raise Finding(f"ChunkedDecoder depends on the cut: {got[:3]} != {whole[:3]}")
    payload, rest, reason, at = bytewise
    if reason is not None:
        # "at once": the error comes with byte ``at``; everything before it is acceptable
        before = _decode([data[:at]])
        if before[2] is not None:
            raise Finding(f"error before its byte: {before[2]} at {at}")
        return
    h11_view = _h11_reads(data)
    if h11_view is None:
        raise Finding("ChunkedDecoder accepts what h11 refuses")
    h11_payload, h11_rest = h11_view
    if rest is not None and (h11_payload, h11_rest) != (payload, rest):
        raise Finding(f"h11 reads it otherwise: {(h11_payload, h11_rest)} != {(payload, rest)}")
    if rest is None and h11_rest is not None:
        raise Finding("h11 ends the body where ChunkedDecoder waits for more")


# --- the TLS ClientHello parser ---------------------------------------------------------------


def _reference() -> ModuleType:
    name = "l7lb_tests_clienthello_reference"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, ROOT / "tests" / "tls" / "clienthello_reference.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _hello(module: ModuleType, data: bytes) -> tuple[str, object]:
    try:
        result = module.parse_client_hello(data)
    except clienthello.ClientHelloError as exc:
        return ("error", str(exc))
    except Exception as exc:
        raise Finding(f"{module.__name__}: {type(exc).__name__}: {exc}") from exc
    if result is clienthello.NEED_MORE:
        return ("need_more", None)
    return (
        "hello",
        (
            result.legacy_version,
            result.session_id,
            result.server_name,
            result.alpn,
            result.supported_versions,
            result.psk_identities,
            result.session_ticket,
        ),
    )


def check_clienthello(data: bytes) -> None:
    got = _hello(clienthello, data)
    if got[0] == "error" and str(got[1]).startswith(
        ("malformed record:", "malformed ClientHello:")
    ):
        raise Finding(f"an unexpected exception reached the catch-all: {got[1]}")
    ref = _hello(_reference(), data)
    if got != ref:
        raise Finding(f"l7lb and the reference parser disagree: {got} != {ref}")
    longer = _hello(clienthello, data + b"\x16\x03\x01\x00")
    if got[0] != "need_more" and longer != got:
        # bytes after a complete hello, or after a fatal error, change nothing
        raise Finding(f"more bytes changed a final outcome: {got} -> {longer}")
    if got[0] == "need_more" and data:
        shorter = _hello(clienthello, data[:-1])
        if shorter[0] != "need_more":
            raise Finding(f"a prefix of a valid prefix was refused: {shorter}")


# --- persistence: cookies and session ids ---------------------------------------------------

_SECRET = b"fuzzing-secret-0123456789"
_POOL = "web"
_SERVERS = ("s1", "s2", "s3")
_NOW = 1_800_000_000
_codec_cache: list[tuple[CookieCodec, list[str]]] = []


def _cookie_codec() -> tuple[CookieCodec, list[str]]:
    if not _codec_cache:
        codec = CookieCodec(_SECRET, {_POOL: _SERVERS, "other": ("s1",)})
        minted = [codec.encode(_POOL, s, _NOW - 100, _NOW - 10) for s in _SERVERS]
        _codec_cache.append((codec, minted))
    return _codec_cache[0]


def check_cookie(data: bytes) -> None:
    if not data:
        return
    codec, minted = _cookie_codec()
    mode, body = data[0] % 4, data[1:]
    try:
        if mode == 0:  # a random value, as a client may send
            value = body.decode("latin-1")
            if codec.read(value, _POOL, _NOW, 3600, 86400) is not None and value not in minted:
                raise Finding(f"a value l7lb never issued was accepted: {value!r}")
        elif mode == 1:  # a real value, tampered with: (position, byte) pairs
            original = minted[body[0] % len(minted)] if body else minted[0]
            chars = list(original)
            for i in range(1, len(body) - 1, 2):
                chars[body[i] % len(chars)] = chr(body[i + 1])
            value = "".join(chars)
            found = codec.read(value, _POOL, _NOW, 3600, 86400)
            if value != original and found is not None:
                raise Finding(f"a tampered value was accepted: {value!r}")
            if value == original and found is None:
                raise Finding("an authentic value was refused")
            if codec.read(value, "other", _NOW, None, None) is not None:
                raise Finding("a value was accepted for a pool it was not issued for")
        elif mode == 2:  # a Cookie header, through the insert and prefix readers
            headers = [(b"cookie", body)]
            list(iter_cookies(headers))
            found_b = get_cookie(headers, b"SRV")
            if found_b is not None and found_b not in body:
                raise Finding("get_cookie returned bytes that were not sent")
            # the indirect mode: whatever the client sent, the backend never sees l7lb's cookie
            if get_cookie(remove_cookie(headers, b"SRV"), b"SRV") is not None:
                raise Finding("remove_cookie left the cookie for the backend to see")
            # the one-walk reader of a Cookie header not seen before agrees with both
            split_found, rest = split_cookie(body, b"SRV")
            if split_found != found_b or rest != strip_cookie(body, b"SRV"):
                raise Finding("split_cookie disagrees with get_cookie or strip_cookie")
            server_id, _ = unprefix_request(headers, b"JSESSIONID")
            if server_id is not None:
                if len(server_id) != 8:
                    raise Finding(f"a server id of the wrong shape: {server_id!r}")
                codec.server_for_id(_POOL, server_id)
        else:  # a backend's Set-Cookie, prefixed for the client
            prefix_set_cookie(body, b"JSESSIONID", codec.server_id(_POOL, "s1"))
    except Finding:
        raise
    except Exception as exc:
        raise Finding(f"cookie mode {mode}: {type(exc).__name__}: {exc}") from exc


def check_jsessionid(data: bytes) -> None:
    target, _, rest = data.partition(b"\n")
    cookie, _, set_cookie = rest.partition(b"\n")
    try:
        finder = SessionIdFinder(b"JSESSIONID", b"jsessionid", b"sid")
        sources = (target, cookie, set_cookie)
        for found in (
            finder.in_request(target, [(b"cookie", cookie)]),
            finder.in_response([(b"set-cookie", set_cookie)]),
            path_session_id(target),
            query_session_id(target, b"sid"),
            set_cookie_session_id(set_cookie, b"JSESSIONID"),
        ):
            if found is not None:
                if not found or not any(found in s for s in sources):
                    raise Finding(f"a session id that was not sent: {found!r}")
                route = route_of(found)
                if route is not None and not found.endswith(route):
                    raise Finding(f"route {route!r} is not the end of {found!r}")
        path_id = path_session_id(target)
        if path_id is not None and any(c in path_id for c in b";/?#"):
            raise Finding(f"a path session id runs past its parameter: {path_id!r}")
    except Finding:
        raise
    except Exception as exc:
        raise Finding(f"jsessionid: {type(exc).__name__}: {exc}") from exc


TARGETS: dict[str, Callable[[bytes], None]] = {
    "request": check_request,
    "response": check_response,
    "chunked": check_chunked,
    "clienthello": check_clienthello,
    "cookie": check_cookie,
    "jsessionid": check_jsessionid,
}
