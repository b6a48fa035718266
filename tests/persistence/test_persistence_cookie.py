"""CookieCodec: round trips, tamper resistance, expiry, pool binding."""

from __future__ import annotations

import base64
import hmac
import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.persistence.cookie import (
    SERVER_ID_LEN,
    VALUE_LEN,
    CookieCodec,
    CookieInfo,
    refresh_due,
)
from l7lb.persistence.setcookie import _COOKIE_OCTET

SECRET = b"0123456789abcdef-test-secret"
POOLS = {"web": ["s1", "s2", "s3"], "api": ["s1", "a2"]}
NOW = 1_800_000_000


def codec() -> CookieCodec:
    return CookieCodec(SECRET, POOLS)


def test_round_trip_and_shape() -> None:
    c = codec()
    value = c.encode("web", "s2", NOW - 100, NOW - 10)
    assert len(value) == VALUE_LEN == 36
    assert re.fullmatch(r"[A-Za-z0-9_-]+", value)
    assert set(value.encode()) <= _COOKIE_OCTET
    assert c.decode(value, "web", NOW, 3600, 86400) == "s2"
    assert c.read(value, "web", NOW, None, None) == CookieInfo("s2", NOW - 100, NOW - 10)


def test_same_secret_same_values_on_every_director() -> None:
    a, b = CookieCodec(SECRET, POOLS), CookieCodec(SECRET, {"web": ["s3", "s1", "s2"]})
    assert a.encode("web", "s1", NOW, NOW) == b.encode("web", "s1", NOW, NOW)
    assert a.server_id("web", "s1") == b.server_id("web", "s1")
    assert b.decode(a.encode("web", "s3", NOW, NOW), "web", NOW, None, None) == "s3"


def test_other_secret_rejects() -> None:
    other = CookieCodec(b"another secret of enough bytes", POOLS)
    value = codec().encode("web", "s1", NOW, NOW)
    assert other.decode(value, "web", NOW, None, None) is None
    assert other.server_id("web", "s1") != codec().server_id("web", "s1")


def test_value_reveals_neither_name_nor_address() -> None:
    c = CookieCodec(SECRET, {"web": ["10.0.0.1:80"]})
    value = c.encode("web", "10.0.0.1:80", NOW, NOW)
    raw = base64.urlsafe_b64decode(value)
    assert b"10.0.0.1" not in raw and b"10.0.0.1" not in value.encode()


def test_other_pool_rejected_even_for_shared_server_name() -> None:
    c = codec()
    value = c.encode("web", "s1", NOW, NOW)
    assert c.decode(value, "web", NOW, None, None) == "s1"
    assert c.decode(value, "api", NOW, None, None) is None
    assert c.decode(value, "nosuchpool", NOW, None, None) is None


def test_expiry() -> None:
    c = codec()
    value = c.encode("web", "s1", NOW - 1000, NOW - 100)
    assert c.decode(value, "web", NOW, 100, None) == "s1"  # exactly max idle: still valid
    assert c.decode(value, "web", NOW, 99, None) is None
    assert c.decode(value, "web", NOW, None, 1000) == "s1"
    assert c.decode(value, "web", NOW, None, 999) is None
    # a value replayed long after expiry
    assert c.decode(value, "web", NOW + 10**6, 3600, None) is None


def test_removed_server_rejected() -> None:
    value = codec().encode("web", "s3", NOW, NOW)
    smaller = CookieCodec(SECRET, {"web": ["s1", "s2"]})
    assert smaller.decode(value, "web", NOW, None, None) is None


def test_every_single_byte_mutation_is_rejected() -> None:
    c = codec()
    value = c.encode("web", "s1", NOW - 5, NOW)
    alphabet = [chr(i) for i in range(256)]
    for pos in range(len(value)):
        for ch in alphabet:
            if ch == value[pos]:
                continue
            mutated = value[:pos] + ch + value[pos + 1 :]
            assert c.decode(mutated, "web", NOW, None, None) is None, (pos, ch)
        # deletion and insertion
        assert c.decode(value[:pos] + value[pos + 1 :], "web", NOW, None, None) is None
        for ch in "A_-=+/ ":
            assert c.decode(value[:pos] + ch + value[pos:], "web", NOW, None, None) is None


def test_truncations_and_extensions_rejected() -> None:
    c = codec()
    value = c.encode("web", "s1", NOW, NOW)
    for n in range(len(value)):
        assert c.decode(value[:n], "web", NOW, None, None) is None
    for extra in ("=", "==", "A", "AAAA", " ", "\n"):
        assert c.decode(value + extra, "web", NOW, None, None) is None
    # the same bytes spelled with the standard alphabet are not accepted
    std = base64.b64encode(base64.urlsafe_b64decode(value)).decode()
    if std != value:
        assert c.decode(std, "web", NOW, None, None) is None


