"""Fields read from a head's lines (``l7lb.http.lines``) against the plain reference: split
each field line at its first colon, lower-case the name, strip spaces and tabs off the
value. Heads here are what llhttp accepts: token names, a colon, visible values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.http.events import Limits, RequestHead, ResponseHead
from l7lb.http.framing import response_head
from l7lb.http.httptools_codec import HttptoolsRequestParser, HttptoolsResponseParser
from l7lb.http.lines import NameSet, all_fields, fields_named, notable_fields

Headers = list[tuple[bytes, bytes]]


def reference(raw: bytes) -> Headers:
    out = []
    for line in raw.split(b"\r\n")[1:-2]:
        name, _, value = line.partition(b":")
        out.append((name.lower(), value.strip(b" \t")))
    return out


NAMES = [b"Host", b"HOST", b"host", b"Cookie", b"cookie", b"X-A", b"x-a", b"Connection"]
NAMES += [b"Content-Length", b"Via", b"via", b"T", b"t", b"Te", b"H0st", b"!#$%&'*+-.^_`|~"]
NAMES += [b"Trailer", b"Tx", b"Transfer-Encoding", b"Hos", b"CONTENT-length", b"TE", b"cOOKIE"]
VALUES = [b"", b"v", b" v ", b"\tv\t", b"a: b", b"a , b", b" ", b"x\x80y", b"h\tx", b":::"]
VALUES += [b"ab:cdef", b"bcdefghijklmnopq:"]
_field = st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES))


def head_of(fields: list[tuple[bytes, bytes]]) -> bytes:
    return b"GET / HTTP/1.1\r\n" + b"".join(n + b":" + v + b"\r\n" for n, v in fields) + b"\r\n"


@settings(max_examples=1500)
@given(st.lists(_field, max_size=12), st.sampled_from([n.lower() for n in NAMES]))
def test_every_reader_agrees_with_the_reference(
    fields: list[tuple[bytes, bytes]], wanted: bytes
) -> None:
    raw = head_of(fields)
    lines = raw.split(b"\r\n")
    ref = reference(raw)
    assert all_fields(raw, lines) == ref
    assert fields_named(lines, wanted) == [f for f in ref if f[0] == wanted]
    names = frozenset({wanted, b"host", b"via", b"te", b"trailer"})
    assert notable_fields(lines, NameSet(names)) == [f for f in ref if f[0] in names]
    assert [f for f in ref if NameSet(names).has(f[0])] == [f for f in ref if f[0] in names]


def test_a_head_without_fields() -> None:
    raw = b"GET / HTTP/1.0\r\n\r\n"
    lines = raw.split(b"\r\n")
    assert all_fields(raw, lines) == []
    assert fields_named(lines, b"host") == []
    assert notable_fields(lines, NameSet(frozenset({b"host"}))) == []


def test_a_name_that_only_starts_like_the_wanted_one_is_not_it() -> None:
    lines = head_of([(b"Hostx", b"1"), (b"Hos", b"2"), (b"Host", b"3")]).split(b"\r\n")
    assert fields_named(lines, b"host") == [(b"host", b"3")]


def test_name_set_tables_cover_both_cases_of_a_first_letter() -> None:
    names = NameSet(frozenset({b"host", b"te", b"trailer"}))
    assert names.bits[ord("h")] == names.bits[ord("H")] == 1 << 4
    te, trailer = (2, b"te", b"Te"), (7, b"trailer", b"Trailer")
    assert names.candidates[ord("t")] == names.candidates[ord("T")] == (te, trailer)
    assert names.bits[ord("x")] == 0 and names.candidates[ord("x")] == ()
    assert names.has(b"te") and not names.has(b"tx") and not names.has(b"")


def test_a_colon_in_the_value_at_a_longer_names_length_is_not_a_name() -> None:
    # "te" and "trailer" start with t: lengths 2 and 7 are tried, shortest first
    names = NameSet(frozenset({b"te", b"trailer"}))
    lines = head_of([(b"Tx", b"  :trailer"), (b"Trailer", b"a"), (b"Te", b"trailers")]).split(
        b"\r\n"
    )
    assert notable_fields(lines, names) == [(b"trailer", b"a"), (b"te", b"trailers")]


RAW_REQUEST = (
    b"GET /p HTTP/1.1\r\nHost: a.example\r\nUser-Agent: ua/1\r\nReferer: r1\r\n"
    b"Cookie: a=1\r\nREFERER: r2\r\ncookie:b=2 \r\nConnection: keep-alive\r\n\r\n"
)


def test_the_codec_builds_the_field_list_only_when_asked() -> None:
    head = HttptoolsRequestParser(Limits()).feed(RAW_REQUEST)[0]
    assert isinstance(head, RequestHead)
    assert head._headers is None  # nothing read every field yet
    assert head.fields(b"cookie") == [(b"cookie", b"a=1"), (b"cookie", b"b=2")]
    assert head.fields(b"referer") == [(b"referer", b"r1"), (b"referer", b"r2")]
    assert head._headers is None
    assert head.headers == reference(RAW_REQUEST)
    assert head._headers is not None
    # once built, the list answers
    assert head.fields(b"cookie") == [(b"cookie", b"a=1"), (b"cookie", b"b=2")]
    assert head.host == b"a.example" and head.keep_alive
    assert head.rebuilt == [b"connection"]


def test_a_connection_listed_field_builds_the_list_in_the_rare_walk() -> None:
    raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-Secret: s\r\nConnection: x-secret\r\n\r\n"
    head = HttptoolsRequestParser(Limits()).feed(raw)[0]
    assert isinstance(head, RequestHead)
    assert head.dropped == frozenset({b"x-secret"})
    assert head.rebuilt == [b"connection", b"x-secret"]
    assert head.headers == reference(raw)


@pytest.mark.parametrize("count", [3, 4])
def test_the_field_limit_counts_lines(count: int) -> None:
    raw = b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * count + b"\r\n"
    lines = raw.split(b"\r\n")
    if count > 3:
        with pytest.raises(Exception, match="too many header fields"):
            response_head(200, b"OK", b"1.1", None, b"GET", Limits(max_headers=3), raw, lines)
    else:
        head = response_head(200, b"OK", b"1.1", None, b"GET", Limits(max_headers=3), raw, lines)
        assert len(head.headers) == 3


def test_a_response_reads_its_fields_lazily_too() -> None:
    raw = b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nContent-Length: 0\r\nset-cookie: b\r\n\r\n"
    parser = HttptoolsResponseParser(Limits())
    parser.expect(b"GET")
    head = parser.feed(raw)[0]
    assert isinstance(head, ResponseHead) and head._headers is None
    assert head.fields(b"set-cookie") == [(b"set-cookie", b"a=1"), (b"set-cookie", b"b")]
    assert head.content_length == 0
    assert head.headers == reference(raw)


def test_heads_that_came_as_other_bytes_are_not_equal() -> None:
    # the conformance and differential suites compare heads whole: the bytes they came as
    # (raw, lines) are part of a head, and so of its equality and repr
    a = HttptoolsRequestParser(Limits()).feed(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")[0]
    b = HttptoolsRequestParser(Limits()).feed(b"GET / HTTP/1.1\r\nhost:a\r\n\r\n")[0]
    assert isinstance(a, RequestHead) and isinstance(b, RequestHead)
    assert a.headers == b.headers and a.host == b.host
    assert a != b
    assert "raw=" in repr(a) and "lines=" in repr(a)
