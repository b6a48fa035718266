"""Redis Sentinel: find the master through the sentinels, and follow it through failovers.

``sentinel_pool`` builds the redis-py connection pool that aiocache's ``RedisCache`` uses
in place of its own (``connection_pool_class``), so a Sentinel store is the same
``SharedStore`` as a plain Redis one: the same calls, deadlines and outage handling.

How a failover looks from here (redis-py's asyncio ``SentinelConnectionPool``): every new
connection first asks the sentinels where the master is (``SENTINEL MASTERS``, the first
sentinel that answers and does not see the master as down wins). When the master dies its
connections fail, the store opens an outage (``backend.SharedStore``), and each probe opens a
connection, which asks the sentinels again: "no master found" until they have promoted a
replica, then the new address. A demoted master that is still up answers writes with
READONLY, which redis-py turns into a reconnect, so writes never land on a replica.

``MasterWatch`` logs the master the first time it is found (INFO) and each change of it
(WARNING), once per change and per process, never per request.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from l7lb.store.settings import StoreSettings

log = logging.getLogger("l7lb.store")

Address = tuple[str, int]


class MasterWatch:
    """The master address a process last connected to; logs when it changes."""

    def __init__(self, store_name: str, service: str) -> None:
        self.store_name = store_name
        self.service = service
        self.address: Address | None = None
        self.switches = 0

    def seen(self, address: Address) -> None:
        address = (str(address[0]), int(address[1]))
        if address == self.address:
            return
        if self.address is None:
            log.info("store %s: master %r is %s", self.store_name, self.service, _show(address))
        else:
            self.switches += 1
            log.warning(
                "store %s: master %r moved from %s to %s (Sentinel failover)",
                self.store_name,
                self.service,
                _show(self.address),
                _show(address),
            )
        self.address = address

    def describe(self) -> str:
        """For the outage line: which master this process was using."""
        if self.address is None:
            return f"no master of {self.service!r} found yet"
        return f"master {self.service!r} was {_show(self.address)}"


def _show(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def sentinel_pool(
    settings: StoreSettings, watch: MasterWatch, socket_timeout: float
) -> tuple[Callable[..., Any], Any]:
    """``(connection_pool_class, sentinel)`` for ``RedisCache``.

    The first is called by aiocache with the master's connection options (its own
    host and port are ignored: the sentinels give them). The second owns one
    client per sentinel and must be closed (``aclose``) with the store.
    """
    from redis.asyncio import sentinel as redis_sentinel

    # redis-py's Sentinel classes are not typed: treat them as Any, once, here.
    base: Any = redis_sentinel.SentinelConnectionPool
    make_sentinel: Any = redis_sentinel.Sentinel

    class FollowedMasterPool(base):  # type: ignore[misc]
        async def get_master_address(self) -> Any:
            parent: Any = super()
            address = await parent.get_master_address()
            watch.seen(address)
            return address

    sentinel = make_sentinel(
        list(settings.sentinels),
        # Asking a sentinel is part of opening a connection: bound it like one. Sentinels
        # are asked without a password (docs/store.md).
        sentinel_kwargs={
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": socket_timeout,
        },
    )
    return functools.partial(FollowedMasterPool, settings.service, sentinel), sentinel