def test_cannot_steer_by_swapping_server_id() -> None:
    # A client that has seen values for s1 and s2 splices s2's id into s1's value.
    c = codec()
    v1 = base64.urlsafe_b64decode(c.encode("web", "s1", NOW, NOW))
    v2 = base64.urlsafe_b64decode(c.encode("web", "s2", NOW, NOW))
    spliced = v1[:1] + v2[1:7] + v1[7:]
    assert c.decode(base64.urlsafe_b64encode(spliced).decode(), "web", NOW, None, None) is None


def test_server_ids() -> None:
    c = codec()
    sid = c.server_id("web", "s2")
    assert len(sid) == SERVER_ID_LEN
    assert c.server_for_id("web", sid) == "s2"
    assert c.server_for_id("api", sid) is None
    assert c.server_for_id("web", sid[:-1]) is None
    assert c.server_for_id("web", sid + "A") is None
    assert c.server_for_id("web", "!" * SERVER_ID_LEN) is None
    assert c.server_id("web", "s1") != c.server_id("api", "s1")


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        CookieCodec(b"short")
    c = codec()
    with pytest.raises(ValueError):
        c.encode("web", "s1", NOW, NOW - 1)
    with pytest.raises(ValueError):
        c.encode("web", "s1", -1, 0)
    with pytest.raises(ValueError):
        c.encode("web", "s1", 0, 2**32)


def test_refresh_due() -> None:
    info = CookieInfo("s1", NOW - 1000, NOW - 100)
    assert not refresh_due(info, NOW, None)
    assert refresh_due(info, NOW, 400)  # a quarter (100) has passed
    assert not refresh_due(info, NOW, 404)  # a quarter is 101


names = st.text(min_size=1, max_size=30)
times = st.integers(min_value=0, max_value=2**32 - 1)


@settings(max_examples=200)
@given(pool=names, server=names, a=times, b=times)
def test_round_trip_property(pool: str, server: str, a: int, b: int) -> None:
    issued, last = min(a, b), max(a, b)
    c = CookieCodec(SECRET, {pool: [server]})
    value = c.encode(pool, server, issued, last)
    assert c.read(value, pool, last, None, None) == CookieInfo(server, issued, last)


@settings(max_examples=300)
@given(value=st.text(max_size=60))
def test_arbitrary_strings_never_crash(value: str) -> None:
    assert codec().decode(value, "web", NOW, None, None) is None


def reference_value(secret: bytes, pool: str, server: str, issued: int, last_seen: int) -> str:
    """The format of docs/persistence.md, written independently with hmac.digest."""
    id_key = hmac.digest(secret, b"l7lb persistence v1\x00server-id", "sha256")
    mac_key = hmac.digest(secret, b"l7lb persistence v1\x00cookie-tag", "sha256")
    p = pool.encode()
    p = struct.pack(">H", len(p)) + p
    sid = hmac.digest(id_key, p + server.encode(), "sha256")[:6]
    body = b"\x01" + sid + struct.pack(">II", issued, last_seen)
    tag = hmac.digest(mac_key, p + body, "sha256")[:12]
    return base64.urlsafe_b64encode(body + tag).decode()


@settings(max_examples=100)
@given(pool=names, server=names, a=times, b=times)
def test_matches_reference_format(pool: str, server: str, a: int, b: int) -> None:
    issued, last = min(a, b), max(a, b)
    c = CookieCodec(SECRET, {pool: [server]})
    assert c.encode(pool, server, issued, last) == reference_value(
        SECRET, pool, server, issued, last
    )


def test_verified_cache_keeps_expiry_pool_and_membership() -> None:
    c = codec()
    value = c.encode("web", "s3", NOW - 100, NOW - 100)
    assert c.decode(value, "web", NOW, 3600, None) == "s3"  # now cached
    assert c.decode(value, "web", NOW, 99, None) is None  # expiry still applies
    assert c.decode(value, "api", NOW, None, None) is None  # other pool still rejected
    c.add_pool("web", ["s1", "s2"])  # s3 removed on reload
    assert c.decode(value, "web", NOW, None, None) is None


def test_verified_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import l7lb.persistence.cookie as cookie_module

    monkeypatch.setattr(cookie_module, "VERIFIED_CACHE_SIZE", 4)
    c = codec()
    values = [c.encode("web", "s1", NOW, NOW + i) for i in range(10)]
    for v in values:
        assert c.decode(v, "web", NOW + 10, None, None) == "s1"
    assert len(c._verified) == 4
    assert all(c.decode(v, "web", NOW + 10, None, None) == "s1" for v in values)


def test_documented_example() -> None:
    # docs/persistence.md quotes this value; keep them in step.
    c = CookieCodec(b"example secret 0123456789", {"web": ["s1"]})
    assert c.encode("web", "s1", 1800000000, 1800000000) == "AYumUmodUmtJ0gBrSdIAXfKnktxaB8-1MAQP"
    assert c.server_id("web", "s1") == "i6ZSah1S"
