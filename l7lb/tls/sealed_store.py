"""Encrypt sessions at rest in a shared store.

A DER session holds the master secret: anyone who reads a Redis or memcached
shared by several directors could decrypt recorded traffic. ``SealedStore``
wraps any ``SessionStore`` with AES-256-GCM; the cache key is the associated
data, so a blob copied under another key (another VIP or name) fails to open
and counts as a miss.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from l7lb.tls.sessions import SessionStore

NONCE = 12


class SealedStore:
    """``SessionStore`` that seals blobs with a 32-byte secret shared by the directors."""

    def __init__(self, inner: SessionStore, secret: bytes) -> None:
        if len(secret) != 32:
            raise ValueError("session store secret must be 32 bytes")
        self.inner = inner
        self._aead = AESGCM(secret)

    def seal(self, key: bytes, blob: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        return nonce + self._aead.encrypt(nonce, blob, key)

    def open(self, key: bytes, sealed: bytes) -> bytes | None:
        if len(sealed) <= NONCE:
            return None
        try:
            return self._aead.decrypt(sealed[:NONCE], sealed[NONCE:], key)
        except InvalidTag:
            return None

    async def get_many(self, keys: list[bytes]) -> dict[bytes, bytes]:
        found = await self.inner.get_many(keys)
        out = {}
        for key, sealed in found.items():
            blob = self.open(key, sealed)
            if blob is not None:
                out[key] = blob
        return out

    async def put(self, key: bytes, blob: bytes, ttl: float) -> None:
        await self.inner.put(key, self.seal(key, blob), ttl)
