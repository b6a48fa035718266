"""request_host, split_target and normalize_host."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from l7lb.routing.target import normalize_host, request_host, split_target


def test_request_host_from_host_header() -> None:
    assert request_host(b"/x", [(b"accept", b"*/*"), (b"host", b"Example.com:8080")]) == (
        b"Example.com:8080"
    )


def test_request_host_none_for_http10_without_host() -> None:
    assert request_host(b"/x", [(b"accept", b"*/*")]) == b""


def test_absolute_form_authority_wins_over_host_header() -> None:
    # RFC 9112 3.2.2: the proxy must ignore the received Host
    headers = [(b"host", b"evil.example")]
    assert request_host(b"http://good.example:81/a?b", headers) == b"good.example:81"
    assert request_host(b"HTTPS://good.example", headers) == b"good.example"
    assert request_host(b"http://user@good.example/", headers) == b"good.example"
    assert request_host(b"http://good.example?q", headers) == b"good.example"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (b"/a/b?x=1&y", (b"/a/b", b"x=1&y")),
        (b"/a/b", (b"/a/b", b"")),
        (b"/?", (b"/", b"")),
        (b"http://h:8/p/q?z", (b"/p/q", b"z")),
        (b"http://h:8", (b"/", b"")),
        (b"http://h?z=1", (b"/", b"z=1")),
        (b"/a#frag", (b"/a", b"")),
        (b"*", (b"*", b"")),
    ],
)
def test_split_target(target: bytes, expected: tuple[bytes, bytes]) -> None:
    assert split_target(target) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"Example.COM", b"example.com"),
        (b"example.com:8443", b"example.com"),
        (b"example.com.", b"example.com"),
        (b"example.com.:80", b"example.com"),
        (b"[2001:DB8::1]:8443", b"[2001:db8::1]"),
        (b"[2001:db8::1]", b"[2001:db8::1]"),
        (b"2001:db8::1", b"[2001:db8::1]"),
        (b"10.0.0.1:80", b"10.0.0.1"),
        (b"", b""),
    ],
)
def test_normalize_host(raw: bytes, expected: bytes) -> None:
    assert normalize_host(raw) == expected


@given(
    st.from_regex(r"([A-Za-z0-9-]{1,8}\.){0,3}[A-Za-z0-9-]{1,8}\.?(:[0-9]{1,5})?", fullmatch=True)
)
def test_normalize_host_is_idempotent_and_drops_port(raw: str) -> None:
    once = normalize_host(raw.encode())
    assert normalize_host(once) == once
    assert b":" not in once
    assert once == raw.split(":")[0].rstrip(".").lower().encode()


@given(st.binary(max_size=40))
def test_normalize_host_never_raises(raw: bytes) -> None:
    assert isinstance(normalize_host(raw), bytes)


# --- origin_parts: what the exchange routes on and sends -------------------------------------

from l7lb.routing.target import origin_parts  # noqa: E402


def test_origin_parts_of_each_target_form() -> None:
    target = b"/a/b?c=d"
    path, query, origin = origin_parts(target)
    assert (path, query, origin) == (b"/a/b", b"c=d", target)
    assert origin is target  # the client's own request line can be reused
    assert origin_parts(b"/x") == (b"/x", b"", b"/x")
    assert origin_parts(b"*") == (b"*", b"", b"*")
    assert origin_parts(b"http://h:8080/p?q=1") == (b"/p", b"q=1", b"/p?q=1")
    assert origin_parts(b"https://h") == (b"/", b"", b"/")
