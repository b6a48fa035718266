"""Opaque, tamper-proof persistence cookie values for the ``insert`` mode.

A value names a server of one pool without revealing its address or its
configured name, and carries two timestamps so that l7lb itself enforces a
maximum idle time and a maximum life. Layout before base64url (27 bytes, so
36 characters with no padding and no non-canonical encodings)::

    version (1) | server id (6) | issued (u32) | last seen (u32) | tag (12)

``tag`` is HMAC-SHA256 truncated to 96 bits over the version, the pool name,
the server id and both timestamps, under a key derived from the configured
secret. The pool is authenticated but not transmitted: a value minted for one
pool fails on every other. The server id is itself an HMAC of (pool, server
name) under a second derived key, so it is stable across directors sharing the
secret and across reloads, reveals nothing, and cannot be computed for a
server the client was never sent to. Editing any byte breaks the tag, so a
client cannot choose its server (KTCPVS's counters were guessable; Envoy's
cookie lets clients steer).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

VERSION = 1
SERVER_ID_BYTES = 6  # 48 bits: collisions inside one pool are checked for
SERVER_ID_LEN = 8  # base64url characters of a server id
TAG_BYTES = 12  # 96-bit truncated HMAC-SHA256 (NIST SP 800-107 allows >= 64)
_BODY = struct.Struct(f">B{SERVER_ID_BYTES}sII")
RAW_LEN = _BODY.size + TAG_BYTES  # 27
VALUE_LEN = RAW_LEN * 4 // 3  # 36: 27 is a multiple of 3, so no padding
MIN_SECRET_BYTES = 16
VERIFIED_CACHE_SIZE = 65536  # verified values remembered per codec (~10 MB at most)
_MAX_TIME = 2**32 - 1  # u32 seconds: good until 2106

# Checked before decoding: base64 decoders skip or translate stray characters,
# which would let two different strings decode to the same bytes.
_VALUE_RE = re.compile(rf"[A-Za-z0-9_-]{{{VALUE_LEN}}}")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_SERVER_ID_RE = re.compile(rf"[A-Za-z0-9_-]{{{SERVER_ID_LEN}}}")


@dataclass(frozen=True, slots=True)
class CookieInfo:
    """A verified, unexpired cookie value."""

    server: str  # server name within the pool
    issued: int  # seconds since the epoch when the client was first stuck
    last_seen: int  # seconds since the epoch when the value was last issued


def _derive(secret: bytes, label: bytes) -> bytes:
    # Separate keys for ids and tags, so an id never doubles as a tag.
    return hmac.digest(secret, b"l7lb persistence v1\x00" + label, "sha256")


class _PoolMac:
    """HMAC-SHA256 (RFC 2104) under one key with the pool name absorbed.

    ``hmac.digest`` sets up the key on every call (about 3 us here with
    OpenSSL 3); copying precomputed inner and outer hash states costs a
    fifth of that on the per-request path.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes, prefix: bytes) -> None:
        block = key.ljust(64, b"\x00")  # key is 32 bytes: shorter than the block
        self._inner = hashlib.sha256(bytes([b ^ 0x36 for b in block]))
        self._inner.update(prefix)
        self._outer = hashlib.sha256(bytes([b ^ 0x5C for b in block]))

    def tag(self, body: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(body)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:TAG_BYTES]


def _pool_bytes(pool: str) -> bytes:
    raw = pool.encode("utf-8")
    # Length prefix: ("ab", "c...") and ("a", "bc...") must not collide.
    return struct.pack(">H", len(raw)) + raw


