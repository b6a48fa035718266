"""One session-ticket key ring for the whole cluster, kept in the shared store.

Every director calls ``fetch_or_rotate`` periodically (a quarter of the
rotation period, at most 30 s) and hands the ring to its workers; whichever
director first finds the ring due for rotation creates the next one.

Design: one store key per rotation period, created with ``add``.
Time is cut into periods of ``rotation`` seconds aligned on the Unix epoch;
the ring of period ``p`` lives under ``ticket-ring:<name>:<rotation>s:<p>``
and is derived from the ring of ``p - 1`` (its ``next`` key becomes
``current``, its ``current`` becomes ``previous``, a fresh ``next`` is drawn).
It is written with ``SharedStore.add``, i.e. Redis ``SET NX`` or memcached
``add``, which are atomic on the server: when two directors race at a
boundary both build a candidate, exactly one ``add`` succeeds, and the loser
reads the winner's ring back. Rings are therefore byte-identical on every
director, and a key is created exactly once.

Why not WATCH/MULTI or CAS on one key: they need a read-modify-write loop
whose shape differs between Redis and memcached (aiocache hides memcached's
``gets``/``cas`` tokens poorly), while ``add`` is one request with the same
meaning on both. Keying by period also makes a ring immutable once written,
so a director whose clock lags a few seconds keeps reading the previous ring,
whose ``next`` key already decrypts what its peers issue.

The ring's ``rotated_at`` is the period start, so every director agrees on
it. A key is created when its ring is built, is ``next`` for one period,
``current`` for one and ``previous`` for one: three periods, which the
settings require to fit in ``ticket_max_age``; keys older than that are
dropped here anyway (a ring left over from before a clock jump).

When the store is unreachable, directors rotate their own ring locally
(``local``): tickets then only resume on the director that issued them until
the store is back, and keys still rotate on time.

Operator-managed keys (``ticket_key_file``) bypass all of this; see
``l7lb.tls.ticketkeyfile`` for the file format.
"""

from __future__ import annotations

import logging

from l7lb.store.backend import SharedStore
from l7lb.tls.ticketkeys import TicketKeyRing

log = logging.getLogger("l7lb.store")


def ring_key(name: str, rotation: float, period: int) -> bytes:
    # The rotation is in the key: directors configured with different periods
    # must not read each other's period numbers.
    return f"ticket-ring:{name}:{round(rotation)}s:{period}".encode()


def _decode(data: bytes | None, now: float, max_age: float) -> TicketKeyRing | None:
    """A stored ring, without keys older than ``max_age``; None if unusable."""
    if data is None:
        return None
    try:
        ring = TicketKeyRing.from_bytes(data)
    except ValueError:
        log.warning("ticket key ring in the store is malformed; ignoring it")
        return None
    oldest = now - max_age
    if ring.current.created < oldest or ring.next.created < oldest:
        log.warning("ticket key ring in the store holds keys older than ticket_max_age")
        return None
    if ring.previous is not None and ring.previous.created < oldest:
        ring = TicketKeyRing(ring.current, ring.next, None, ring.rotated_at)
    return ring


async def fetch_or_rotate(
    store: SharedStore,
    namespace: str,
    now: float,
    rotation: float,
    max_age: float,
    *,
    local: TicketKeyRing | None = None,
) -> TicketKeyRing:
    """The cluster's ring for the period holding ``now`` (seconds since the epoch).

    ``namespace`` names the ring inside the store (whose own namespace already
    prefixes every key): pass the store namespace, or a name per ring if
    several VIP groups must not share keys. ``local`` is the ring in use; it
    is rotated locally when the store cannot be reached. Never raises for
    store failures; each store request waits at most ``store.write_timeout``.
    """
    if rotation <= 0 or max_age < rotation:
        raise ValueError("need rotation > 0 and max_age >= rotation")
    period = int(now // rotation)
    start = period * rotation
    timeout = store.write_timeout
    key = ring_key(namespace, rotation, period)
    ring = _decode(await store.get(key, timeout), now, max_age)
    if ring is not None:
        return ring
    before = _decode(
        await store.get(ring_key(namespace, rotation, period - 1), timeout), now, max_age
    )
    candidate = before.rotated(start) if before is not None else TicketKeyRing.generate(start)
    # Two periods: readable all through this one, and at the start of the next
    # one, which derives from it.
    ttl = 2 * rotation + 60
    if await store.add(key, candidate.to_bytes(), ttl, timeout):
        log.info("ticket keys rotated (period %d)", period)
        return candidate
    # Lost the race (or the store failed): the winner's ring is the truth.
    ring = _decode(await store.get(key, timeout), now, max_age)
    if ring is not None:
        return ring
    if local is not None and now - local.current.created < max_age:
        return local.rotated(start) if local.due(now, rotation) else local
    return candidate
