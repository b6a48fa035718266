"""The two codec back ends (h11 and httptools) compared on malformed input, not only valid
requests: mutated requests and random bytes must get the same answer from both, the same
events or the same error status (issue 15, section 8).

The budget is CODEC_EXAMPLES examples per property (default 60, as the conformance suite's
properties). A nightly-style run raises it::

    CODEC_EXAMPLES=5000 ./dev test tests/http
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from test_codec_conformance import (
    KINDS,
    LIMITS,
    SMALL,
    feed_pieces,
    req_parser,
    resp_parser,
    summary,
    valid_request,
)

from l7lb.http.events import Event, Limits, ProtocolError, RequestParser, ResponseHead

BUDGET = settings(
    max_examples=int(os.environ.get("CODEC_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# Bytes that sit on the edges of HTTP/1.1's grammar (RFC 9112): line ends, separators,
# controls, obs-text, chunk-size digits and extension characters.
EDGES = [
    b"\r", b"\n", b"\r\n", b"\x00", b" ", b"\t", b":", b";", b",", b'"', b"=", b"\x7f",
    b"\x80", b"\xff", b"0", b"f", b"g", b"-", b"/", b"?", b"#", b"@", b"%", b"\r\n ", b"\r\n\r\n",
]  # fmt: skip


@st.composite
def mutated_request(draw: st.DrawFn) -> bytes:
    """A valid request (or two), then one to three edits: insert an edge byte, delete a
    span, or replace a byte with an edge byte."""
    data = b"".join(draw(st.lists(valid_request(), min_size=1, max_size=2)))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["insert", "delete", "replace"]))
        if edit == "insert":
            data = data[:at] + draw(st.sampled_from(EDGES)) + data[at:]
        elif edit == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 4)) :]
        else:
            data = data[:at] + draw(st.sampled_from(EDGES)) + data[at + 1 :]
    return data


Outcome = list[tuple[object, ...]]


def outcome(parser: RequestParser, data: bytes, step: int) -> Outcome:
    """What a back end makes of ``data``: its events, then what end of input does; or the
    error status it answered with (the reasons are worded by each back end, and the
    messages before the error are not compared: a back end may raise before handing out
    the complete messages of the same feed)."""
    try:
        events: list[Event] = feed_pieces(parser, data, step)
    except ProtocolError as exc:
        return [("error", exc.status)]
    try:
        events.extend(parser.feed_eof())
    except ProtocolError as exc:
        return [*summary(events), ("error at end", exc.status)]
    return summary(events)


def verdict(out: Outcome) -> Outcome:
    """Accept (the events) or reject. The back ends word their errors differently, and may
    pick different statuses for a request wrong in two ways (h11 501 for an unknown
    transfer coding, httptools 400 for the method it meets first), or see the error as the
    bytes come rather than at the end of input (issue 15, section 2 makes every chunk error
    answered at once): what must agree is whether the request is refused."""
    if out and str(out[-1][0]).startswith("error"):
        return [("reject",)]
    return out


_KNOWN: dict[bytes, bool] = {}


def llhttp_knows(method: bytes) -> bool:
    """Whether the httptools back end accepts ``method``: llhttp parses a fixed list of
    methods and answers 400 to any other token, which h11 passes on."""
    if method not in _KNOWN:
        probe = method + b" / HTTP/1.1\r\nHost: h\r\n\r\n"
        _KNOWN[method] = verdict(outcome(req_parser("httptools"), probe, 0)) != [("reject",)]
    return _KNOWN[method]


def assert_back_ends_agree(data: bytes, step: int, limits: Limits) -> None:
    results = {k: outcome(req_parser(k, limits), data, step) for k in KINDS}
    h11, httptools = verdict(results["h11"]), verdict(results["httptools"])
    if h11 == httptools:
        return
    methods = [ev[1] for ev in h11 if ev[0] == "head"]
    if httptools == [("reject",)] and not all(llhttp_knows(m) for m in methods):  # type: ignore[arg-type]
        return  # the one difference known and kept: see llhttp_knows
    raise AssertionError(f"h11 and httptools disagree on {data!r}: {results}")


@BUDGET
@given(data=mutated_request(), step=st.sampled_from([0, 1, 7]))
def test_back_ends_agree_on_mutated_requests(data: bytes, step: int) -> None:
    assert_back_ends_agree(data, step, LIMITS)


@BUDGET
@given(
    data=st.lists(
        st.one_of(st.binary(max_size=30), st.sampled_from(EDGES), valid_request()),
        min_size=1,
        max_size=8,
    ).map(b"".join),
)
def test_back_ends_agree_on_random_bytes(data: bytes) -> None:
    assert_back_ends_agree(data, 0, SMALL)


def test_a_bare_cr_or_lf_before_the_method_is_refused_by_both() -> None:
    """Found by the mutations above: llhttp skipped a bare CR before the method, and the
    httptools back end then handed the proxy a method starting with CR (h11: 400)."""
    for junk in (b"\r", b"\n", b"\r\r\n", b"\n\r"):
        data = junk + b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
        for k in KINDS:
            assert outcome(req_parser(k), data, 0) == [("error", 400)], (k, data)


def response_outcome(kind: str, data: bytes) -> Outcome:
    p = resp_parser(kind, b"GET", b"GET", limits=SMALL)
    out: Outcome = []
    try:
        for ev in p.feed(data) + p.feed_eof():
            if isinstance(ev, ResponseHead):
                out.append(("head", ev.status, tuple(ev.headers), ev.framing))
            else:
                out.append((type(ev).__name__, getattr(ev, "data", b"")))
    except ProtocolError as exc:
        out.append(("error", exc.status))
    return out


@st.composite
def mutated_response(draw: st.DrawFn) -> bytes:
    body = draw(st.binary(max_size=40))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    head = b"HTTP/1.1 200 OK\r\nServer: x\r\n"
    if framing == "length":
        data = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    elif framing == "chunked":
        data = head + b"Transfer-Encoding: chunked\r\n\r\n"
        data += (b"%x\r\n" % len(body) + body + b"\r\n" if body else b"") + b"0\r\n\r\n"
    else:
        data = head + b"\r\n" + body
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(EDGES)) + data[at + draw(st.integers(0, 1)) :]
    return data


@BUDGET
@given(data=mutated_response())
def test_back_ends_agree_on_mutated_responses(data: bytes) -> None:
    results = {k: verdict(response_outcome(k, data)) for k in KINDS}
    assert results["h11"] == results["httptools"], data
