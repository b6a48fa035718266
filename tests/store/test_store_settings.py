"""Parsing [store] (sans-IO apart from the key files)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.store.backend import engine_key
from l7lb.store.settings import StoreSettings, parse_session_key, parse_store_table

HEX = "00" * 16 + "ff" * 16


def parse(table: dict[str, object], base_dir: str = "") -> StoreSettings:
    got, issues = parse_store_table(table, "store", base_dir)
    assert issues == [] and got is not None
    return got


def problems(table: object, base_dir: str = "") -> list[tuple[str, str, str]]:
    got, issues = parse_store_table(table, "store", base_dir)  # type: ignore[arg-type]
    assert got is None and issues
    return issues


def test_defaults_are_memory() -> None:
    s = parse({})
    assert (s.engine, s.namespace, s.timeout, s.write_timeout) == ("memory", "l7lb", 0.02, 0.2)
    assert not s.shared and s.display_url == "memory"
    assert (s.ticket_rotation, s.ticket_max_age) == (3600.0, 86400.0)


def test_redis_url() -> None:
    s = parse(
        {
            "url": "redis://:s%40cret@10.0.0.5:6390/2",
            "session_key": HEX,
            "timeout": "15ms",
            "write_timeout": 0.5,
            "namespace": "prod-eu",
        }
    )
    assert (s.engine, s.host, s.port, s.db, s.password, s.tls) == (
        "redis",
        "10.0.0.5",
        6390,
        2,
        "s@cret",
        False,
    )
    assert (s.timeout, s.write_timeout, s.namespace) == (0.015, 0.5, "prod-eu")
    assert s.display_url == "redis://10.0.0.5:6390/2"  # no password in logs
    assert "cret" not in repr(s) and HEX not in repr(s)


def test_rediss_and_memcached_urls() -> None:
    s = parse(
        {"url": "rediss://user:pw@redis.internal?ssl_ca_certs=/etc/ca.pem", "session_key": HEX}
    )
    assert (s.tls, s.port, s.username, s.tls_ca_file, s.tls_verify) == (
        True,
        6379,
        "user",
        "/etc/ca.pem",
        True,
    )
    s = parse({"url": "memcached://[::1]", "session_key": HEX})
    assert (s.engine, s.host, s.port) == ("memcached", "::1", 11211)
    assert s.display_url == "memcached://[::1]:11211"


def test_sentinel_url() -> None:
    s = parse(
        {
            "url": "redis+sentinel://:s%40cret@10.0.0.1:26380,[fd00::2],sentinel-3/mymaster/2",
            "session_key": HEX,
        }
    )
    assert s.engine == "redis" and s.shared
    assert s.sentinels == (("10.0.0.1", 26380), ("fd00::2", 26379), ("sentinel-3", 26379))
    assert (s.service, s.db, s.password, s.username) == ("mymaster", 2, "s@cret", None)
    assert (
        s.display_url
        == "redis+sentinel://10.0.0.1:26380,[fd00::2]:26379,sentinel-3:26379/mymaster/2"
    )
    assert "cret" not in repr(s)
    s = parse({"url": "redis+sentinel://h1:26379,h2:26379/mymaster", "session_key": HEX})
    assert (s.sentinels, s.service, s.db) == ((("h1", 26379), ("h2", 26379)), "mymaster", 0)
    assert s.display_url == "redis+sentinel://h1:26379,h2:26379/mymaster"
    assert parse({"url": "redis+sentinel://user:pw@h/m", "session_key": HEX}).username == "user"


@pytest.mark.parametrize(
    ("url", "sentinels", "service", "db"),
    [
        # a bracketed IPv6 sentinel before another one, with and without a port: urlsplit
        # refuses such a netloc on Pythons with its bracketed-host check (Debian's 3.11.2,
        # 3.12), so the sentinel list must not go through it
        ("redis+sentinel://[fd00::2],h2/m", (("fd00::2", 26379), ("h2", 26379)), "m", 0),
        (
            "redis+sentinel://[fd00::2]:26381,[fd00::3]:26382/m/3",
            (("fd00::2", 26381), ("fd00::3", 26382)),
            "m",
            3,
        ),
        ("REDIS+SENTINEL://h1,h2/m#frag", (("h1", 26379), ("h2", 26379)), "m", 0),
        ("redis+sentinel://h1/m/", (("h1", 26379),), "m", 0),
    ],
)
def test_sentinel_url_host_lists(
    url: str, sentinels: tuple[tuple[str, int], ...], service: str, db: int
) -> None:
    s = parse({"url": url, "session_key": HEX})
    assert (s.sentinels, s.service, s.db) == (sentinels, service, db)


@pytest.mark.parametrize(
    ("table", "path", "fragment"),
    [
        ({"url": "redis://h"}, "store.session_key", "required"),
        ({"url": "redis+sentinel://h", "session_key": HEX}, "store.url", "service name"),
        ({"url": "redis+sentinel://h:0/m", "session_key": HEX}, "store.url", "1-65535"),
        ({"url": "redis+sentinel://a,,b/m", "session_key": HEX}, "store.url", "without a host"),
        ({"url": "redis+sentinel://[::1/m", "session_key": HEX}, "store.url", "malformed"),
        ({"url": "redis+sentinel://h/m/x", "session_key": HEX}, "store.url", "not a number"),
        ({"url": "redis+sentinel://h/m/0/1", "session_key": HEX}, "store.url", "master name"),
        ({"url": "redis+sentinel://h/m?db=1", "session_key": HEX}, "store.url", "no URL options"),
        ({"url": "redis+sentinel://h/m?db=1#x", "session_key": HEX}, "store.url", "no URL options"),
        ({"url": "redis+sentinel://h/m"}, "store.session_key", "required"),
        ({"url": "sentinel://h/m", "session_key": HEX}, "store.url", "unknown store"),
        ({"url": "rediss+sentinel://h/m", "session_key": HEX}, "store.url", "over TLS"),
        ({"url": "redis+cluster://h", "session_key": HEX}, "store.url", "Cluster"),
        ({"url": "mongodb://h", "session_key": HEX}, "store.url", "unknown store"),
        ({"url": "memcached://h/3", "session_key": HEX}, "store.url", "no password"),
        ({"url": "redis://h/zero", "session_key": HEX}, "store.url", "not a number"),
        ({"url": "redis://h?ssl_ca_certs=x", "session_key": HEX}, "store.url", "unknown URL"),
        ({"url": "redis://h:99999", "session_key": HEX}, "store.url", "malformed"),
        ({"session_key": "abc"}, "store.session_key", "32 bytes"),
        (
            {"session_key": HEX, "session_key_previous": ["nope"]},
            "store.session_key_previous 1",
            "",
        ),
        ({"session_key_previous": [HEX]}, "store.session_key_previous", "without session_key"),
        ({"namespace": "has space"}, "store.namespace", "invalid"),
        ({"timeout": "20"}, "store.timeout", "no unit"),
        ({"timeout": "5s"}, "store.timeout", "out of range"),
        ({"ticket_rotation": "10h"}, "store.ticket_max_age", "three"),
        ({"colour": "blue"}, "store.colour", "unknown key"),
    ],
)
def test_errors_name_the_key(table: dict[str, object], path: str, fragment: str) -> None:
    issues = problems(table)
    assert any(p == path and fragment in m for p, m, _ in issues), issues
    assert all(hint for _, _, hint in issues)  # every error says how to fix it


def test_session_key_hint_says_how_to_generate() -> None:
    [(_, _, hint)] = problems({"url": "memcached://h"})
    assert "secrets.token_hex(32)" in hint


def test_not_a_table() -> None:
    assert problems("redis://h")[0][0] == "store"


def test_key_files(tmp_path: Path) -> None:
    (tmp_path / "session.key").write_text(base64.b64encode(b"k" * 32).decode() + "\n")
    (tmp_path / "tickets").write_text(base64.b64encode(b"t" * 32).decode() + "\n")
    s = parse(
        {
            "url": "redis://h",
            "session_key_file": "session.key",
            "session_key_previous": [HEX],
            "ticket_key_file": "tickets",
        },
        str(tmp_path),
    )
    assert s.session_keys == (b"k" * 32, bytes.fromhex(HEX))
    assert s.ticket_key_file == str(tmp_path / "tickets")
    issues = problems({"session_key_file": "missing", "ticket_key_file": "nokeys"}, str(tmp_path))
    assert {p for p, _, _ in issues} == {"store.session_key_file", "store.ticket_key_file"}


@settings(max_examples=50)
@given(st.binary(min_size=32, max_size=32))
def test_session_key_encodings(raw: bytes) -> None:
    assert parse_session_key(raw.hex()) == raw
    assert parse_session_key(raw.hex().upper()) == raw
    assert parse_session_key(base64.b64encode(raw).decode()) == raw
    assert parse_session_key(base64.urlsafe_b64encode(raw).decode()) == raw


@settings(max_examples=100)
@given(st.binary(min_size=1, max_size=600), st.binary(min_size=1, max_size=600))
def test_engine_keys_are_valid_for_memcached_and_distinct(a: bytes, b: bytes) -> None:
    ka, kb = engine_key("ns", a), engine_key("ns", b)
    assert len(ka.encode()) <= 250 and ka.isascii() and ka.isprintable() and " " not in ka
    assert (ka == kb) == (a == b)
