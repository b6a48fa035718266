"""Sealed TLS sessions in real Redis and memcached."""

from __future__ import annotations

import asyncio
import socket

import pytest
import redis

from l7lb.store.backend import open_store
from l7lb.store.sessions import SealedSessionStore
from l7lb.tls.sessions import SessionCache, prefetch, session_key

pytestmark = pytest.mark.timeout(30)

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))
SESSION = b"\x30\x82" + bytes(range(256)) * 3  # looks like DER; contents do not matter


def overwrite(server, engine_key: str, value: bytes) -> None:  # type: ignore[no-untyped-def]
    """Write straight into the engine, as an attacker on the cache server would."""
    if server.engine == "redis":
        client = redis.Redis(host="127.0.0.1", port=server.port)
        client.set(engine_key, value, ex=60)
        client.close()
        return
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"set %s 0 60 %d\r\n%s\r\n" % (engine_key.encode(), len(value), value))
        assert s.recv(100).startswith(b"STORED")


def read_raw(server, engine_key: str) -> bytes | None:  # type: ignore[no-untyped-def]
    if server.engine == "redis":
        client = redis.Redis(host="127.0.0.1", port=server.port)
        value = client.get(engine_key)
        client.close()
        return value  # type: ignore[return-value]
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"get %s\r\n" % engine_key.encode())
        data = b""
        while not data.endswith(b"END\r\n"):
            data += s.recv(65536)
    if data == b"END\r\n":
        return None
    header, _, rest = data.partition(b"\r\n")
    return rest[: int(header.split()[3])]


def test_sessions_round_trip_sealed(engine_server) -> None:  # type: ignore[no-untyped-def]
    key = session_key("vip-a", "www.example.com", b"\x01" * 32)

    async def main() -> None:
        a = SealedSessionStore(open_store(engine_server.settings("ns1")), [KEY_A])
        b = SealedSessionStore(open_store(engine_server.settings("ns1")), [KEY_A])
        try:
            await a.put(key, SESSION, 60)
            assert await b.get_many([key]) == {key: SESSION}
            raw = read_raw(engine_server, a.store.key(key))
            assert raw is not None and SESSION not in raw  # encrypted at rest
            assert b"www.example.com" not in a.store.key(key).encode()  # hashed key
            assert b.counters.hits == 1 and b.counters.tampered == 0
        finally:
            await a.store.close()
            await b.store.close()

    asyncio.run(main())


def test_tampered_or_moved_blob_is_a_miss(engine_server) -> None:  # type: ignore[no-untyped-def]
    key = session_key("vip-a", "a.example", b"\x02" * 32)
    other = session_key("vip-b", "a.example", b"\x02" * 32)  # same id, another VIP
    other_name = session_key("vip-a", "b.example", b"\x02" * 32)

    async def main() -> None:
        store = SealedSessionStore(open_store(engine_server.settings()), [KEY_A])
        try:
            await store.put(key, SESSION, 60)
            sealed = read_raw(engine_server, store.store.key(key))
            assert sealed is not None
            # the genuine blob copied under another VIP's or name's key never opens
            overwrite(engine_server, store.store.key(other), sealed)
            overwrite(engine_server, store.store.key(other_name), sealed)
            assert await store.get_many([other, other_name]) == {}
            # a flipped bit, a truncated blob, garbage
            flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
            for bad in (flipped, sealed[:10], b"garbage"):
                overwrite(engine_server, store.store.key(key), bad)
                assert await store.get_many([key]) == {}
            assert store.counters.tampered == 5
            assert store.counters.hits == 0
        finally:
            await store.store.close()

    asyncio.run(main())


def test_key_rotation(engine_server) -> None:  # type: ignore[no-untyped-def]
    key = session_key("vip", "", b"\x03" * 16)
    ns = engine_server.settings().namespace

    async def main() -> None:
        old = SealedSessionStore(open_store(engine_server.settings(ns)), [KEY_A])
        rotated = SealedSessionStore(open_store(engine_server.settings(ns)), [KEY_B, KEY_A])
        unaware = SealedSessionStore(open_store(engine_server.settings(ns)), [KEY_B])
        try:
            await old.put(key, SESSION, 60)
            assert await rotated.get_many([key]) == {key: SESSION}  # previous key opens
            assert await unaware.get_many([key]) == {}  # dropped key: a miss
            await rotated.put(key, SESSION + b"2", 60)  # sealed with the new key
            assert await old.get_many([key]) == {}
            assert await unaware.get_many([key]) == {key: SESSION + b"2"}
        finally:
            for s in (old, rotated, unaware):
                await s.store.close()

    asyncio.run(main())


def test_publish_then_prefetch_into_the_lru(engine_server) -> None:  # type: ignore[no-untyped-def]
    """The listener's path: director A publishes from its cache, B prefetches."""
    keys = [session_key("vip", "n", bytes([i]) * 32) for i in range(5)]
    ns = engine_server.settings().namespace

    async def main() -> None:
        a = SealedSessionStore(open_store(engine_server.settings(ns)), [KEY_A])
        b = SealedSessionStore(open_store(engine_server.settings(ns)), [KEY_A])
        cache_a, cache_b = SessionCache(), SessionCache()
        cache_a.publish = a.publish
        try:
            for k in keys:
                cache_a.put(k, SESSION + k, 60)  # returns at once
            await a.store.drain()
            assert a.counters.writes == 5
            assert await prefetch(b, cache_b, keys, deadline=1.0) == 5
            assert all(cache_b.get(k) == SESSION + k for k in keys)
        finally:
            await a.store.close()
            await b.store.close()

    asyncio.run(main())


def test_publish_is_bounded_and_store_down_is_a_miss(own_server) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        store = open_store(own_server.settings(), retry_interval=5.0)
        sessions = SealedSessionStore(store, [KEY_A])
        store.max_background = 3
        try:
            own_server.stop()
            for i in range(10):
                sessions.publish(session_key("v", "", bytes([i]) * 8), SESSION, 60)
            assert sessions.counters.dropped_writes == 7
            await store.drain()
            got = await sessions.get_many([session_key("v", "", b"\x00" * 8)])
            assert got == {}
            assert sessions.counters.misses == 1
        finally:
            await store.close()

    asyncio.run(main())


def test_needs_a_key() -> None:
    with pytest.raises(ValueError):
        SealedSessionStore(None, [])  # type: ignore[arg-type]
