"""The cluster-wide ticket key ring in real Redis and memcached."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

from l7lb.store.backend import open_store
from l7lb.store.ticketkeys import fetch_or_rotate, ring_key
from l7lb.tls.ticketkeys import TicketKeyRing

pytestmark = pytest.mark.timeout(30)

HOUR = 3600.0
DAY = 86400.0
T0 = 1_800_000_000.0  # a period boundary for HOUR: 500000 * 3600


def test_rotation_keeps_previous_tickets(engine_server) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        store = open_store(engine_server.settings())
        try:
            first = await fetch_or_rotate(store, "c", T0 + 10, HOUR, DAY)
            again = await fetch_or_rotate(store, "c", T0 + HOUR - 1, HOUR, DAY)
            assert again.to_bytes() == first.to_bytes()  # same period: unchanged
            assert first.rotated_at == T0 and first.previous is None

            second = await fetch_or_rotate(store, "c", T0 + HOUR + 5, HOUR, DAY)
            assert second.rotated_at == T0 + HOUR
            # next became current, current became previous: a ticket issued just
            # before the rotation still decrypts, and the key published a period
            # ahead was already accepted by directors still on the first ring
            assert second.current.secret == first.next.secret
            assert second.previous is not None
            assert second.previous.secret == first.current.secret
            assert first.current.secret in {k.secret for k in second.accepted()}
            assert second.current.secret in {k.secret for k in first.accepted()}
            assert second.next.secret not in {k.secret for k in first.accepted()}

            third = await fetch_or_rotate(store, "c", T0 + 2 * HOUR + 5, HOUR, DAY)
            assert first.current.secret not in {k.secret for k in third.accepted()}
        finally:
            await store.close()

    asyncio.run(main())


def test_racing_directors_agree(engine_server) -> None:  # type: ignore[no-untyped-def]
    ns = engine_server.settings().namespace

    async def main() -> None:
        stores = [open_store(engine_server.settings(ns)) for _ in range(4)]
        try:
            base = await fetch_or_rotate(stores[0], "c", T0 - 5, HOUR, DAY)
            for boundary in (T0, T0 + HOUR, T0 + 2 * HOUR):
                rings = await asyncio.gather(
                    *(fetch_or_rotate(s, "c", boundary + 0.001, HOUR, DAY) for s in stores)
                )
                assert len({r.to_bytes() for r in rings}) == 1
            assert rings[0].rotated_at == T0 + 2 * HOUR
            assert base.next.secret != rings[0].next.secret
        finally:
            for s in stores:
                await s.close()

    asyncio.run(main())


def test_racing_processes_agree(engine_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two processes rotate the ring at once and end up with the same one. They race for
    real: each waits for the other at a barrier, and every store round trip takes DELAY
    (a slow proxy), so a process that found the ring already there would be done after one
    round trip, while one that built a candidate and tried to add it needs three at least
    (get this period, get the previous one, add, then get the winner's ring if it lost).
    Both taking that long shows both went for the add, overlapping."""
    import json

    from engines import DelayProxy

    delay = 0.4
    proxy = DelayProxy(engine_server.port, delay)
    settings = engine_server.settings()
    script = textwrap.dedent(
        f"""
        import asyncio, json, os, sys, time
        from l7lb.store.backend import open_store
        from l7lb.store.settings import StoreSettings
        from l7lb.store.ticketkeys import fetch_or_rotate

        async def main():
            store = open_store(StoreSettings(url={settings.url!r}, engine={settings.engine!r},
                host="127.0.0.1", port={proxy.port}, namespace={settings.namespace!r},
                timeout=10.0, write_timeout=10.0))
            await store.get(b"warm-up", 10.0)  # connected before the race
            me, other = sys.argv[1], sys.argv[2]
            open(me, "w").close()
            while not os.path.exists(other):
                await asyncio.sleep(0.001)
            start = time.monotonic()
            ring = await fetch_or_rotate(store, "c", {T0 + 1}, {HOUR}, {DAY})
            took = time.monotonic() - start
            print(json.dumps({{"ring": ring.to_bytes().hex(), "took": took}}))
            await store.close()

        asyncio.run(main())
        """
    )
    ready = [str(tmp_path / "ready0"), str(tmp_path / "ready1")]
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, ready[i], ready[1 - i]],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for i in range(2)
        ]
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=25)
            assert proc.returncode == 0, err.decode()
            results.append(json.loads(out))
    finally:
        proxy.stop()
    assert results[0]["ring"] == results[1]["ring"]
    took = [r["took"] for r in results]
    assert min(took) >= 3 * delay, f"no race: one process found the ring ({took} s)"


def test_old_keys_are_dropped_and_store_down_rotates_locally(own_server) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        store = open_store(own_server.settings(write_timeout=0.2), retry_interval=0.05)
        try:
            # a ring stored with a previous key older than max_age loses it
            old = TicketKeyRing.generate(T0 - 5 * HOUR)
            stale = TicketKeyRing(
                current=TicketKeyRing.generate(T0).current,
                next=TicketKeyRing.generate(T0).next,
                previous=old.current,
                rotated_at=T0,
            )
            assert await store.set(ring_key("c", HOUR, int(T0 // HOUR)), stale.to_bytes(), 60)
            ring = await fetch_or_rotate(store, "c", T0 + 1, HOUR, 3 * HOUR)
            assert ring.previous is None and ring.current.secret == stale.current.secret

            own_server.stop()
            later = T0 + HOUR + 1
            local = await fetch_or_rotate(store, "c", later, HOUR, 3 * HOUR, local=ring)
            assert local.current.secret == ring.next.secret  # rotated on time, alone
            assert local.rotated_at == T0 + HOUR
            same = await fetch_or_rotate(store, "c", later + 60, HOUR, 3 * HOUR, local=local)
            assert same is local
        finally:
            await store.close()

    asyncio.run(main())
