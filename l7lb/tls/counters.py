"""Per-VIP TLS handshake counters, for the admin socket and the benchmarks.

Resumption kinds: ``session_id`` (TLS 1.2 session-ID cache), ``ticket``
(TLS 1.2 stateless ticket), ``tls13_ticket`` (TLS 1.3 stateless ticket),
``tls13_stateful`` (TLS 1.3 PSK found in the session cache, tickets off).
"""

from __future__ import annotations

from collections import Counter

from l7lb.tls.clienthello import ClientHello
from l7lb.tls.sessions import MAX_STATEFUL_ID


class TlsCounters:
    __slots__ = ("failures", "full", "resumed")

    def __init__(self) -> None:
        self.full = 0
        self.resumed: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()

    def fail(self, reason: str) -> None:
        self.failures[reason] += 1

    def snapshot(self) -> dict[str, object]:
        return {
            "full": self.full,
            "resumed": dict(self.resumed),
            "resumed_total": sum(self.resumed.values()),
            "failures": dict(self.failures),
        }


def resumption_kind(hello: ClientHello, version: str) -> str:
    """How a resumed handshake resumed, from what the client offered."""
    if version == "TLSv1.3":
        # OpenSSL's stateful TLS 1.3 tickets are short session ids; stateless
        # tickets are encrypted sessions, far longer than any id.
        stateless = any(len(i) > MAX_STATEFUL_ID for i in hello.psk_identities)
        return "tls13_ticket" if stateless else "tls13_stateful"
    return "ticket" if hello.session_ticket else "session_id"
