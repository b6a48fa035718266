"""HealthChecker against real asyncio backends on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from l7lb.config.model import Address
from l7lb.health.checker import HealthChecker
from l7lb.health.target import CheckTarget, HttpCheck, InitialState

Event = tuple[str, str, bool, str]


def http_target(port: int, server: str = "s1", **kw: Any) -> CheckTarget:
    kw.setdefault("interval", 0.05)
    kw.setdefault("timeout", 0.5)
    return CheckTarget("web", server, Address("127.0.0.1", port), HttpCheck(), **kw)


async def wait_for(cond: Callable[[], bool], limit: float = 5.0) -> None:
    for _ in range(int(limit / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


def test_fall_then_rise(backend_type: Any, caplog: pytest.LogCaptureFixture) -> None:
    events: list[Event] = []

    async def main() -> tuple[int, int]:
        backend = await backend_type().start()
        target = http_target(backend.port, rise=2, fall=3)
        async with HealthChecker([target], lambda *e: events.append(e)) as checker:
            assert not checker.is_up("web", "s1")  # pending until the first check
            await wait_for(lambda: len(events) == 1)
            assert checker.is_up("web", "s1")
            backend.status = 503
            before_down = backend.connections
            await wait_for(lambda: len(events) == 2)
            to_down = backend.connections - before_down
            assert not checker.is_up("web", "s1")
            backend.status = 200
            before_up = backend.connections
            await wait_for(lambda: len(events) == 3)
            to_up = backend.connections - before_up
            assert checker.is_up("web", "s1")
        await backend.stop()
        return to_down, to_up

    caplog.set_level(logging.INFO, logger="l7lb.health")
    to_down, to_up = asyncio.run(main())
    assert events == [
        ("web", "s1", True, "status 200"),
        ("web", "s1", False, "status 503 not in 200-399"),
        ("web", "s1", True, "status 200"),
    ]
    # fall = 3 failing checks (one more if a check was in flight at the switch)
    assert to_down in (3, 4)
    assert to_up in (2, 3)
    messages = [r.getMessage() for r in caplog.records if r.name == "l7lb.health"]
    assert messages == [
        "pool web server s1 is UP: status 200",
        "pool web server s1 is DOWN: status 503 not in 200-399",
        "pool web server s1 is UP: status 200",
    ]


def test_one_check_per_interval(backend_type: Any) -> None:
    async def main() -> tuple[list[int], list[float]]:
        fast = [await backend_type().start() for _ in range(2)]
        slow = await backend_type(delay=0.25).start()
        targets = [
            http_target(fast[0].port, "a", interval=0.1),
            http_target(fast[1].port, "b", interval=0.1),
            http_target(slow.port, "slow", interval=0.1, timeout=1.0),
        ]
        async with HealthChecker(targets, lambda *e: None):
            await asyncio.sleep(1.0)
        for b in (*fast, slow):
            await b.stop()
        gaps = [b - a for a, b in zip(slow.times, slow.times[1:], strict=False)]
        return [fast[0].connections, fast[1].connections, slow.connections], gaps

    counts, slow_gaps = asyncio.run(main())
    # checks at 0.0, 0.1, ..., ~1.0 s: 10 or 11 per server, never a burst
    assert 9 <= counts[0] <= 11 and 9 <= counts[1] <= 11
    # a check that overruns (0.25 s > 0.1 s) skips slots instead of catching up
    assert 3 <= counts[2] <= 5
    assert all(gap >= 0.25 for gap in slow_gaps)


def test_tcp_check_detects_stopped_server(backend_type: Any) -> None:
    events: list[Event] = []

    async def main() -> None:
        backend = await backend_type().start()
        target = CheckTarget(
            "web", "s1", Address("127.0.0.1", backend.port), interval=0.05, fall=2, rise=1
        )
        async with HealthChecker([target], lambda *e: events.append(e)):
            await wait_for(lambda: len(events) == 1)
            await backend.stop()
            await wait_for(lambda: len(events) == 2)

    asyncio.run(main())
    assert events == [("web", "s1", True, "connect ok"), ("web", "s1", False, "connect refused")]


def test_timeout_marks_down_with_reason(backend_type: Any) -> None:
    events: list[Event] = []

    async def main() -> None:
        backend = await backend_type(delay=1.0).start()
        target = http_target(backend.port, timeout=0.1, initial=InitialState.UP, fall=2)
        async with HealthChecker([target], lambda *e: events.append(e)):
            await wait_for(lambda: len(events) == 1)
        await backend.stop()

    asyncio.run(main())
    assert events == [("web", "s1", False, "timeout after 0.1s waiting for response")]


def test_initial_down_needs_rise_and_async_listener(backend_type: Any) -> None:
    events: list[Event] = []

    async def listener(pool: str, server: str, up: bool, reason: str) -> None:
        await asyncio.sleep(0)
        events.append((pool, server, up, reason))

    async def main() -> int:
        backend = await backend_type().start()
        target = http_target(backend.port, rise=3, initial=InitialState.DOWN)
        async with HealthChecker([target], listener):
            await wait_for(lambda: len(events) == 1)
            seen: int = backend.connections
        await backend.stop()
        return seen

    seen = asyncio.run(main())
    assert events == [("web", "s1", True, "status 200")]
    assert seen in (3, 4)


def test_failing_listener_does_not_stop_checks(backend_type: Any) -> None:
    calls: list[bool] = []

    def listener(pool: str, server: str, up: bool, reason: str) -> None:
        calls.append(up)
        raise RuntimeError("listener bug")

    async def main() -> None:
        backend = await backend_type().start()
        async with HealthChecker([http_target(backend.port, fall=1, rise=1)], listener):
            await wait_for(lambda: len(calls) == 1)
            backend.status = 500
            await wait_for(lambda: len(calls) == 2)
        await backend.stop()

    asyncio.run(main())
    assert calls == [True, False]


def test_update_adds_removes_and_keeps_state(backend_type: Any) -> None:
    events: list[Event] = []

    async def main() -> tuple[int, int, bool, dict[tuple[str, str], Any]]:
        a, b = await backend_type().start(), await backend_type().start()
        checker = HealthChecker([http_target(a.port, "a")], lambda *e: events.append(e))
        await checker.start()
        await wait_for(lambda: checker.is_up("web", "a"))
        # change a's interval (restart, state kept), add b
        await checker.update([http_target(a.port, "a", interval=0.06), http_target(b.port, "b")])
        kept = checker.is_up("web", "a")
        await wait_for(lambda: checker.is_up("web", "b"))
        await checker.update([http_target(b.port, "b")])
        after_removal = a.connections
        await asyncio.sleep(0.2)
        status = checker.status()
        await checker.stop()
        for x in (a, b):
            await x.stop()
        return after_removal, a.connections, kept, status

    after_removal, later, kept, status = asyncio.run(main())
    assert kept
    assert later == after_removal  # no more checks of a removed server
    assert set(status) == {("web", "b")} and status[("web", "b")].up
    assert [e[1] for e in events] == ["a", "b"]  # the restart of "a" did not re-report it


def test_duplicate_targets_rejected() -> None:
    t = http_target(1)
    with pytest.raises(ValueError):
        HealthChecker([t, t], lambda *e: None)


def test_status_counts_checks_failures_and_when(backend_type: Any) -> None:
    """What /metrics and the stats page read: checks run, failed, and the last one's time."""

    async def main() -> None:
        backend = await backend_type().start()
        async with HealthChecker([http_target(backend.port)], lambda *e: None) as checker:
            await wait_for(lambda: checker.status()[("web", "s1")].checks >= 2)
            st = checker.status()[("web", "s1")]
            assert st.failures == 0 and st.last > 0
            backend.status = 503
            await wait_for(lambda: checker.status()[("web", "s1")].failures >= 2)
            st = checker.status()[("web", "s1")]
            assert 2 <= st.failures < st.checks and st.reason.startswith("status 503")
        await backend.stop()

    asyncio.run(main())