class CookieCodec:
    """Encodes and verifies persistence cookie values.

    ``pools`` maps each pool name to its server names; decoding needs it to
    turn a server id back into a name. Build a new codec on reload.
    """

    __slots__ = ("_id_key", "_ids", "_mac_key", "_macs", "_names", "_verified")

    def __init__(self, secret: bytes, pools: Mapping[str, Iterable[str]] | None = None) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"persistence secret must be at least {MIN_SECRET_BYTES} bytes")
        self._id_key = _derive(secret, b"server-id")
        self._mac_key = _derive(secret, b"cookie-tag")
        self._ids: dict[tuple[str, str], bytes] = {}  # (pool, server) -> raw id
        self._names: dict[str, dict[bytes, str]] = {}  # pool -> raw id -> server
        self._macs: dict[str, _PoolMac] = {}
        # value -> (pool, (server, issued, last_seen)) of values whose tag has
        # been checked: a returning client sends the same value on every
        # request. Only authentic values enter, so a client cannot fill it
        # with forgeries; expiry is still checked against ``now`` each time.
        self._verified: dict[str, tuple[str, tuple[str, int, int]]] = {}
        for pool, servers in (pools or {}).items():
            self.add_pool(pool, servers)

    def add_pool(self, pool: str, servers: Iterable[str]) -> None:
        """Register the servers of ``pool`` so their values can be decoded."""
        names: dict[bytes, str] = {}
        for server in servers:
            raw = self._raw_id(pool, server)
            other = names.get(raw)
            if other is not None and other != server:
                # 2**-48 per pair; refuse rather than route to the wrong server.
                raise ValueError(f"pool {pool!r}: servers {other!r} and {server!r} share an id")
            names[raw] = server
        self._names[pool] = names
        self._verified.clear()  # a server may have left the pool

    def _raw_id(self, pool: str, server: str) -> bytes:
        key = (pool, server)
        raw = self._ids.get(key)
        if raw is None:
            msg = _pool_bytes(pool) + server.encode("utf-8")
            raw = hmac.digest(self._id_key, msg, "sha256")[:SERVER_ID_BYTES]
            self._ids[key] = raw
        return raw

    def _mac(self, pool: str) -> _PoolMac:
        mac = self._macs.get(pool)
        if mac is None:
            mac = self._macs[pool] = _PoolMac(self._mac_key, _pool_bytes(pool))
        return mac

    def server_id(self, pool: str, server: str) -> str:
        """The stable opaque id of a server (8 base64url characters), as
        used by the ``prefix`` mode and in values."""
        return base64.urlsafe_b64encode(self._raw_id(pool, server)).decode("ascii")

    def server_for_id(self, pool: str, server_id: str) -> str | None:
        """The server name an id stands for in ``pool``, or None."""
        names = self._names.get(pool)
        if names is None or _SERVER_ID_RE.fullmatch(server_id) is None:
            return None
        return names.get(base64.urlsafe_b64decode(server_id))

    def encode(self, pool: str, server_name: str, issued: int, last_seen: int) -> str:
        """A cookie value sticking the client to ``server_name`` of ``pool``."""
        if not 0 <= issued <= last_seen <= _MAX_TIME:
            raise ValueError("need 0 <= issued <= last_seen < 2**32")
        body = _BODY.pack(VERSION, self._raw_id(pool, server_name), issued, last_seen)
        tag = self._mac(pool).tag(body)
        return base64.urlsafe_b64encode(body + tag).decode("ascii")

    def read(
        self, value: str, pool: str, now: int, max_idle: int | None, max_life: int | None
    ) -> CookieInfo | None:
        """Verify ``value``; None when forged, truncated, expired, minted for
        another pool or naming a server the pool no longer has."""
        found = self._check(value, pool, now, max_idle, max_life)
        return None if found is None else CookieInfo(*found)

    def decode(
        self, value: str, pool: str, now: int, max_idle: int | None, max_life: int | None
    ) -> str | None:
        """The server name ``value`` sticks to, or None (see ``read``)."""
        found = self._check(value, pool, now, max_idle, max_life)
        return None if found is None else found[0]

    def _check(
        self, value: str, pool: str, now: int, max_idle: int | None, max_life: int | None
    ) -> tuple[str, int, int] | None:
        hit = self._verified.get(value)
        if hit is not None and hit[0] == pool:
            found = hit[1]
        else:
            verified = self._verify(value, pool)
            if verified is None:
                return None
            found = verified
        _, issued, last_seen = found
        if max_idle is not None and now - last_seen > max_idle:
            return None
        if max_life is not None and now - issued > max_life:
            return None
        return found

    def _verify(self, value: str, pool: str) -> tuple[str, int, int] | None:
        names = self._names.get(pool)
        if names is None or _VALUE_RE.fullmatch(value) is None:
            return None
        raw = binascii.a2b_base64(value.encode("ascii").translate(_FROM_URLSAFE))
        body = raw[: _BODY.size]
        if not hmac.compare_digest(self._mac(pool).tag(body), raw[_BODY.size :]):
            return None
        version, raw_id, issued, last_seen = _BODY.unpack(body)
        if version != VERSION or issued > last_seen:
            return None
        server = names.get(raw_id)
        if server is None:
            return None
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            # drop the oldest insertion: bounded, and cheaper than true LRU
            del self._verified[next(iter(self._verified))]
        found = (server, issued, last_seen)
        self._verified[value] = (pool, found)
        return found


def refresh_due(info: CookieInfo, now: int, max_idle: int | None) -> bool:
    """Whether to re-issue a valid value so its last-seen date moves forward.

    Only with a max idle time; re-issued once a quarter of it has passed (as
    HAProxy does) so ``indirect`` still avoids a Set-Cookie on most responses.
    """
    if max_idle is None:
        return False
    return now - info.last_seen >= max(1, max_idle // 4)
