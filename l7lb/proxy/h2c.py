"""HTTP/2 over cleartext with prior knowledge (RFC 9113 3.3), beside HTTP/1.1 on one VIP.

On a plain VIP with ``[vip] http2 = "prior-knowledge"`` a client either starts with the
HTTP/2 client preface (``PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n``) or speaks HTTP/1.1.
``PriorKnowledge`` is the engine of such a connection until its first bytes tell which:
it holds them while they could still be the preface, then hands everything to an
``H2Connection`` or an ``H1Connection`` and passes every later call through. The HTTP/1.1
engine exists from the start, so a client that sends nothing gets its request-head deadline
(408) exactly as on any other VIP. ``Upgrade: h2c`` is not supported: such a request is an
ordinary HTTP/1.1 request (its Upgrade goes to the backend, which may refuse it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from l7lb.http2.frames import PREFACE
from l7lb.proxy.commands import Command
from l7lb.proxy.engine import Engine
from l7lb.proxy.h1 import H1Connection
from l7lb.proxy.h2 import H2Connection

if TYPE_CHECKING:
    from l7lb.limits.table import SourceEntry
    from l7lb.proxy.runtime import VipRuntime, WorkerRuntime

_PREFACE_LEN: Final = len(PREFACE)


class PriorKnowledge(Engine):
    __slots__ = ("held", "inner", "out", "peer", "rt", "source", "vip")

    def __init__(
        self,
        rt: WorkerRuntime,
        vip: VipRuntime,
        peer: str,
        now: float,
        source: SourceEntry | None = None,
    ) -> None:
        self.rt = rt
        self.vip = vip
        self.peer = peer
        self.source = source  # the client's [vip.limits] counters, if any
        h1 = H1Connection(rt, vip, peer, now, source)
        self.out: list[Command] = h1.out  # one list, whichever engine ends up using it
        self.inner: Engine = h1
        self.held: bytes | None = b""  # None once the protocol is known

    def receive(self, data: bytes, now: float) -> None:
        held = self.held
        if held is None:
            self.inner.receive(data, now)
            return
        held += data
        n = len(held) if len(held) < _PREFACE_LEN else _PREFACE_LEN
        if held[:n] != PREFACE[:n]:
            self.held = None
            self.inner.receive(held, now)
            return
        if n < _PREFACE_LEN:
            self.held = held
            return
        self.held = None
        # the HTTP/1.1 engine queued nothing: the HTTP/2 one starts with its SETTINGS
        h2 = H2Connection(self.rt, self.vip, self.peer, now, self.source, self.out)
        self.inner = h2
        h2.receive(held, now)

    def receive_eof(self, now: float) -> bool:
        return self.inner.receive_eof(now)

    def lost(self, now: float) -> None:
        self.inner.lost(now)

    def client_full(self, full: bool) -> None:
        self.inner.client_full(full)

    def tunnel_closed(self) -> None:
        self.inner.tunnel_closed()

    def next_deadline(self) -> float:
        return self.inner.next_deadline()

    def on_timer(self, now: float) -> None:
        self.inner.on_timer(now)

    def drain(self, now: float) -> None:
        inner = self.inner
        if isinstance(inner, H2Connection):
            inner.drain(now)
