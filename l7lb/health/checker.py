"""Schedules active checks and reports every transition.

Run one ``HealthChecker`` per director, in the supervisor: a check per worker
would multiply the load on every realserver by the worker count, and workers
could disagree. The supervisor pushes each ``on_change`` to the workers.

Each target gets its own task. Checks start at fixed times (every
``interval`` from the first), not ``interval`` after the previous one ended,
and a check that overruns skips the slots it missed: a backend sees at most
one check per interval per server.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from l7lb.health.probe import ProbeResult, probe
from l7lb.health.state import HealthState
from l7lb.health.target import CheckTarget

# on_change(pool, server, up, reason); may return an awaitable, which is awaited.
OnChange = Callable[[str, str, bool, str], object]

log = logging.getLogger("l7lb.health")


@dataclass(frozen=True, slots=True)
class ServerHealth:
    """What ``HealthChecker.status`` reports for one server."""

    up: bool  # False while pending
    pending: bool  # no check has finished yet (FIRST_CHECK)
    reason: str  # the last check's reason, "" before the first
    checks: int  # checks finished so far
    failures: int = 0  # ... of which failed
    last: float = 0.0  # when the last one finished (time.time()), 0 before the first


class _Entry:
    __slots__ = ("checks", "failures", "last", "reason", "state", "target", "task")

    def __init__(self, target: CheckTarget, state: HealthState) -> None:
        self.target = target
        self.state = state
        self.reason = ""
        self.checks = 0
        self.failures = 0
        self.last = 0.0
        self.task: asyncio.Task[None] | None = None


class HealthChecker:
    """Active health checks of ``targets``; ``on_change`` hears each
    transition. Use ``async with`` or ``start()`` / ``stop()``."""

    def __init__(self, targets: Iterable[CheckTarget], on_change: OnChange) -> None:
        self._on_change = on_change
        self._entries: dict[tuple[str, str], _Entry] = {}
        for target in targets:
            if target.key in self._entries:
                raise ValueError(f"duplicate health check target {target.pool}/{target.server}")
            self._entries[target.key] = _Entry(target, self._new_state(target))
        self._running = False

    @staticmethod
    def _new_state(target: CheckTarget) -> HealthState:
        return HealthState(target.rise, target.fall, target.initial)

    async def __aenter__(self) -> HealthChecker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._running = True
        for entry in self._entries.values():
            self._spawn(entry)

    async def stop(self) -> None:
        self._running = False
        tasks = [e.task for e in self._entries.values() if e.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for entry in self._entries.values():
            entry.task = None

    async def update(self, targets: Iterable[CheckTarget]) -> None:
        """Apply a reload: new servers start checking, removed ones stop,
        changed ones restart keeping their current up/down state."""
        new = {t.key: t for t in targets}
        for key in list(self._entries):
            if key not in new:
                await self._cancel(self._entries.pop(key))
        for key, target in new.items():
            entry = self._entries.get(key)
            if entry is not None and entry.target == target:
                continue
            state = self._new_state(target)
            if entry is not None:
                await self._cancel(entry)
                state.up, state.pending = entry.state.up, entry.state.pending
            self._entries[key] = entry = _Entry(target, state)
            if self._running:
                self._spawn(entry)

    def is_up(self, pool: str, server: str) -> bool:
        """Current state; pending and unknown servers count as down."""
        entry = self._entries.get((pool, server))
        return entry is not None and entry.state.up and not entry.state.pending

    def status(self) -> dict[tuple[str, str], ServerHealth]:
        return {
            key: ServerHealth(
                e.state.up and not e.state.pending,
                e.state.pending,
                e.reason,
                e.checks,
                e.failures,
                e.last,
            )
            for key, e in self._entries.items()
        }

    def _spawn(self, entry: _Entry) -> None:
        name = f"health {entry.target.pool}/{entry.target.server}"
        entry.task = asyncio.get_running_loop().create_task(self._run(entry), name=name)

    @staticmethod
    async def _cancel(entry: _Entry) -> None:
        if entry.task is not None:
            entry.task.cancel()
            await asyncio.gather(entry.task, return_exceptions=True)
            entry.task = None

    async def _run(self, entry: _Entry) -> None:
        loop = asyncio.get_running_loop()
        interval = entry.target.interval
        next_at = loop.time()
        while True:
            try:
                result = await probe(entry.target)
            except Exception as exc:
                # probe() maps network errors to reasons; anything else is a
                # bug or a bad target, reported as a failed check, not a dead task.
                result = ProbeResult(False, f"check error: {exc!r}")
            await self._apply(entry, result)
            now = loop.time()
            next_at += interval
            if next_at < now:
                # Overran: skip missed slots rather than fire a burst.
                next_at += interval * ((now - next_at) // interval + 1)
            await asyncio.sleep(next_at - now)

    async def _apply(self, entry: _Entry, result: ProbeResult) -> None:
        entry.checks += 1
        entry.failures += 0 if result.ok else 1
        entry.last = time.time()
        entry.reason = result.reason
        changed = entry.state.record(result.ok)
        if changed is None:
            return
        target = entry.target
        if changed:
            log.info("pool %s server %s is UP: %s", target.pool, target.server, result.reason)
        else:
            log.warning("pool %s server %s is DOWN: %s", target.pool, target.server, result.reason)
        try:
            outcome = self._on_change(target.pool, target.server, changed, result.reason)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:
            # A broken listener must not stop the checks of this server.
            log.exception("health on_change failed for %s/%s", target.pool, target.server)
