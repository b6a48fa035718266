"""[vip.limits] counters in real Redis and memcached: shared totals, expiry, and a store
that is down or slow answering None within its deadline."""

from __future__ import annotations

import asyncio
import time

import pytest

from l7lb.store.backend import open_store
from l7lb.store.limits import LimitStore

pytestmark = pytest.mark.timeout(30)


def test_directors_add_to_one_total(engine_server) -> None:  # type: ignore[no-untyped-def]
    ns = engine_server.settings().namespace

    async def main() -> None:
        a = LimitStore(open_store(engine_server.settings(ns)))
        b = LimitStore(open_store(engine_server.settings(ns)))
        try:
            assert await a.add("www", 17, "192.0.2.7", 5, 30) == 5
            assert await b.add("www", 17, "192.0.2.7", 3, 30) == 8  # b learns a's 5
            assert await a.add("www", 17, "192.0.2.7", 1, 30) == 9
            # another window, address or VIP is another counter
            assert await a.add("www", 18, "192.0.2.7", 2, 30) == 2
            assert await a.add("www", 17, "2001:db8::/64", 4, 30) == 4
            assert await a.add("api", 17, "192.0.2.7", 6, 30) == 6
            assert await a.add("www", 17, "192.0.2.7", 0, 30) is None  # nothing to add
            assert a.store.counters.failures == 0
        finally:
            await a.store.close()
            await b.store.close()

    asyncio.run(main())


def test_counters_expire(engine_server) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        store = LimitStore(open_store(engine_server.settings()))
        try:
            assert await store.add("www", 1, "192.0.2.7", 5, 1) == 5
            assert await store.add("www", 1, "192.0.2.7", 1, 1) == 6
            await asyncio.sleep(2.2)
            assert await store.add("www", 1, "192.0.2.7", 1, 1) == 1  # a new counter
        finally:
            await store.store.close()

    asyncio.run(main())


def test_a_dead_store_answers_none_within_its_deadline(own_server) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        store = LimitStore(open_store(own_server.settings(write_timeout=0.2)))
        try:
            assert await store.add("www", 1, "192.0.2.7", 5, 30) == 5
            own_server.stop()
            t0 = time.monotonic()
            assert await store.add("www", 1, "192.0.2.7", 1, 30) is None
            assert await store.add("www", 1, "192.0.2.7", 1, 30) is None  # outage: at once
            assert time.monotonic() - t0 < 1.0
            assert not store.store.reachable
        finally:
            await store.store.close()

    asyncio.run(main())


def test_a_slow_store_answers_none_at_the_deadline(engine_server, slow_proxy) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        async with slow_proxy(engine_server.port, 0.5) as port:
            settings = engine_server.settings(port=port, write_timeout=0.1)
            store = LimitStore(open_store(settings))
            try:
                t0 = time.monotonic()
                assert await store.add("www", 1, "192.0.2.7", 5, 30) is None
                assert time.monotonic() - t0 < 0.4
                assert store.store.counters.timeouts == 1
            finally:
                await store.store.close()

    asyncio.run(main())
