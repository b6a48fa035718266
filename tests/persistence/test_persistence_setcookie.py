"""Set-Cookie rendering (exact bytes), Cookie parsing and editing, nocache."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.persistence.setcookie import (
    SameSite,
    SetCookie,
    build_set_cookie,
    get_cookie,
    iter_cookies,
    make_private,
    remove_cookie,
    split_cookie,
    strip_cookie,
)


def test_set_cookie_defaults_exact_bytes() -> None:
    assert SetCookie("SRV").render("abc") == b"SRV=abc; Path=/; HttpOnly"


def test_set_cookie_all_attributes_exact_bytes() -> None:
    cookie = SetCookie(
        "SRV",
        path="/app",
        domain="example.com",
        max_age=3600,
        secure=True,
        httponly=True,
        samesite=SameSite.NONE,
    )
    assert cookie.render(b"v1") == (
        b"SRV=v1; Path=/app; Domain=example.com; Max-Age=3600; Secure; HttpOnly; SameSite=None"
    )


def test_set_cookie_minimal_and_session() -> None:
    assert SetCookie("S", path=None, httponly=False).render("x") == b"S=x"
    assert (
        build_set_cookie("S", "x", samesite=SameSite.LAX, max_age=0)
        == b"S=x; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
    )
    assert build_set_cookie("S", "x", samesite=SameSite.STRICT, secure=True, httponly=False) == (
        b"S=x; Path=/; Secure; SameSite=Strict"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "bad name"},
        {"name": "a;b"},
        {"name": ""},
        {"name": "S", "path": "/a;b"},
        {"name": "S", "domain": "ex\r\nample"},
        {"name": "S", "max_age": -1},
        {"name": "S", "samesite": SameSite.NONE},  # without Secure
    ],
)
def test_set_cookie_rejects_bad_config(kwargs: dict[str, object]) -> None:
    name = kwargs.pop("name")
    with pytest.raises(ValueError):
        SetCookie(name, **kwargs)  # type: ignore[arg-type]


def test_build_set_cookie_rejects_unsafe_value() -> None:
    for value in ("a b", "a;b", 'a"b', "a,b", "a\\b", "é"):
        with pytest.raises((ValueError, UnicodeEncodeError)):
            build_set_cookie("S", value)


def H(*values: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"host", b"example.com")] + [(b"cookie", v) for v in values]


def test_get_cookie_basic_and_spacing() -> None:
    headers = H(b"a=1; SRV=xyz; b=2")
    assert get_cookie(headers, b"SRV") == b"xyz"
    assert get_cookie(H(b"a=1;SRV=xyz;b=2"), b"SRV") == b"xyz"
    assert get_cookie(H(b"  SRV =  xyz  ;"), b"SRV") == b"xyz"
    assert get_cookie(H(b"a=1\t;\tSRV=xyz"), b"SRV") == b"xyz"


def test_get_cookie_absent_empty_and_case() -> None:
    assert get_cookie([], b"SRV") is None
    assert get_cookie(H(b""), b"SRV") is None
    assert get_cookie(H(b";;; ;"), b"SRV") is None
    assert get_cookie(H(b"srv=1"), b"SRV") is None  # names are case-sensitive
    assert get_cookie(H(b"XSRV=1; SRVX=2"), b"SRV") is None  # no substring matches
    assert get_cookie(H(b"SRV"), b"SRV") is None  # no "="
    assert get_cookie(H(b"SRV="), b"SRV") == b""
    # a header that is not Cookie is ignored even if it looks like one
    assert get_cookie([(b"x-cookie", b"SRV=1")], b"SRV") is None


def test_get_cookie_several_headers_and_duplicates() -> None:
    headers = H(b"a=1", b"SRV=first; SRV=second", b"SRV=third")
    assert get_cookie(headers, b"SRV") == b"first"
    assert [v for n, v in iter_cookies(headers) if n == b"SRV"] == [b"first", b"second", b"third"]


def test_get_cookie_quotes_and_equals_in_value() -> None:
    assert get_cookie(H(b'SRV="abc"'), b"SRV") == b"abc"
    assert get_cookie(H(b'SRV=""'), b"SRV") == b""
    assert get_cookie(H(b'SRV="'), b"SRV") == b'"'
    assert get_cookie(H(b"SRV=a=b=c"), b"SRV") == b"a=b=c"


def test_iter_cookies() -> None:
    assert list(iter_cookies(H(b'a=1; =x; noeq; b="2"', b"c=3"))) == [
        (b"a", b"1"),
        (b"b", b"2"),
        (b"c", b"3"),
    ]


def test_hostile_long_input_is_linear() -> None:
    hostile = [
        b";" * 200_000,
        b"=" * 200_000,
        b"SRV" * 70_000,
        b"a=1; " * 40_000,
        b'"' * 200_000,
        b"SRV=" + b"x" * 200_000,
    ]
    start = time.perf_counter()
    for value in hostile:
        get_cookie(H(value), b"SRV")
        list(iter_cookies(H(value)))
        strip_cookie(value, b"SRV")
    assert time.perf_counter() - start < 2.0
    assert get_cookie(H(b"SRV=" + b"x" * 200_000), b"SRV") == b"x" * 200_000


def test_strip_cookie() -> None:
    value = b"a=1; SRV=xyz; b=2"
    assert strip_cookie(value, b"SRV") == b"a=1; b=2"
    assert strip_cookie(b"SRV=1", b"SRV") == b""
    assert strip_cookie(b"SRV=1;SRV=2;c=3", b"SRV") == b"c=3"
    untouched = b"a=1;b=2"
    assert strip_cookie(untouched, b"SRV") is untouched
    mentions = b"XSRV=1; SRVX=2"
    assert strip_cookie(mentions, b"SRV") is mentions


def test_remove_cookie_headers() -> None:
    headers = [
        (b"host", b"h"),
        (b"cookie", b"SRV=1"),
        (b"accept", b"*/*"),
        (b"cookie", b"a=1; SRV=2; b=2"),
    ]
    assert remove_cookie(headers, b"SRV") == [
        (b"host", b"h"),
        (b"accept", b"*/*"),
        (b"cookie", b"a=1; b=2"),
    ]
    # unchanged: the very same list comes back (no allocation)
    plain = [(b"host", b"h"), (b"cookie", b"a=1")]
    assert remove_cookie(plain, b"SRV") is plain
    assert remove_cookie([], b"SRV") == []


def test_remove_cookie_keeps_empty_fields_after_the_cookie() -> None:
    # an empty field value is valid (RFC 9110 5.5): only an emptied Cookie header goes
    headers = [(b"cookie", b"SRV=1"), (b"x-empty", b""), (b"x-after", b"1")]
    assert remove_cookie(headers, b"SRV") == [(b"x-empty", b""), (b"x-after", b"1")]


def test_make_private() -> None:
    assert make_private([(b"content-type", b"text/html")]) == [
        (b"content-type", b"text/html"),
        (b"cache-control", b"private"),
    ]
    assert make_private([(b"cache-control", b"public, max-age=60, s-maxage=600")]) == [
        (b"cache-control", b"max-age=60, private")
    ]
    for already in (b"private", b"no-store", b"Private, max-age=5", b'private="set-cookie"'):
        assert make_private([(b"cache-control", already)]) == [(b"cache-control", already)]
    assert make_private([(b"cache-control", b"no-cache")]) == [
        (b"cache-control", b"no-cache, private")
    ]


token = st.text(
    alphabet="!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    min_size=1,
    max_size=12,
)
octets = st.text(
    alphabet="".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '",;\\'),
    max_size=20,
)


@settings(max_examples=200)
@given(pairs=st.lists(st.tuples(token, octets), max_size=8), target=token, value=octets)
def test_parse_and_strip_property(pairs: list[tuple[str, str]], target: str, value: str) -> None:
    others = [(n, v) for n, v in pairs if n != target]
    jar = [*others[:2], (target, value), *others[2:]]
    header = "; ".join(f"{n}={v}" for n, v in jar).encode()
    headers = [(b"cookie", header)]
    expected_first = next(v for n, v in jar if n == target)
    assert get_cookie(headers, target.encode()) == expected_first.encode()
    stripped = remove_cookie(headers, target.encode())
    assert get_cookie(stripped, target.encode()) is None
    assert list(iter_cookies(stripped)) == [(n.encode(), v.encode()) for n, v in others]


@settings(max_examples=200)
@given(name=token, value=octets)
def test_set_cookie_parses_back(name: str, value: str) -> None:
    header = build_set_cookie(name, value, secure=True)
    # what a browser would send back
    pair = header.split(b";", 1)[0]
    assert get_cookie([(b"cookie", pair)], name.encode()) == value.encode()


def _reference_get(value: bytes, name: bytes) -> bytes | None:
    """get_cookie as first written, with split/partition/strip: the index walk must agree."""
    for part in value.split(b";"):
        pname, eq, found = part.partition(b"=")
        if eq and pname.strip(b" \t") == name:
            found = found.strip(b" \t")
            if len(found) >= 2 and found[:1] == found[-1:] == b'"':
                return found[1:-1]
            return found
    return None


def _reference_strip(value: bytes, name: bytes) -> bytes:
    kept = []
    for part in value.split(b";"):
        stripped = part.strip(b" \t")
        if not stripped:
            continue
        pname, eq, _ = stripped.partition(b"=")
        if not (eq and pname.rstrip(b" \t") == name):
            kept.append(stripped)
    return b"; ".join(kept)


# the bytes that matter to the walk, and a name's own letters, in any order
_shaped = st.lists(
    st.sampled_from([b";", b"=", b" ", b"\t", b'"', b"S", b"R", b"V", b"SRV", b"x", b"\r"]),
    max_size=24,
).map(b"".join)


@settings(max_examples=2000)
@given(value=_shaped)
def test_cookie_walk_agrees_with_split_reference(value: bytes) -> None:
    assert get_cookie([(b"cookie", value)], b"SRV") == _reference_get(value, b"SRV")
    stripped = strip_cookie(value, b"SRV")
    if stripped is not value:
        assert stripped == _reference_strip(value, b"SRV")
    else:  # "no change" only when no cookie of that name is there
        assert _reference_get(value, b"SRV") is None
    _split_agrees(value)


def _split_agrees(value: bytes) -> None:
    found, rest = split_cookie(value, b"SRV")
    assert found == _reference_get(value, b"SRV")
    if found is None:
        assert rest is value
    else:
        assert rest == _reference_strip(value, b"SRV")


# cookies joined as browsers send them ("; "), and near misses of that form: other
# separators, OWS before "=", names that start or end like the one looked for
_pair = st.tuples(
    st.sampled_from([b"SRV", b"SRVX", b"xSRV", b"a", b"SRV ", b"S", b""]),
    st.sampled_from([b"=", b"", b" ="]),
    st.sampled_from([b"v", b'"q"', b" v", b"SRV=1", b"", b"a b", b"x;", b"\t"]),
).map(b"".join)
_joined = st.tuples(
    st.lists(_pair, min_size=1, max_size=5),
    st.sampled_from([b"; ", b";", b";  ", b" ; "]),
).map(lambda t: t[1].join(t[0]))


@settings(max_examples=1000)
@given(value=_joined)
def test_split_cookie_of_joined_headers_agrees_with_the_reference(value: bytes) -> None:
    _split_agrees(value)


@pytest.mark.parametrize(
    ("value", "found", "rest"),
    [
        (b"SRV=abc", b"abc", b""),
        (b"SRV=abc; a=1", b"abc", b"a=1"),
        (b"a=1; SRV=abc", b"abc", b"a=1"),
        (b"a=1; SRV=abc; b=2", b"abc", b"a=1; b=2"),
        (b'a=SRV=x; SRV="q"; b=2', b"q", b"a=SRV=x; b=2"),
        (b"SRVX=1; SRV= v", b"v", b"SRVX=1"),
        (b"a=1; SRV=x; SRV=y", b"x", b"a=1"),  # both cut, the first one read
        (b"a=1; SRV =x", b"x", b"a=1"),
        (b"a=1;SRV=x", b"x", b"a=1"),  # written back joined by "; "
        (b"a=SRV; b=2", None, b"a=SRV; b=2"),
    ],
)
def test_cookie_cut_exact_bytes(value: bytes, found: bytes | None, rest: bytes) -> None:
    assert split_cookie(value, b"SRV") == (found, rest)
