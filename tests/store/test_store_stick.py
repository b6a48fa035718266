"""Stick-table entries in real Redis and memcached."""

from __future__ import annotations

import asyncio

import pytest

from l7lb.persistence.table import source_key
from l7lb.store.backend import open_store
from l7lb.store.stick import StickStore

pytestmark = pytest.mark.timeout(30)


def test_entries_are_shared_between_directors(engine_server) -> None:  # type: ignore[no-untyped-def]
    ns = engine_server.settings().namespace

    async def main() -> None:
        a = StickStore(open_store(engine_server.settings(ns)))
        b = StickStore(open_store(engine_server.settings(ns)))
        client = source_key("192.0.2.7", 24)
        try:
            a.set("web", client, "app1", 60)  # fire and forget
            a.set("web", b"JSESSIONID-abc.node2", "app2", 60)
            await a.store.drain()
            assert await b.get("web", client) == "app1"
            assert await b.get("web", source_key("192.0.2.200", 24)) == "app1"  # same /24
            assert await b.get("web", b"JSESSIONID-abc.node2") == "app2"
            assert await b.get("api", client) is None  # tables are separate
            assert await b.get("web", source_key("198.51.100.1")) is None
            b.forget("web", client)
            await b.store.drain()
            assert await a.get("web", client) is None
        finally:
            await a.store.close()
            await b.store.close()

    asyncio.run(main())


def test_repeated_sets_are_suppressed_and_changes_are_not(engine_server) -> None:  # type: ignore[no-untyped-def]
    now = [1000.0]

    async def main() -> None:
        store = open_store(engine_server.settings())
        stick = StickStore(store, clock=lambda: now[0])
        try:
            stick.set("t", b"k", "s1", 40)
            stick.set("t", b"k", "s1", 40)  # within 40 * 0.25 s: skipped
            await store.drain()
            assert store.counters.operations == 1
            stick.set("t", b"k", "s2", 40)  # a new server is written at once
            await store.drain()
            assert store.counters.operations == 2
            assert await stick.get("t", b"k") == "s2"
            now[0] += 11  # past the refresh interval: the TTL is renewed
            stick.set("t", b"k", "s2", 40)
            await store.drain()
            assert store.counters.operations == 4
        finally:
            await store.close()

    asyncio.run(main())


def test_entries_expire_with_the_ttl(engine_server) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        stick = StickStore(open_store(engine_server.settings()))
        try:
            assert await stick.put("t", b"k", "s1", 1)
            assert await stick.get("t", b"k") == "s1"
            await asyncio.sleep(2.1)
            assert await stick.get("t", b"k") is None
        finally:
            await stick.store.close()

    asyncio.run(main())
