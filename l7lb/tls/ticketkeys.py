"""Session-ticket key ring: the current key, the previous one and the next one.

Sans-IO. The supervisor owns the ring and calls ``rotated(now)`` every
``ticket_rotation`` seconds; workers fetch the serialized ring
(``l7lb.tls.session_server``) and swap it into a ``TicketRingHolder`` that the
ticket callback reads.

* ``current`` encrypts new tickets.
* ``previous`` still decrypts for one period (the client then gets a fresh
  ticket), then it is forgotten: that bounds how long a stolen key can
  decrypt recorded traffic (RFC 8446 §4.6.1, RFC 5077 §5.5).
* ``next`` is published one period before it encrypts and already decrypts,
  so a worker that fetched the rotated ring a few seconds before another one
  never issues a ticket its siblings reject.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

SECRET_LEN = 32
_ENTRY = struct.Struct("!Q32s")  # created (ms since epoch), secret


@dataclass(frozen=True, slots=True)
class TicketKey:
    secret: bytes  # 32 random bytes; AES/HMAC keys are derived per VIP and name
    created: float  # seconds since the epoch

    def __repr__(self) -> str:  # never print secrets in logs
        return f"TicketKey(created={self.created:.0f})"


def _fresh(now: float) -> TicketKey:
    return TicketKey(os.urandom(SECRET_LEN), now)


@dataclass(frozen=True, slots=True)
class TicketKeyRing:
    current: TicketKey
    next: TicketKey
    previous: TicketKey | None = None
    rotated_at: float = 0.0  # when ``current`` became current

    @classmethod
    def generate(cls, now: float) -> TicketKeyRing:
        return cls(current=_fresh(now), next=_fresh(now), rotated_at=now)

    def accepted(self) -> tuple[TicketKey, ...]:
        """Keys that decrypt, current first (the callback answers 1 for it, 2 for others)."""
        if self.previous is None:
            return (self.current, self.next)
        return (self.current, self.previous, self.next)

    def rotated(self, now: float) -> TicketKeyRing:
        return TicketKeyRing(
            current=self.next, next=_fresh(now), previous=self.current, rotated_at=now
        )

    def due(self, now: float, period: float) -> bool:
        return now - self.rotated_at >= period

    def to_bytes(self) -> bytes:
        keys = [self.current, self.next] + ([self.previous] if self.previous else [])
        return struct.pack("!Q", int(self.rotated_at * 1000)) + b"".join(
            _ENTRY.pack(int(k.created * 1000), k.secret) for k in keys
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> TicketKeyRing:
        n, rest = divmod(len(data) - 8, _ENTRY.size)
        if rest or n not in (2, 3):
            raise ValueError("malformed ticket key ring")
        (rotated_ms,) = struct.unpack_from("!Q", data)
        keys = [
            TicketKey(secret, created / 1000)
            for created, secret in (_ENTRY.unpack_from(data, 8 + i * _ENTRY.size) for i in range(n))
        ]
        return cls(
            current=keys[0],
            next=keys[1],
            previous=keys[2] if n == 3 else None,
            rotated_at=rotated_ms / 1000,
        )


class TicketRingHolder:
    """The ring a worker's ticket callbacks read; ``ring`` is swapped on rotation."""

    __slots__ = ("ring",)

    def __init__(self, ring: TicketKeyRing) -> None:
        self.ring = ring

    def __call__(self) -> TicketKeyRing:
        return self.ring
