"""Connections to realservers: the asyncio protocol, and each pool's stock of idle ones.

``BackendConnection`` is thin: it hands what it reads to the client connection whose
exchange the link serves (``link.user``), or, after a 101, straight to the tunnel's other
end. Between exchanges a link waits in its pool's ``IdleStock``, most recently used first,
so the connection least likely to have been closed by the server's own keep-alive timer is
reused.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from l7lb.proxy.link import BackendLink

if TYPE_CHECKING:
    from l7lb.balancing import ServerState


class IdleStock:
    """A pool's idle backend connections, per server (the engine never sees them)."""

    __slots__ = ("_by_server", "draining", "idle_timeout", "max_idle")

    def __init__(self, max_idle: int, idle_timeout: float) -> None:
        self.max_idle = max_idle
        self.idle_timeout = idle_timeout
        self.draining = False
        self._by_server: dict[str, list[BackendLink]] = {}

    def take(self, server: ServerState) -> BackendLink | None:
        stock = self._by_server.get(server.server.name)
        while stock:
            link = stock.pop()
            if link.usable():
                return link
        return None

    def put(self, link: BackendLink, now: float) -> bool:
        """Keep ``link`` for reuse; False (and closed) when the stock is full or draining."""
        stock = self._by_server.setdefault(link.server.server.name, [])
        # ``link.closed`` only: take() checks the transport before handing a link out
        if len(stock) >= self.max_idle or self.draining or link.closed:
            close(link)
            return False
        link.exchange = None
        link.user = None
        link.idle_since = now
        stock.append(link)
        return True

    def forget(self, link: BackendLink) -> None:
        """An idle connection closed (by the server, usually)."""
        stock = self._by_server.get(link.server.server.name)
        if stock and link in stock:
            stock.remove(link)

    def sweep(self, now: float) -> None:
        limit = now - self.idle_timeout
        for stock in self._by_server.values():
            if stock and stock[0].idle_since < limit:
                for link in stock:
                    if link.idle_since < limit:
                        close(link)
                stock[:] = [link for link in stock if link.idle_since >= limit]

    def close_all(self) -> None:
        for stock in self._by_server.values():
            for link in stock:
                close(link)
            stock.clear()

    def count(self) -> int:
        return sum(len(s) for s in self._by_server.values())


def close(link: BackendLink) -> None:
    link.closed = True
    link.exchange = None
    link.user = None
    t = link.transport
    if t is not None:
        t.close()


def abort(link: BackendLink) -> None:
    link.closed = True
    link.exchange = None
    link.user = None
    t = link.transport
    if t is not None:
        t.abort()


class BackendConnection(asyncio.Protocol):
    __slots__ = ("link", "stock")

    def __init__(self, link: BackendLink, stock: IdleStock) -> None:
        self.link = link
        self.stock = stock

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.link.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        link = self.link
        user = link.user
        if user is None or (link.exchange is None and not link.raw):
            # bytes from a server while idle: it is confused or closing; never reuse it
            close(link)
            return
        if link.raw:
            user.tunnel_data(data)
        else:
            user.backend_data(link, data)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        link = self.link
        link.closed = True
        user = link.user
        link.user = None
        if link.raw:
            if user is not None:
                user.tunnel_lost()
            return
        if user is None or link.exchange is None:
            self.stock.forget(link)
            return
        user.backend_lost(link, "" if exc is None else str(exc))

    def pause_writing(self) -> None:
        user = self.link.user
        if user is not None and self.link.exchange is not None:
            user.backend_full(self.link, True)

    def resume_writing(self) -> None:
        user = self.link.user
        if user is not None and self.link.exchange is not None:
            user.backend_full(self.link, False)
