"""What one worker builds from a ``Config``: routers, pool state, idle stocks.

Built once per configuration generation; the data path reads only these
objects. Pool runtime state (active counts, idle connections) lives here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from dataclasses import dataclass

from l7lb.accesslog import AccessLog
from l7lb.balancing import HashKey, PoolState, ServerState
from l7lb.config.model import Config, Pool, Vip
from l7lb.http.codec import make_request_parser, make_response_parser, resolve_parser_kind
from l7lb.http.events import RequestParser, ResponseParser
from l7lb.http.forwarding import server_authorities
from l7lb.proxy.backend import BackendConnection
from l7lb.routing.router import Router

log = logging.getLogger("l7lb.worker")


class PoolRuntime:
    def __init__(self, pool: Pool, runtime: WorkerRuntime) -> None:
        self.pool = pool
        self.name = pool.name
        self.runtime = runtime
        self.state = PoolState(pool)
        self.idle: dict[str, list[BackendConnection]] = {s.name: [] for s in pool.servers}
        self.authorities = server_authorities(s.address for s in pool.servers)
        self.hash_key = HashKey(pool.hash_key)

    def take_idle(self, server: ServerState) -> BackendConnection | None:
        stock = self.idle.get(server.server.name)
        while stock:
            conn = stock.pop()
            if not conn.closed and conn.transport is not None and not conn.transport.is_closing():
                return conn
        return None

    def put_idle(self, conn: BackendConnection, now: float) -> None:
        stock = self.idle.setdefault(conn.server.server.name, [])
        if len(stock) >= self.pool.max_idle or self.runtime.draining:
            conn.close()
            return
        conn.client = None
        conn.idle_since = now
        stock.append(conn)

    def forget_idle(self, conn: BackendConnection) -> None:
        stock = self.idle.get(conn.server.server.name)
        if stock and conn in stock:
            stock.remove(conn)

    def sweep(self, now: float) -> None:
        limit = now - self.pool.idle_timeout
        for stock in self.idle.values():
            if stock and stock[0].idle_since < limit:
                keep = [c for c in stock if c.idle_since >= limit]
                for c in stock:
                    if c.idle_since < limit:
                        c.close()
                stock[:] = keep

    def close_all(self) -> None:
        for stock in self.idle.values():
            for c in stock:
                c.close()
            stock.clear()


@dataclass(slots=True)
class VipRuntime:
    vip: Vip
    name: str
    router: Router
    scheme: bytes  # b"http" or b"https"


class WorkerRuntime:
    """Everything a worker's connections share for one configuration."""

    def __init__(self, config: Config, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.loop = loop
        self.timeouts = config.timeouts
        self.http = config.http
        self.parser_kind = resolve_parser_kind(config.http.parser)
        self.limits = config.http.limits
        self.via = config.http.via.encode()
        self.forwarded = config.http.forwarded
        self.draining = False
        self.connections: set[object] = set()
        self.pools: dict[str, PoolRuntime] = {}
        for name, pool in config.pools.items():
            self.pools[name] = PoolRuntime(pool, self)
        self.vips: dict[str, VipRuntime] = {}
        for vip in config.vips:
            scheme = b"https" if vip.tls is not None else b"http"
            self.vips[vip.name] = VipRuntime(vip, vip.name, Router(vip.routes), scheme)
        self.access_log = AccessLog(config.log, loop.call_later)
        self.tls: dict[str, Any] = {}  # vip name -> l7lb.tls.context.VipTls (counters)
        self._sweeper: asyncio.TimerHandle | None = loop.call_later(1.0, self._sweep)

    # ---- the control channel (see l7lb/control.py) ----------------------------

    def control_send(self, msg: dict[str, Any]) -> None:
        """Replaced by the worker with a writer to the supervisor."""

    def _server(self, pool: str, server: str) -> tuple[PoolRuntime, ServerState] | None:
        p = self.pools.get(pool)
        if p is None:
            return None
        s = p.state.by_name.get(server)
        return None if s is None else (p, s)

    def control_message(self, msg: dict[str, Any]) -> None:
        t = msg["t"]
        if t == "health":
            found = self._server(msg["pool"], msg["server"])
            if found is not None:
                found[1].up = bool(msg["up"])
        elif t == "admin":
            found = self._server(msg["pool"], msg["server"])
            if found is None:
                return
            pool, server = found
            if msg.get("weight") is not None:
                pool.state.set_weight(server.name, int(msg["weight"]))
            if msg.get("state"):
                server.admin = str(msg["state"])
        elif t == "stats?":
            rows = [
                [p.name, s.name, s.active, s.requests]
                for p in self.pools.values()
                for s in p.state.servers
            ]
            self.control_send({"t": "stats", "id": msg["id"], "servers": rows, "tables": {}})
        else:
            log.warning("unknown control message type %r", t)

    def request_parser(self) -> RequestParser:
        return make_request_parser(self.parser_kind, self.limits)

    def response_parser(self) -> ResponseParser:
        return make_response_parser(self.parser_kind, self.limits)

    def _sweep(self) -> None:
        now = self.loop.time()
        for p in self.pools.values():
            p.sweep(now)
        self._sweeper = self.loop.call_later(1.0, self._sweep)

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for p in self.pools.values():
            p.close_all()
        self.access_log.close()
