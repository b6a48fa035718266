"""``SharedStore``: l7lb's small interface to Redis or memcached, over aiocache.

Everything l7lb keeps in a shared store goes through these six calls
(``get_many``, ``get``, ``set``, ``add``, ``increment``, ``delete``), so the library under
them (aiocache 0.12, last released in 2024) can be swapped without touching
callers.

Failure model. A store is an optimisation: a miss costs a full TLS handshake
or a fresh scheduling decision. So no call raises and none waits past its
deadline (``timeout`` for lookups, ``write_timeout`` for writes): errors and
timeouts return "nothing" (``{}``, ``None``, ``False``), are counted, and open
an *outage*. During an outage calls fail at once, without touching the
network, except one probe every ``retry_interval`` seconds; the first probe
that succeeds closes the outage. An outage is logged once when it starts and
once when it ends (``store ... unreachable: ...``, ``store ... reachable
again after N s, M operations failed``), not per request.

A caller may also give up by cancelling the call (``asyncio.wait_for`` around
it, as the TLS prefetch does with the same deadline): at the deadline that
counts as a timeout too, so the store's own accounting sees every slow answer.

Deadlines never cancel a request in flight: aiomcache returns a connection to
its pool when a request is cancelled half-way (it only catches
``Exception``), and the next request on it would read the previous reply,
i.e. another key's value. A request that misses its deadline is abandoned
instead: the caller gets its "nothing" at once and the request finishes in
the background, bounded by ``max_in_flight``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, NoReturn, TypeVar

from l7lb.metrics.counters import STORE_LATENCY_BUCKETS, Histogram
from l7lb.store.settings import StoreSettings

log = logging.getLogger("l7lb.store")

T = TypeVar("T")

MAX_VALUE = 64 * 1024  # sealed sessions are < 17 KiB; rings and stick entries are tiny
_SAFE_KEY = re.compile(rb"[A-Za-z0-9:._-]{1,160}")
_MEMCACHED_MAX_TTL = 30 * 86400  # beyond this memcached reads the TTL as a Unix time
_LOG_EVERY = 60.0  # a flapping store logs at most one outage a minute
# A caller cancelled this far into the deadline was cancelled by it (asyncio.wait_for with
# the same deadline starts its timer a little before ours).
_CANCELLED_AT_DEADLINE = 0.9


def engine_key(namespace: str, key: bytes) -> str:
    """The key the engine sees: the namespace, then ``key`` if it is short and
    printable, else ``~`` and its SHA-256.

    memcached keys must be printable ASCII of at most 250 bytes, and TLS
    session keys hold raw session ids and SNI names; hashing them also keeps
    the names clients asked for out of the store. ``~`` is not a safe
    character, so a hashed key never equals a printable one.
    """
    if _SAFE_KEY.fullmatch(key):
        return f"{namespace}:{key.decode('ascii')}"
    return f"{namespace}:~{hashlib.sha256(key).hexdigest()}"


@dataclass(slots=True)
class StoreCounters:
    """Monotonic counters, for ``show store`` and tests."""

    operations: int = 0  # every call
    failures: int = 0  # calls that returned "nothing" because of the store
    timeouts: int = 0  # ... because the deadline passed
    errors: int = 0  # ... because the engine raised
    skipped: int = 0  # ... because an outage was open (no network request)
    overloaded: int = 0  # ... because max_in_flight requests were pending
    outages: int = 0  # outages opened
    dropped_writes: int = 0  # background writes refused: max_background were pending

    def snapshot(self) -> dict[str, int]:
        return asdict(self)


class _Failed(Exception):
    """Internal: the call produced no answer (already counted)."""


class SharedStore:
    """Bounded, never-raising access to one engine (see the module docstring).

    ``cache`` is an aiocache cache whose serializer passes bytes through and
    whose own timeout is off. Use ``open_store`` rather than this constructor.
    """

    def __init__(
        self,
        cache: Any,
        *,
        name: str,
        namespace: str,
        timeout: float,
        write_timeout: float,
        integer_ttl: bool,
        retry_interval: float = 1.0,
        max_in_flight: int = 512,
        max_background: int = 256,
        clock: Callable[[], float] = time.monotonic,
        on_close: Callable[[], Awaitable[object]] | None = None,
        context: Callable[[], str] | None = None,
    ) -> None:
        self.cache = cache
        self.name = name
        self.namespace = namespace
        self.timeout = timeout
        self.write_timeout = write_timeout
        self.retry_interval = retry_interval
        self.max_in_flight = max_in_flight
        self.counters = StoreCounters()
        self.latency = Histogram(STORE_LATENCY_BUCKETS)  # answered calls, seconds (/metrics)
        self._integer_ttl = integer_ttl  # memcached counts whole seconds
        self._clock = clock
        self.max_background = max_background
        self._pending: set[asyncio.Task[Any]] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._failed_in_outage = 0
        self._logged_at = -math.inf
        self._outage_logged = False
        self._on_close = on_close  # what else the engine opened (a Sentinel's own clients)
        self._context = context  # more to say in the outage line (the master Sentinel named)

    @property
    def reachable(self) -> bool:
        """False while an outage is open."""
        return self._down_since is None

    def key(self, key: bytes) -> str:
        return engine_key(self.namespace, key)

    # --- the interface -------------------------------------------------------

    async def get_many(self, keys: list[bytes], timeout: float | None = None) -> dict[bytes, bytes]:
        """The values found, by key; ``{}`` on a miss, a timeout or an error."""
        if not keys:
            return {}
        by_engine = {self.key(k): k for k in keys}
        engine_keys = list(by_engine)
        try:
            values = await self._call(
                lambda: self.cache.multi_get(engine_keys), timeout or self.timeout
            )
        except _Failed:
            return {}
        return {
            by_engine[ek]: v
            for ek, v in zip(engine_keys, values, strict=True)
            if isinstance(v, bytes) and v
        }

    async def get(self, key: bytes, timeout: float | None = None) -> bytes | None:
        found = await self.get_many([key], timeout)
        return found.get(key)

    async def set(self, key: bytes, value: bytes, ttl: float, timeout: float | None = None) -> bool:
        """Store ``value`` for ``ttl`` seconds; False if it was not stored."""
        if not self._valid(value, ttl):
            return False
        ek, engine_ttl = self.key(key), self._ttl(ttl)
        try:
            await self._call(
                lambda: self.cache.set(ek, value, ttl=engine_ttl), timeout or self.write_timeout
            )
        except _Failed:
            return False
        return True

    async def add(self, key: bytes, value: bytes, ttl: float, timeout: float | None = None) -> bool:
        """Create ``key`` if absent, atomically (Redis ``SET NX``, memcached ``add``).

        False when the key exists *or* the store failed: callers that must
        tell them apart read the key back.
        """
        if not self._valid(value, ttl):
            return False
        ek, engine_ttl = self.key(key), self._ttl(ttl)

        async def add() -> bool:
            try:
                await self.cache.add(ek, value, ttl=engine_ttl)
            except ValueError:  # aiocache: "Key ... already exists"
                return False
            return True

        try:
            return await self._call(add, timeout or self.write_timeout)
        except _Failed:
            return False

    async def increment(
        self, key: bytes, delta: int, ttl: float, timeout: float | None = None
    ) -> int | None:
        """Add ``delta`` (> 0) to the counter ``key``, atomically, creating it for ``ttl``
        seconds; the counter's new value, or None if the store failed. (Redis ``INCRBY``,
        then ``EXPIRE`` by whoever created it; memcached ``add``, else ``incr``.)"""
        if delta <= 0 or ttl <= 0:
            return None
        ek = self.key(key)
        seconds = min(max(1, math.ceil(ttl)), _MEMCACHED_MAX_TTL)
        cache = self.cache

        async def increment() -> int:
            if self._integer_ttl:
                try:
                    await cache.add(ek, b"%d" % delta, ttl=seconds)
                except ValueError:  # aiocache: "Key ... already exists"
                    return int(await cache.increment(ek, delta))
                return delta
            value = int(await cache.increment(ek, delta))
            if value == delta:  # we created it: it must not outlive its window
                await cache.expire(ek, seconds)
            return value

        try:
            return await self._call(increment, timeout or self.write_timeout)
        except _Failed:
            return None

    async def delete(self, key: bytes, timeout: float | None = None) -> bool:
        """Remove ``key``; False if the store failed (absent keys count as removed)."""
        ek = self.key(key)
        try:
            await self._call(lambda: self.cache.delete(ek), timeout or self.write_timeout)
        except _Failed:
            return False
        return True

    def submit(self, make: Callable[[], Awaitable[object]]) -> bool:
        """Run a write in the background (never delays the caller); False if
        ``max_background`` writes are already pending and this one is dropped.
        """
        if len(self._background) >= self.max_background:
            self.counters.dropped_writes += 1
            return False
        task = asyncio.ensure_future(make())
        self._background.add(task)
        task.add_done_callback(self._background_done)
        return True

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("store %s: background write failed: %r", self.name, task.exception())

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for the background writes (tests, orderly shutdown)."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=timeout)

    async def close(self) -> None:
        for task in [*self._pending, *self._background]:
            task.cancel()
        pending = self._pending | self._background
        if pending:
            await asyncio.wait(pending, timeout=1.0)
        # redis-py 5+ deprecates the close() aiocache calls; aclose() is the same
        client: Any = getattr(self.cache, "client", None)
        closing = client.aclose() if hasattr(client, "aclose") else self.cache.close()
        try:
            await asyncio.wait_for(closing, 1.0)
        except Exception as exc:  # closing a dead connection may fail; nothing to do
            log.debug("store %s: close: %r", self.name, exc)
        if self._on_close is not None:
            try:
                await asyncio.wait_for(self._on_close(), 1.0)
            except Exception as exc:
                log.debug("store %s: close: %r", self.name, exc)

    # --- machinery -----------------------------------------------------------

    def _valid(self, value: bytes, ttl: float) -> bool:
        return isinstance(value, bytes) and 0 < len(value) <= MAX_VALUE and ttl > 0

    def _ttl(self, ttl: float) -> float | int:
        if self._integer_ttl:
            return min(max(1, math.ceil(ttl)), _MEMCACHED_MAX_TTL)
        # aiocache sends a float TTL as milliseconds (PSETEX / SET PX)
        return max(float(ttl), 0.001)

    async def _call(self, make: Callable[[], Awaitable[T]], timeout: float) -> T:
        """Run one engine request under ``timeout``; raise ``_Failed`` if no answer."""
        counters = self.counters
        counters.operations += 1
        now = self._clock()
        if self._down_since is not None:
            if now < self._retry_at:
                counters.skipped += 1
                self._fail()
            self._retry_at = now + self.retry_interval  # this call is the probe
        if len(self._pending) >= self.max_in_flight:
            counters.overloaded += 1
            self._fail()
        task = asyncio.ensure_future(make())
        self._pending.add(task)
        task.add_done_callback(self._finished)
        try:
            done, _ = await asyncio.wait((task,), timeout=timeout)
        except asyncio.CancelledError:
            # The caller gave up first: the TLS prefetch wraps its lookup in
            # asyncio.wait_for with the same deadline, whose timer fires before ours. At
            # the deadline that is our timeout all the same, and must open the outage;
            # sooner, the caller left for its own reasons (its client went away).
            if self._clock() - now >= timeout * _CANCELLED_AT_DEADLINE:
                counters.timeouts += 1
                counters.failures += 1
                self._outage(f"no answer within {timeout * 1000:.0f} ms")
                self._failed_in_outage += 1
            raise
        if done:
            self.latency.observe(self._clock() - now)
        else:
            counters.timeouts += 1
            self._outage(f"no answer within {timeout * 1000:.0f} ms")
            self._fail()
        exc = task.exception()
        if exc is not None:
            counters.errors += 1
            self._outage(_describe(exc))
            self._fail()
        self._recovered()
        return task.result()

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled():
            task.exception()  # abandoned requests must not warn "never retrieved"

    def _fail(self) -> NoReturn:
        self.counters.failures += 1
        if self._down_since is not None:
            self._failed_in_outage += 1
        raise _Failed

    def _outage(self, reason: str) -> None:
        now = self._clock()
        if self._down_since is None:
            self._down_since = now
            self._failed_in_outage = 0
            self.counters.outages += 1
            self._outage_logged = now - self._logged_at >= _LOG_EVERY
            if self._context is not None:
                reason = f"{reason} ({self._context()})"
            if self._outage_logged:
                self._logged_at = now
                log.warning("store %s unreachable: %s", self.name, reason)
            else:
                log.debug("store %s unreachable again: %s", self.name, reason)
        self._retry_at = now + self.retry_interval

    def _recovered(self) -> None:
        if self._down_since is None:
            return
        took = self._clock() - self._down_since
        level = logging.WARNING if self._outage_logged else logging.DEBUG
        log.log(
            level,
            "store %s reachable again after %.1f s, %d operations failed",
            self.name,
            took,
            self._failed_in_outage,
        )
        self._down_since = None


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def _fail_at_eof(client: Any) -> None:
    """Make a memcached reply cut short by EOF an error instead of a hang.

    aiomcache 0.8.2 reads the reply to a storage or counter command (``set``, ``add``,
    ``incr``, ``delete``) with ``while not line.endswith(b"\\r\\n"): line = await
    reader.readline()``. When memcached dies under a pooled connection, ``readline`` returns
    ``b""`` at once, for ever, without yielding: the process's event loop spins there and
    nothing else runs (no deadline can fire). This replaces that one method on the client so
    EOF raises; the call then fails like any store error (its connection is dropped)."""

    async def execute_simple_command(conn: Any, raw_command: bytes) -> bytes:
        conn.writer.write(raw_command)
        await conn.writer.drain()
        response = bytearray()
        while True:
            line = await conn.reader.readline()
            if not line:
                raise ConnectionResetError("memcached closed the connection")
            response += line
            if line.endswith(b"\r\n"):
                return bytes(response[:-2])

    client._execute_simple_command = execute_simple_command


def open_store(
    settings: StoreSettings, *, retry_interval: float = 1.0, max_in_flight: int = 512
) -> SharedStore:
    """A ``SharedStore`` for a redis (one server or Sentinel) or memcached ``[store]``.

    Nothing connects here (the first call does), so a store that is down at
    start-up is an outage like any other. Raises ValueError for "memory":
    that engine is the supervisor's session server, not a ``SharedStore``.
    """
    from aiocache.serializers import NullSerializer

    # Bytes in, bytes out: l7lb seals and encodes values itself.
    serializer = NullSerializer(encoding=None)
    common: dict[str, Any] = {"serializer": serializer, "timeout": None, "namespace": None}
    on_close: Callable[[], Awaitable[object]] | None = None
    context: Callable[[], str] | None = None
    if settings.engine == "redis":
        try:
            from aiocache import RedisCache
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ValueError("redis-py is not installed: pip install 'l7lb[store]'") from exc
        pool_kwargs: dict[str, Any] = {
            # Abandoned requests must end too: bound every socket wait.
            "socket_timeout": max(settings.write_timeout, 1.0),
        }
        if settings.username:
            pool_kwargs["username"] = settings.username
        if settings.tls:
            pool_kwargs["ssl_cert_reqs"] = "required" if settings.tls_verify else "none"
            for option, value in (
                ("ssl_ca_certs", settings.tls_ca_file),
                ("ssl_certfile", settings.tls_cert_file),
                ("ssl_keyfile", settings.tls_key_file),
            ):
                if value:
                    pool_kwargs[option] = value
        if settings.sentinels:
            # The same RedisCache over a pool that asks the sentinels for the master.
            from l7lb.store.sentinel import MasterWatch, sentinel_pool

            watch = MasterWatch(settings.display_url, settings.service)
            pool_class, sentinel = sentinel_pool(settings, watch, pool_kwargs["socket_timeout"])
            common["connection_pool_class"] = pool_class
            on_close = sentinel.aclose
            context = watch.describe
        cache = RedisCache(
            endpoint=settings.host,
            port=settings.port,
            db=settings.db,
            password=settings.password,
            ssl=settings.tls,
            create_connection_timeout=max(settings.write_timeout, 1.0),
            connection_pool_kwargs=pool_kwargs,
            **common,
        )
        integer_ttl = False
    elif settings.engine == "memcached":
        try:
            from aiocache import MemcachedCache
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ValueError("aiomcache is not installed: pip install 'l7lb[store]'") from exc
        cache = MemcachedCache(endpoint=settings.host, port=settings.port, pool_size=8, **common)
        _fail_at_eof(cache.client)
        integer_ttl = True
    else:
        raise ValueError(f"no shared store for engine {settings.engine!r}")
    return SharedStore(
        cache,
        name=settings.display_url,
        namespace=settings.namespace,
        timeout=settings.timeout,
        write_timeout=settings.write_timeout,
        integer_ttl=integer_ttl,
        retry_interval=retry_interval,
        max_in_flight=max_in_flight,
        on_close=on_close,
        context=context,
    )
