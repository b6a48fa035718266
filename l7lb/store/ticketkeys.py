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
``load_ticket_key_file`` for the file format.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os

from l7lb.store.backend import SharedStore
from l7lb.tls.ticketkeys import SECRET_LEN, TicketKey, TicketKeyRing

log = logging.getLogger("l7lb.store")

_FILE_KEY_SIZES = (SECRET_LEN, 48, 80)  # ours, nginx's 48 bytes, HAProxy's / nginx's 80 bytes
_MAX_FILE = 64 * 1024


class TicketKeyFileError(ValueError):
    """A ticket key file that does not follow the documented format."""


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


def load_ticket_key_file(path: str) -> TicketKeyRing:
    """Operator-managed ticket keys (``[store] ticket_key_file``).

    Format: text, one key per line, base64 (standard or URL-safe) of 32 random
    bytes (``openssl rand -base64 32``); blank lines and lines starting with
    ``#`` are ignored. Lines are oldest first, as in HAProxy's
    ``tls-ticket-keys``: the last line is ``next`` (decrypts only), the one
    before it is ``current`` (encrypts), the one before that ``previous``
    (decrypts only); older lines are ignored. One line: that key encrypts and
    decrypts. Lines of 48 or 80 bytes (files made for nginx / HAProxy) are
    accepted and reduced to 32 bytes with SHA-256; tickets are still l7lb's
    own format, not interchangeable with theirs.

    To rotate, append a fresh line and drop the first on every director, then
    reload: a director that reloads later still decrypts (its ``next`` is the
    others' ``current``). ``created`` is the file's modification time.
    """
    with open(path, "rb") as handle:
        data = handle.read(_MAX_FILE + 1)
        mtime = os.fstat(handle.fileno()).st_mtime
    if len(data) > _MAX_FILE:
        raise TicketKeyFileError(f"larger than {_MAX_FILE} bytes")
    secrets: list[bytes] = []
    for number, raw_line in enumerate(data.splitlines(), 1):
        line = raw_line.strip()
        if not line or line.startswith(b"#"):
            continue
        try:
            key = base64.b64decode(line.replace(b"-", b"+").replace(b"_", b"/"), validate=True)
        except (binascii.Error, ValueError):
            raise TicketKeyFileError(f"line {number} is not base64") from None
        if len(key) not in _FILE_KEY_SIZES:
            raise TicketKeyFileError(
                f"line {number} decodes to {len(key)} bytes, expected 32 (or 48 / 80)"
            )
        if len(key) != SECRET_LEN:
            key = hashlib.sha256(b"l7lb ticket key file\x00" + key).digest()
        secrets.append(key)
    if not secrets:
        raise TicketKeyFileError("holds no key")
    if len(set(secrets)) != len(secrets):
        raise TicketKeyFileError("holds the same key twice")
    keys = [TicketKey(s, mtime) for s in secrets[-3:]]
    if len(keys) == 1:
        return TicketKeyRing(current=keys[0], next=keys[0], rotated_at=mtime)
    if len(keys) == 2:
        return TicketKeyRing(current=keys[0], next=keys[1], rotated_at=mtime)
    return TicketKeyRing(current=keys[1], next=keys[2], previous=keys[0], rotated_at=mtime)
