"""TLS session storage: the process-local LRU and the shared-store interface.

OpenSSL asks for a session synchronously, mid-handshake, so the handshake
only ever reads ``SessionCache`` (a bounded in-process LRU). A shared
``SessionStore`` (the supervisor's session server, Redis, memcached) is read
*before* the handshake: the listener reads the ClientHello first and ``prefetch``
copies the sessions it names into the LRU under a short deadline. New
sessions go to the LRU at once and to the store in the background. A slow or
dead store therefore costs a full handshake, never an error.

Keys bind a session to the VIP and the SNI name it was issued for
(``session_key``), so it cannot resume on another VIP or name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Final, Protocol

from l7lb.tls.clienthello import ClientHello

log = logging.getLogger("l7lb.tls")

MAX_KEY: Final = 512  # VIP name + SNI name (<= 255) + session id / PSK identity
MAX_BLOB: Final = 16 * 1024  # a DER SSL_SESSION is ~100-2000 bytes (client certs add more)
MAX_STATEFUL_ID: Final = 64  # longer PSK identities are stateless tickets: not in any cache


def session_key(vip: str, server_name: str, session_id: bytes) -> bytes:
    """Cache key of a session: VIP, SNI name ("" = none) and session id / PSK identity."""
    return b"tls1:" + vip.encode() + b"\x00" + server_name.encode() + b"\x00" + session_id


def describe_key(key: bytes) -> str:
    """A session key for a log line: the SNI name and the start of the session id.

    (The session id travels in clear in every ClientHello; it is no secret.)
    """
    parts = key.split(b"\x00", 2)
    if len(parts) != 3 or not parts[0].startswith(b"tls1:"):
        return f"key {key[:40]!r}"
    name = parts[1].decode("ascii", "replace") or "(none)"
    sid = parts[2]
    return f"sni={name} id={sid[:8].hex()}{'...' if len(sid) > 8 else ''} ({len(sid)} bytes)"


def log_miss(key: bytes, why: str) -> None:
    """The default ``prefetch`` miss report: one debug line per session not found."""
    log.debug("TLS session prefetch miss: %s: %s", describe_key(key), why)


class SessionStore(Protocol):
    """A store shared by several workers or directors (implemented by later issues)."""

    async def get_many(self, keys: list[bytes]) -> dict[bytes, bytes]:
        """The blobs found, by key; missing keys are absent. May raise on store failure."""
        ...

    async def put(self, key: bytes, blob: bytes, ttl: float) -> None: ...


class SessionCache:
    """Bounded LRU of DER sessions with a lifetime, read by OpenSSL's callbacks.

    ``publish``, if set, is called with every session OpenSSL creates here
    (``put_local`` is not published): the listener uses it to copy new
    sessions to the shared store.
    """

    def __init__(
        self,
        max_entries: int = 20000,
        lifetime: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.lifetime = lifetime
        self.clock = clock
        self.publish: Callable[[bytes, bytes, float], None] | None = None
        self._items: OrderedDict[bytes, tuple[float, bytes]] = OrderedDict()
        self.hits = 0  # OpenSSL's lookups (``lookup``), for /metrics
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: bytes) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, blob = item
        if expires <= self.clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return blob

    def lookup(self, key: bytes) -> bytes | None:
        """``get`` for OpenSSL's session callback: a resumption attempt, counted."""
        blob = self.get(key)
        if blob is None:
            self.misses += 1
        else:
            self.hits += 1
        return blob

    def put_local(self, key: bytes, blob: bytes, ttl: float | None = None) -> None:
        if len(key) > MAX_KEY or len(blob) > MAX_BLOB or not blob:
            return
        lifetime = self.lifetime if ttl is None else min(ttl, self.lifetime)
        if lifetime <= 0:
            return
        self._items[key] = (self.clock() + lifetime, blob)
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def put(self, key: bytes, blob: bytes, ttl: float | None = None) -> None:
        """Store a session OpenSSL just issued, and publish it to the shared store."""
        self.put_local(key, blob, ttl)
        if self.publish is not None and key in self._items:
            self.publish(key, blob, self.lifetime if ttl is None else ttl)

    def remove(self, key: bytes) -> None:
        self._items.pop(key, None)


def prefetch_keys(vip: str, hello: ClientHello, *, tls13_enabled: bool = True) -> list[bytes]:
    """The cache keys a ClientHello may resume from.

    A TLS 1.3 client fills ``legacy_session_id`` with random bytes for
    middlebox compatibility, so when TLS 1.3 will be negotiated only its PSK
    identities (stateful tickets, short) count as resumption attempts.
    """
    name = hello.server_name or ""
    keys = []
    if hello.session_id and not (tls13_enabled and hello.offers_tls13):
        keys.append(session_key(vip, name, hello.session_id))
    if tls13_enabled and hello.psk_identities:  # most full handshakes offer none
        keys.extend(
            session_key(vip, name, ident)
            for ident in hello.psk_identities
            if len(ident) <= MAX_STATEFUL_ID
        )
    return keys


async def prefetch(
    store: SessionStore | None,
    cache: SessionCache,
    keys: Iterable[bytes],
    deadline: float,
    on_miss: Callable[[bytes, str], None] = log_miss,
) -> int:
    """Copy sessions named by ``keys`` from ``store`` into ``cache``; return how many.

    Keys already in the LRU are not fetched. ``deadline`` is in seconds; on
    timeout or store error nothing is copied and the handshake goes on (full).
    ``on_miss(key, why)`` is called for every key asked and not copied (the
    listener logs each at debug level, with the VIP and the peer).
    """
    missing = [k for k in keys if cache.get(k) is None]
    if store is None or not missing:
        return 0
    try:
        found = await asyncio.wait_for(store.get_many(missing), deadline)
    except TimeoutError:
        why = f"the store did not answer within {deadline * 1000:.0f} ms"
        for key in missing:
            on_miss(key, why)
        return 0
    except Exception as exc:  # a store failure is a cache miss, not an error
        why = f"store error: {exc}"
        for key in missing:
            on_miss(key, why)
        return 0
    n = 0
    for key in missing:
        blob = found.get(key)
        if isinstance(blob, bytes) and blob:
            cache.put_local(key, blob)
            n += 1
        else:
            on_miss(key, "not in the store")
    return n
