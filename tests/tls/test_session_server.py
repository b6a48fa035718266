"""The supervisor's session server: real Unix socket, real client, hostile frames."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.tls.sealed_store import SealedStore
from l7lb.tls.session_server import (
    MAX_FRAME,
    SessionServer,
    SessionServerClient,
    WireError,
    encode_get,
    encode_put,
    handle_request,
)
from l7lb.tls.sessions import SessionCache, prefetch
from l7lb.tls.ticketkeys import TicketKeyRing


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 20))


def test_put_get_keys_round_trip(tmp_path: Path) -> None:
    async def main() -> None:
        path = str(tmp_path / "s.sock")
        ring = TicketKeyRing.generate(0.0)
        server = SessionServer(ring=ring, rotation=1e9, clock=lambda: 1.0)
        await server.start(path)
        client = SessionServerClient(path)
        await client.put(b"k1", b"blob1", 60)
        client.publish(b"k2", b"blob2", 60)
        await asyncio.sleep(0.05)
        # Pipelined: several requests in flight on one connection.
        results = await asyncio.gather(
            *(client.get_many([b"k1", b"k2", b"nope"]) for _ in range(20))
        )
        assert all(r == {b"k1": b"blob1", b"k2": b"blob2"} for r in results)
        got = await client.get_many([b"x%d" % i for i in range(40)])  # split into batches
        assert got == {}
        assert await client.ticket_ring() == ring
        # Prefetch copies into a worker LRU under a deadline.
        lru = SessionCache()
        assert await prefetch(client, lru, [b"k1", b"nope"], 1.0) == 1
        assert lru.get(b"k1") == b"blob1"
        await client.close()
        await server.close()

    run(main())


def test_ring_rotates_on_schedule(tmp_path: Path) -> None:
    now = [0.0]
    server = SessionServer(ring=TicketKeyRing.generate(0.0), rotation=100, clock=lambda: now[0])
    first = server.ring()
    assert first is not None
    now[0] = 150
    second = server.ring()
    assert second is not None and second.current == first.next and second.previous == first.current


def test_dead_server_is_a_fast_miss(tmp_path: Path) -> None:
    async def main() -> None:
        client = SessionServerClient(str(tmp_path / "absent.sock"))
        lru = SessionCache()
        assert await prefetch(client, lru, [b"k"], 0.5) == 0
        with pytest.raises(ConnectionError):
            await client.get_many([b"k"])
        client.publish(b"k", b"v", 1)  # must not raise either
        await asyncio.sleep(0.01)

    run(main())


def test_hostile_frames_close_only_that_connection(tmp_path: Path) -> None:
    async def main() -> None:
        path = str(tmp_path / "s.sock")
        server = SessionServer()
        await server.start(path)
        bad_frames = [
            struct.pack("!I", MAX_FRAME + 1),
            struct.pack("!I", 1) + b"\x09",
            struct.pack("!I", 3) + b"\x01\xff\xff",
            struct.pack("!I", 0),
            os.urandom(64),
        ]
        for bad in bad_frames:
            r, w = await asyncio.open_unix_connection(path)
            w.write(bad)
            await w.drain()
            data = await asyncio.wait_for(r.read(100), 2)
            assert data == b""  # closed, no answer
            w.close()
        client = SessionServerClient(path)
        await client.put(b"k", b"v", 10)
        assert await client.get_many([b"k"]) == {b"k": b"v"}
        await client.close()
        await server.close()

    run(main())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_handle_request_random_payloads(payload: bytes) -> None:
    cache = SessionCache()
    try:
        reply = handle_request(payload, cache, lambda: None)
    except WireError:
        return
    assert reply[:1] == b"\x00"


def test_handle_request_valid_ops() -> None:
    cache = SessionCache()
    assert handle_request(encode_put(b"k", b"v", 5), cache, lambda: None) == b"\x00"
    reply = handle_request(encode_get([b"k"]), cache, lambda: None)
    assert reply == b"\x00" + b"\x00\x01" + b"\x00\x01k" + b"\x00\x00\x00\x01v"


def test_sealed_store_encrypts_and_binds_keys(tmp_path: Path) -> None:
    async def main() -> None:
        path = str(tmp_path / "s.sock")
        server = SessionServer()
        await server.start(path)
        client = SessionServerClient(path)
        sealed = SealedStore(client, b"k" * 32)
        await sealed.put(b"web/a", b"MASTER-SECRET", 60)
        stored = server.cache.get(b"web/a")
        assert stored is not None and b"MASTER-SECRET" not in stored
        assert await sealed.get_many([b"web/a"]) == {b"web/a": b"MASTER-SECRET"}
        await client.put(b"web/b", stored, 60)  # moved under another key: refused
        assert await sealed.get_many([b"web/b"]) == {}
        assert await SealedStore(client, b"x" * 32).get_many([b"web/a"]) == {}
        await client.close()
        await server.close()

    run(main())
