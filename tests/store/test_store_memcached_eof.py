"""A memcached that closes a pooled connection after reading a command (it died, or was
restarted): the call fails within its deadline and the event loop keeps running."""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from engines import ServerProc

from l7lb.store.backend import open_store

pytestmark = pytest.mark.timeout(30)


class CuttingProxy:
    """A TCP relay to a real memcached that, once ``cut`` is set, closes each client
    connection as soon as a command comes in, without an answer: memcached dying after it
    read a request, seen from a pooled connection."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.cut = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._back, args=(upstream, client), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        with client, upstream:
            while True:
                try:
                    data = client.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                if self.cut.is_set():
                    client.shutdown(socket.SHUT_RDWR)
                    return
                upstream.sendall(data)

    def _back(self, upstream: socket.socket, client: socket.socket) -> None:
        while True:
            try:
                data = upstream.recv(65536)
                if not data:
                    return
                client.sendall(data)
            except OSError:
                return

    def stop(self) -> None:
        self.stopping = True
        self.listener.close()


@pytest.fixture
def memcached(tmp_path: Path) -> Iterator[ServerProc]:
    if shutil.which("memcached") is None:
        pytest.skip("memcached is not installed (CI installs it with apt)")
    server = ServerProc("memcached", tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("op", ["set", "add", "increment", "delete"])
def test_memcached_closing_after_a_command_fails_the_call(memcached: ServerProc, op: str) -> None:
    """aiomcache 0.8.2 spins for ever on EOF in these calls (backend._fail_at_eof),
    without yielding: no deadline could fire and the whole process would hang."""
    proxy = CuttingProxy(memcached.port)

    async def main() -> None:
        store = open_store(memcached.settings(port=proxy.port, write_timeout=0.3))
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        try:
            assert await store.set(b"k", b"1", 60)  # a pooled connection now exists
            proxy.cut.set()
            calls = {
                "set": lambda: store.set(b"k", b"2", 60),
                "add": lambda: store.add(b"n", b"2", 60),
                "increment": lambda: store.increment(b"c", 1, 60),
                "delete": lambda: store.delete(b"k"),
            }
            t0 = time.monotonic()
            result = await calls[op]()
            assert result in (False, None)
            assert time.monotonic() - t0 < 1.0
            before = ticks
            await asyncio.sleep(0.1)
            assert ticks > before  # the loop runs
        finally:
            ticker.cancel()
            await store.close()

    try:
        asyncio.run(main())
    finally:
        proxy.stop()
