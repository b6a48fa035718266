"""Real redis-server and memcached processes on 127.0.0.1 for the store tests.

Each server gets a free port and a temporary directory, and is killed by its
PID when the test (or the session, for the shared ones) ends. Tests that kill
and restart a server get their own (``redis_proc`` / ``memcached_proc``);
the others share one per engine and isolate themselves with a fresh
namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from engines import DelayProxy, ServerProc


def _require(binary: str) -> None:
    if shutil.which(binary) is None:
        pytest.skip(f"{binary} is not installed (CI installs it with apt)")


@contextlib.contextmanager
def _server(engine: str, tmp: Path) -> Iterator[ServerProc]:
    _require("redis-server" if engine == "redis" else "memcached")
    server = ServerProc(engine, tmp)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    with _server("redis", tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def shared_memcached(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    with _server("memcached", tmp_path_factory.mktemp("memcached")) as server:
        yield server


@pytest.fixture(params=["redis", "memcached"])
def engine_server(
    request: pytest.FixtureRequest, shared_redis: ServerProc, shared_memcached: ServerProc
) -> ServerProc:
    """The shared server of each engine in turn."""
    return shared_redis if request.param == "redis" else shared_memcached


@pytest.fixture(params=["redis", "memcached"])
def own_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProc]:
    """A server of each engine in turn that the test may kill and restart."""
    with _server(request.param, tmp_path) as server:
        yield server


@contextlib.asynccontextmanager
async def delay_proxy(target_port: int, delay: float) -> AsyncIterator[int]:
    """A TCP proxy on 127.0.0.1 that holds every reply chunk ``delay`` seconds,
    so each request/reply round trip takes ``delay`` longer (``DelayProxy``
    runs in its own thread, so it serves this test's event loop too)."""
    proxy = DelayProxy(target_port, delay)
    try:
        yield proxy.port
    finally:
        await asyncio.get_running_loop().run_in_executor(None, proxy.stop)


@pytest.fixture
def slow_proxy() -> Callable[[int, float], contextlib.AbstractAsyncContextManager[int]]:
    """``async with slow_proxy(port, delay) as proxy_port``: see ``delay_proxy``."""
    return delay_proxy
