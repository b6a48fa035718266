"""A connection to a realserver as the engine sees it: no socket, only what decides reuse.

The asyncio side (``upstream.BackendConnection``) owns the socket and hands the bytes it
reads to the exchange the link serves; the exchange parses them with the link's response
parser. Between exchanges a link waits in its pool's idle stock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from mypy_extensions import trait

from l7lb.http.events import ResponseParser

if TYPE_CHECKING:
    from l7lb.balancing import ServerState


@trait
class Requester:
    """An exchange as the I/O side and the pools see it (``exchange.Exchange``): what a
    backend connection, a connect, a claim or a free slot reports to it. Declared here, at
    the bottom of the engine's imports, so that nothing needs to import the exchange. (A
    trait, not a Protocol: compiled code calls a trait's methods through a table, a
    Protocol's by name.)"""

    done: bool  # answered (or given up) and logged
    waiting: bool  # queued for a server slot

    def attached(self, link: BackendLink, now: float) -> None:
        raise NotImplementedError

    def connect_failed(self, server: ServerState, reason: str, now: float) -> None:
        raise NotImplementedError

    def claim_answer(self, name: str | None, now: float) -> None:
        raise NotImplementedError

    def slot_free(self, now: float) -> None:
        raise NotImplementedError

    def backend_received(self, link: BackendLink, data: bytes, now: float) -> None:
        raise NotImplementedError

    def backend_closed(self, link: BackendLink, error: str, now: float) -> None:
        raise NotImplementedError

    def backend_full(self, full: bool) -> None:
        raise NotImplementedError


class Transport(Protocol):
    """The part of an asyncio transport the glue uses on a backend connection."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def is_closing(self) -> bool: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


@trait
class BackendUser:
    """The client-side glue a backend connection reports to while its link is in use
    (``client.ClientConnection``). A trait, as ``Requester``: a backend's bytes reach the
    client's glue through a table, not by method name (``_PyObject_GetMethod`` was 1.7 % of
    a worker's keep-alive samples, this call the largest share of it)."""

    def backend_data(self, link: BackendLink, data: bytes) -> None:
        raise NotImplementedError

    def backend_lost(self, link: BackendLink, error: str) -> None:
        raise NotImplementedError

    def backend_full(self, link: BackendLink, full: bool) -> None:
        raise NotImplementedError

    def tunnel_data(self, data: bytes) -> None:
        raise NotImplementedError

    def tunnel_lost(self) -> None:
        raise NotImplementedError


class BackendLink:
    __slots__ = (
        "closed",
        "exchange",
        "idle_since",
        "parser",
        "pool_name",
        "raw",
        "server",
        "transport",
        "user",
        "uses",
    )

    def __init__(self, pool_name: str, server: ServerState, parser: ResponseParser) -> None:
        self.pool_name = pool_name
        self.server = server
        self.parser = parser
        self.exchange: Requester | None = None  # the exchange it serves now
        self.transport: Transport | None = None  # set by the asyncio side once connected
        self.user: BackendUser | None = None  # the glue of the client connection it serves
        self.closed = False
        self.raw = False  # tunnelling after a 101: bytes pass through unparsed
        self.uses = 0  # exchanges carried, this one included
        self.idle_since = 0.0

    def usable(self) -> bool:
        """Still open (an idle link the server closed is not handed out)."""
        t = self.transport
        return not self.closed and t is not None and not t.is_closing()

    def __repr__(self) -> str:
        return f"<BackendLink {self.pool_name}/{self.server.server.name} uses={self.uses}>"
