"""SharedStore against real redis-server and memcached processes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest

from l7lb.store.backend import engine_key, open_store

pytestmark = pytest.mark.timeout(30)


def test_get_many_set_add_delete(engine_server) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        store = open_store(engine_server.settings())
        try:
            assert await store.get_many([b"a", b"b"]) == {}
            assert await store.set(b"a", b"\x00one\xff", 60)
            assert await store.set(b"b\x00raw", b"two", 60)
            found = await store.get_many([b"a", b"b\x00raw", b"missing", b"a"])
            assert found == {b"a": b"\x00one\xff", b"b\x00raw": b"two"}
            assert await store.get(b"a") == b"\x00one\xff"

            assert await store.add(b"c", b"first", 60) is True
            assert await store.add(b"c", b"second", 60) is False  # exists: not replaced
            assert await store.get(b"c") == b"first"

            assert await store.delete(b"c")
            assert await store.get(b"c") is None
            assert await store.add(b"c", b"third", 60) is True
            assert await store.delete(b"never-there")

            # values the store refuses never reach the engine
            assert not await store.set(b"e", b"", 60)
            assert not await store.set(b"e", b"x", 0)
            assert store.counters.failures == 0
            assert store.reachable
        finally:
            await store.close()

    asyncio.run(main())


def test_ttl_expires(engine_server) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        store = open_store(engine_server.settings())
        try:
            # memcached counts whole seconds: 0.3 s is rounded up to 1 s
            assert await store.set(b"short", b"v", 0.3)
            assert await store.get(b"short") == b"v"
            await asyncio.sleep(2.1)
            assert await store.get(b"short") is None
        finally:
            await store.close()

    asyncio.run(main())


def test_namespaces_are_isolated(engine_server) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        a = open_store(engine_server.settings("clusterA"))
        b = open_store(engine_server.settings("clusterB"))
        try:
            assert await a.set(b"k", b"from-a", 60)
            assert await b.get(b"k") is None
            assert await b.add(b"k", b"from-b", 60)  # no collision with A's key
            assert await a.get(b"k") == b"from-a"
            assert await b.get(b"k") == b"from-b"
        finally:
            await a.close()
            await b.close()

    asyncio.run(main())


def test_engine_key_shape() -> None:
    assert engine_key("l7lb", b"ticket-ring:l7lb:3600s:12") == "l7lb:ticket-ring:l7lb:3600s:12"
    hashed = engine_key("l7lb", b"tls1:vip\x00name\x00" + bytes(32))
    assert hashed.startswith("l7lb:~") and len(hashed) == len("l7lb:~") + 64
    assert engine_key("l7lb", b"~x") != engine_key("l7lb", b"~x".hex().encode())
    long_key = engine_key("n", b"a" * 400)  # memcached keys are at most 250 bytes
    assert len(long_key) < 250


def _wait_until(predicate: Callable[[], bool], deadline: float) -> None:
    end = time.monotonic() + deadline
    while not predicate() and time.monotonic() < end:
        time.sleep(0.01)


def test_outage_and_recovery(own_server, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG, logger="l7lb.store")

    async def main() -> None:
        store = open_store(own_server.settings(timeout=0.05, write_timeout=0.5), retry_interval=0.2)
        try:
            assert await store.set(b"k", b"v", 60)
            assert await store.get(b"k") == b"v"

            own_server.stop()
            worst = 0.0
            for _ in range(40):
                started = time.monotonic()
                assert await store.get_many([b"k"]) == {}
                assert await store.set(b"k2", b"v", 60) is False
                assert await store.add(b"k3", b"v", 60) is False
                assert await store.delete(b"k") is False
                worst = max(worst, time.monotonic() - started)
                await asyncio.sleep(0.01)
            # each call is bounded by its deadline (write_timeout 0.5 s for writes)
            assert worst < 4 * 0.5 + 0.2
            assert not store.reachable
            assert store.counters.failures >= 160
            assert store.counters.skipped > 0  # most calls never touched the network
            assert store.counters.outages == 1

            own_server.start()  # same port; the store was not rebuilt
            await asyncio.sleep(0.25)  # past retry_interval: the next call is a probe
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not await store.set(b"k4", b"back", 60):
                await asyncio.sleep(0.05)
            assert store.reachable
            assert await store.get(b"k4") == b"back"
        finally:
            await store.close()

    asyncio.run(main())
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    down = [m for m in warnings if "unreachable" in m]
    up = [m for m in warnings if "reachable again" in m]
    assert len(down) == 1, warnings  # once per outage, not per request
    assert own_server.url.split("/0")[0] in down[0]
    assert len(up) == 1 and "operations failed" in up[0]


def test_store_down_at_start_is_an_outage(own_server) -> None:  # type: ignore[no-untyped-def]
    own_server.stop()

    async def main() -> None:
        store = open_store(own_server.settings(), retry_interval=0.1)
        try:
            started = time.monotonic()
            assert await store.get_many([b"x"]) == {}
            assert time.monotonic() - started < 0.5
            assert not store.reachable
            own_server.start()
            await asyncio.sleep(0.15)
            assert await store.set(b"x", b"y", 60)
            assert await store.get(b"x") == b"y"
        finally:
            await store.close()

    asyncio.run(main())


@pytest.mark.timeout(60)
@pytest.mark.parametrize("engine", ["redis", "memcached"])
def test_slow_store_is_bounded_by_the_deadline(  # type: ignore[no-untyped-def]
    engine, shared_redis, shared_memcached, slow_proxy
) -> None:
    server = shared_redis if engine == "redis" else shared_memcached

    async def main() -> None:
        # A store 2 s slow and a 20 ms deadline: the call returns at the deadline, far
        # sooner than the store would answer even when a busy machine wakes it late.
        async with slow_proxy(server.port, 2.0) as port:
            # writes have a long deadline, not this test's subject: through the 2 s proxy,
            # a new connection's set-up and the set wait for four replies with redis (8 s),
            # which a busy machine stretched past the 10 s this deadline was
            settings = server.settings(port=port, timeout=0.02, write_timeout=30.0)
            store = open_store(settings, retry_interval=0.05)
            try:
                # writes have the long deadline: they get through the 2 s proxy
                assert await store.set(b"slow", b"value", 60)
                started = time.monotonic()
                assert await store.get_many([b"slow"]) == {}
                took = time.monotonic() - started
                assert took < 1.0, took
                assert store.counters.timeouts == 1
                # the abandoned request finishes in the background without harm...
                await asyncio.sleep(2.5)
                # ...and the same store still answers correctly when given time
                assert await store.get(b"slow", timeout=10.0) == b"value"
            finally:
                await store.close()

    asyncio.run(main())


@pytest.mark.timeout(90)
def test_abandoned_requests_never_cross_replies(  # type: ignore[no-untyped-def]
    engine_server, slow_proxy
) -> None:
    """Deadlines that fire mid-request must not leave a reply on a pooled
    connection for the next request to read (a cancelled aiomcache request
    would)."""

    async def main() -> None:
        # every reply 300 ms late and a 10 ms deadline: each lookup is abandoned even when a
        # busy machine runs the deadline's timer late
        async with slow_proxy(engine_server.port, 0.3) as port:
            settings = engine_server.settings(port=port, timeout=0.01, write_timeout=10.0)
            store = open_store(settings, retry_interval=0.0)
            try:
                for i in range(10):
                    assert await store.set(f"k{i}".encode(), b"value-%d" % i, 60)
                for i in range(10):
                    assert await store.get(f"k{i}".encode()) is None  # abandoned
                assert store.counters.timeouts == 10
                for i in range(10):  # on the same pooled connections, right behind them
                    assert await store.get(f"k{i}".encode(), timeout=10.0) == b"value-%d" % i
            finally:
                await store.close()

    asyncio.run(main())


def test_caller_cancelling_at_the_deadline_counts_as_a_timeout(  # type: ignore[no-untyped-def]
    shared_redis, slow_proxy, caplog: pytest.LogCaptureFixture
) -> None:
    """The TLS prefetch wraps its lookup in asyncio.wait_for with the store's own deadline,
    whose timer fires first: the store must still count the timeout and open the outage
    (else a slow store never shows in its counters or its log, and every handshake keeps
    sending it lookups). A caller that leaves early is not the store's failure."""
    caplog.set_level(logging.WARNING, logger="l7lb.store")

    async def main() -> None:
        async with slow_proxy(shared_redis.port, 0.3) as port:
            store = open_store(shared_redis.settings(port=port, timeout=0.05), retry_interval=5)
            try:
                with pytest.raises(asyncio.CancelledError):
                    task = asyncio.ensure_future(store.get_many([b"early"]))
                    await asyncio.sleep(0.005)
                    task.cancel()
                    await task
                assert store.counters.timeouts == 0 and store.reachable

                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(store.get_many([b"k"]), 0.05)
                assert store.counters.timeouts == 1
                assert store.counters.failures == 1
                assert not store.reachable and store.counters.outages == 1
                # the outage is open: the next lookups do not wait for the slow store
                started = time.monotonic()
                assert await store.get_many([b"k"]) == {}
                assert time.monotonic() - started < 0.02
            finally:
                await store.close()

    asyncio.run(main())
    down = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(down) == 1 and down[0].endswith("unreachable: no answer within 50 ms"), down
