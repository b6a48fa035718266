"""SharedStore over Redis Sentinel: a real master, replica and three sentinels on 127.0.0.1.

The store finds the master through the sentinels, keeps answering within its deadlines while
the master is dead, and follows the promoted replica without being rebuilt; the outage and
the switch are logged once each.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from engines import SESSION_KEY, SentinelGroup, redis_client

from l7lb.store.backend import open_store
from l7lb.store.settings import StoreSettings, parse_store_table

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    if shutil.which("redis-sentinel") is None:
        pytest.skip("redis-sentinel is not installed (CI installs it with apt)")
    group = SentinelGroup(tmp_path)
    try:
        group.start()
        yield group
    finally:
        group.stop()


def settings_for(url: str, **table: object) -> StoreSettings:
    parsed, issues = parse_store_table(
        {"url": url, "session_key": SESSION_KEY.hex(), "namespace": "sent", **table}, "store"
    )
    assert parsed is not None, issues
    return parsed


def store_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "l7lb.store" and r.levelno >= logging.WARNING
    ]


def test_reads_and_writes_reach_the_master(
    group: SentinelGroup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="l7lb.store")

    async def main() -> None:
        store = open_store(settings_for(group.url, timeout="200ms"))
        try:
            assert await store.set(b"a", b"one", 60)
            assert await store.add(b"b", b"two", 60)
            assert await store.add(b"b", b"again", 60) is False
            assert await store.get_many([b"a", b"b", b"c"]) == {b"a": b"one", b"b": b"two"}
            assert await store.delete(b"a")
            assert await store.get(b"a") is None
            assert store.counters.failures == 0
        finally:
            await store.close()

    asyncio.run(main())
    with redis_client(group.master.port) as r:
        assert r.get("sent:b") == b"two"  # on the master itself
    found = [m for m in caplog.messages if "master 'mymaster' is" in m]
    assert found == [f"store {group.url}: master 'mymaster' is 127.0.0.1:{group.master.port}"]


def test_no_sentinel_answers_is_an_outage_not_an_error(tmp_path: Path) -> None:
    """Sentinels that are all down: every call returns "nothing" within its deadline."""
    from engines import free_port

    url = f"redis+sentinel://127.0.0.1:{free_port()},127.0.0.1:{free_port()}/mymaster"

    async def main() -> None:
        store = open_store(settings_for(url, timeout="50ms", write_timeout="100ms"))
        try:
            for _ in range(5):
                started = time.monotonic()
                assert await store.get_many([b"x"]) == {}
                assert await store.set(b"x", b"y", 60) is False
                assert time.monotonic() - started < 0.5
            assert not store.reachable and store.counters.outages == 1
        finally:
            await store.close()

    asyncio.run(main())


def test_failover_is_followed_without_a_restart(
    group: SentinelGroup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="l7lb.store")
    old, new = group.master.port, group.replica.port
    timeline: dict[str, float] = {}

    async def main() -> None:
        store = open_store(
            settings_for(group.url, timeout="100ms", write_timeout="300ms"), retry_interval=0.5
        )
        try:
            assert await store.set(b"before", b"1", 60)
            group.master.stop()
            timeline["killed"] = time.monotonic()
            worst = 0.0
            deadline = time.monotonic() + 30
            n = 0
            while time.monotonic() < deadline:
                n += 1
                started = time.monotonic()
                ok = await store.set(b"k%d" % n, b"v", 60)
                got = await store.get_many([b"k%d" % n])
                worst = max(worst, time.monotonic() - started)
                if "promoted" not in timeline and group.master_port() == new:
                    timeline["promoted"] = time.monotonic()
                if ok and got == {b"k%d" % n: b"v"}:
                    timeline["back"] = time.monotonic()
                    break
                await asyncio.sleep(0.02)
            # never longer than the two deadlines (100 ms lookup + 300 ms write), with slack
            # for a busy machine
            assert worst < 0.4 + 0.3, worst
            assert "back" in timeline, "the store never reached the promoted replica"
            assert store.reachable
            # written before the failover and replicated: still there on the new master
            assert await store.get(b"before") == b"1"
            for i in range(20):  # and it keeps working, no further outage
                assert await store.set(b"after%d" % i, b"x", 60)
            assert store.counters.outages == 1
        finally:
            await store.close()

    asyncio.run(main())
    with redis_client(new) as r:
        assert r.get("sent:after19") == b"x"  # the promoted replica holds the new writes
    warnings = store_warnings(caplog)
    down = [m for m in warnings if "unreachable" in m]
    moved = [m for m in warnings if "moved" in m]
    up = [m for m in warnings if "reachable again" in m]
    assert len(down) == 1 and str(old) in down[0], warnings
    assert moved == [
        f"store {group.url}: master 'mymaster' moved from 127.0.0.1:{old} to 127.0.0.1:{new}"
        " (Sentinel failover)"
    ]
    assert len(up) == 1, warnings
    # the store comes back soon after the sentinels promote (one probe interval, 0.5 s)
    promoted = timeline.get("promoted", timeline["back"])
    assert timeline["back"] - promoted < 3.0, timeline
