"""TLS sessions in a shared store, sealed with AES-256-GCM.

``SealedSessionStore`` is the ``SessionStore`` (l7lb.tls.sessions) that the
listener prefetches from and publishes to when ``[store]`` names Redis or
memcached. A DER session holds its master secret, and a cache server shared
by several directors is a weaker trust zone than a director, so every blob is
sealed with ``SealedStore`` (l7lb.tls.sealed_store) under the cluster's
``session_key``, with the session's cache key (VIP + SNI name + session id,
``l7lb.tls.sessions.session_key``) as associated data: a blob copied under
another key, or altered, does not open and is a miss (counted as
``tampered``), never an exception.

Rotation: blobs are sealed with the first key and opened with each key in
turn, so an operator adds the new key in front, moves the old one to
``session_key_previous`` on every director, and drops it a session lifetime
later.

The engine sees ``<namespace>:~<sha256 of the cache key>`` (see
``backend.engine_key``), so SNI names and session ids are not readable in the
store either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from l7lb.store.backend import SharedStore
from l7lb.tls.sealed_store import SealedStore
from l7lb.tls.sessions import MAX_BLOB, MAX_KEY


@dataclass(slots=True)
class SessionCounters:
    hits: int = 0  # sessions found and opened
    misses: int = 0  # keys asked for and not found (or store down)
    tampered: int = 0  # blobs found that no key opens: altered, moved, or unknown key
    writes: int = 0  # sessions handed to the store
    dropped_writes: int = 0  # not written: too many writes pending, or too large

    def snapshot(self) -> dict[str, int]:
        return asdict(self)


class _RawSessions:
    """``SessionStore`` of unsealed bytes over a ``SharedStore`` (what ``SealedStore`` wraps)."""

    def __init__(self, store: SharedStore) -> None:
        self.store = store

    async def get_many(self, keys: list[bytes]) -> dict[bytes, bytes]:
        return await self.store.get_many(keys)

    async def put(self, key: bytes, blob: bytes, ttl: float) -> None:
        await self.store.set(key, blob, ttl)


class SealedSessionStore:
    """``SessionStore`` over a ``SharedStore``; ``keys[0]`` seals, every key opens."""

    def __init__(self, store: SharedStore, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a shared session store needs at least one session key")
        raw = _RawSessions(store)
        self.store = store
        self.counters = SessionCounters()
        # SealedStore checks each key is 32 bytes.
        self._sealers = [SealedStore(raw, key) for key in keys]

    async def get_many(self, keys: list[bytes]) -> dict[bytes, bytes]:
        """Opened sessions by key; never raises, waits at most the store's ``timeout``."""
        wanted = [k for k in keys if 0 < len(k) <= MAX_KEY]
        found = await self.store.get_many(wanted) if wanted else {}
        out: dict[bytes, bytes] = {}
        for key, sealed in found.items():
            blob = self._open(key, sealed)
            if blob is None:
                self.counters.tampered += 1
            else:
                out[key] = blob
        self.counters.hits += len(out)
        self.counters.misses += len(keys) - len(out)
        return out

    def _open(self, key: bytes, sealed: bytes) -> bytes | None:
        for sealer in self._sealers:
            blob = sealer.open(key, sealed)
            if blob is not None:
                return blob
        return None

    async def put(self, key: bytes, blob: bytes, ttl: float) -> None:
        """Seal and store one session (awaits the write, bounded by ``write_timeout``)."""
        if not 0 < len(key) <= MAX_KEY or not 0 < len(blob) <= MAX_BLOB:
            self.counters.dropped_writes += 1
            return
        self.counters.writes += 1
        await self._sealers[0].put(key, blob, ttl)

    def publish(self, key: bytes, blob: bytes, ttl: float) -> None:
        """Fire-and-forget ``put``, for ``SessionCache.publish`` (called mid-handshake).

        Bounded by the store's ``max_background`` pending writes; beyond that
        the session stays in this process only (counted in ``dropped_writes``).
        """
        if not self.store.submit(lambda: self.put(key, blob, ttl)):
            self.counters.dropped_writes += 1
