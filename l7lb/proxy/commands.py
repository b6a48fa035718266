"""What the sans-IO engine asks its I/O layer to do.

``H1Connection`` and the ``Exchange`` objects it runs never touch a socket, a timer or the
event loop. Each call into them appends commands to one list, which the asyncio glue
(``client.py``) carries out in order once the call has returned, so a write that makes the
transport pause, or a backend that fails on the spot, never re-enters the engine half-way
through a decision. The playbook tests run the same engine and read the same list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from l7lb.accesslog import AccessRecord
from l7lb.proxy.flow import Pause
from l7lb.proxy.link import BackendLink, Requester

if TYPE_CHECKING:
    from l7lb.balancing import ServerState
    from l7lb.persistence.shared import StickUpdate
    from l7lb.proxy.runtime import PoolRuntime


class Command:
    __slots__ = ()


class ToClient(Command):
    """Bytes for the client."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class CloseClient(Command):
    """Close the client connection once the bytes before this command are out;
    ``abort``: at once, with a reset (an exchange given up half-way)."""

    __slots__ = ("abort",)

    def __init__(self, abort: bool) -> None:
        self.abort = abort


class PauseClient(Command):
    """Stop reading from the client for ``reason`` (until the matching resume)."""

    __slots__ = ("reason",)

    def __init__(self, reason: Pause) -> None:
        self.reason = reason


class ResumeClient(Command):
    __slots__ = ("reason",)

    def __init__(self, reason: Pause) -> None:
        self.reason = reason


class Connect(Command):
    """``exchange`` needs a connection to ``server`` of ``pool``: an idle one from the stock
    or a new one (``fresh``: a new one). The answer is ``exchange.attached(link)`` or
    ``exchange.connect_failed``."""

    __slots__ = ("exchange", "fresh", "pool", "server")

    def __init__(
        self, exchange: Requester, pool: PoolRuntime, server: ServerState, fresh: bool = False
    ) -> None:
        self.exchange = exchange
        self.pool = pool
        self.server = server
        self.fresh = fresh


class ToBackend(Command):
    """Bytes for the backend connection ``link``."""

    __slots__ = ("data", "link")

    def __init__(self, link: BackendLink, data: bytes) -> None:
        self.link = link
        self.data = data


class ReleaseBackend(Command):
    """The exchange is done with ``link``: back to the idle stock when ``reuse``, else
    closed (``abort``: with a reset, for a connection left in the middle of a message)."""

    __slots__ = ("abort", "link", "reuse")

    def __init__(self, link: BackendLink, reuse: bool, abort: bool = False) -> None:
        self.link = link
        self.reuse = reuse
        self.abort = abort


class PauseBackend(Command):
    """Stop reading from ``link`` (the client is not taking what it sends)."""

    __slots__ = ("link",)

    def __init__(self, link: BackendLink) -> None:
        self.link = link


class ResumeBackend(Command):
    __slots__ = ("link",)

    def __init__(self, link: BackendLink) -> None:
        self.link = link


class Tunnel(Command):
    """From now on the client and ``link`` exchange raw bytes (after a 101)."""

    __slots__ = ("link",)

    def __init__(self, link: BackendLink) -> None:
        self.link = link


class Enqueue(Command):
    """Every usable server of ``pool`` is at max_conn: queue ``exchange`` until one frees a
    slot (``exchange.slot_free``) or its queue deadline passes."""

    __slots__ = ("exchange", "pool")

    def __init__(self, exchange: Requester, pool: PoolRuntime) -> None:
        self.exchange = exchange
        self.pool = pool


class Claim(Command):
    """Ask the supervisor which server ``key`` of stick table ``table`` belongs to,
    proposing ``proposal`` (first claim wins); the answer is ``exchange.claim_answer``."""

    __slots__ = ("exchange", "key", "proposal", "table")

    def __init__(self, exchange: Requester, table: str, key: bytes, proposal: str | None) -> None:
        self.exchange = exchange
        self.table = table
        self.key = key
        self.proposal = proposal


class Announce(Command):
    """Persistence entries this worker learned, for the others (through the supervisor),
    sent before the response that reveals them to the client."""

    __slots__ = ("updates",)

    def __init__(self, updates: list[StickUpdate]) -> None:
        self.updates = updates


class Log(Command):
    """One access-log record."""

    __slots__ = ("record",)

    def __init__(self, record: AccessRecord) -> None:
        self.record = record
