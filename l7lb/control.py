"""The control channel between the supervisor and each worker: one class per message.

One socketpair per worker carries JSON objects, one per line, each with its type in ``t``.
The supervisor pushes what must be the same in every worker (health states, the admin's
weights and states, persistence entries another worker learned); workers report what they
learn and answer statistics requests. Every message is a small frozen class with its own
encoding and a decoding that checks every field, the way h11 has one class per event, so a
message is built, sent and read in exactly one shape:

=================  ==============  ==========================================================
message            direction       what
=================  ==============  ==========================================================
``Ready``          worker -> sup.  the worker accepts connections (its pid)
``Stick``          both            persistence entries (``StickUpdate``) learned or to apply
``Claim``          worker -> sup.  who owns this table key? (a proposal, first claim wins)
``Claimed``        sup. -> worker  the answer to a ``Claim`` (the server, or none)
``Health``         sup. -> worker  a server's health check state changed
``Admin``          sup. -> worker  the admin set a server's weight or state (a drain's deadline)
``StatsQuery``     sup. -> worker  send your counters (``l7lb admin show``)
``Stats``          worker -> sup.  the counters: server rows and TLS counters
``MetricsQuery``   sup. -> worker  send a metrics snapshot now (a /metrics scrape)
``Metrics``        worker -> sup.  a metrics snapshot (``metrics.snapshot``): every
                                   ``[metrics] interval``, at the end, and as an answer
``LimitDeltas``    both            per-client-address counts of one VIP (``[vip.limits]``):
                                   a worker's own changes, or the others' relayed to it
=================  ==============  ==========================================================

A line that is not JSON, has an unknown type or a field of the wrong type is logged and
skipped; it never stops the channel.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from l7lb.limits.deltas import SourceDelta
from l7lb.persistence.shared import StickUpdate

log: Final = logging.getLogger("l7lb.control")

MAX_LINE: Final = 8 * 1024 * 1024  # a stats answer or a table snapshot: large, not unbounded


class MessageError(ValueError):
    """A decoded object is not a well-formed message."""


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise MessageError(f"{key}: expected a string")
    return value


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MessageError(f"{key}: expected an integer")
    return value


def _updates(obj: dict[str, Any], key: str) -> tuple[StickUpdate, ...]:
    items = obj.get(key)
    if not isinstance(items, list):
        raise MessageError(f"{key}: expected a list")
    try:
        return tuple(StickUpdate.from_dict(item) for item in items)
    except ValueError as exc:
        raise MessageError(f"{key}: {exc}") from None


class Message:
    """The base of every control message; ``TYPE`` is its ``t``."""

    TYPE: ClassVar[str] = ""

    def fields(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Message:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Ready(Message):
    TYPE: ClassVar[str] = "ready"
    pid: int

    def fields(self) -> dict[str, Any]:
        return {"pid": self.pid}

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Ready:
        return cls(_int(obj, "pid"))


@dataclass(frozen=True, slots=True)
class Stick(Message):
    TYPE: ClassVar[str] = "stick"
    updates: tuple[StickUpdate, ...]

    def fields(self) -> dict[str, Any]:
        return {"u": [u.to_dict() for u in self.updates]}

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Stick:
        return cls(_updates(obj, "u"))


@dataclass(frozen=True, slots=True)
class Claim(Message):
    TYPE: ClassVar[str] = "claim"
    id: int
    update: StickUpdate  # ``server`` is the proposal, "" for none

    def fields(self) -> dict[str, Any]:
        return {"id": self.id, "u": self.update.to_dict()}

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Claim:
        try:
            update = StickUpdate.from_dict(obj.get("u"))
        except ValueError as exc:
            raise MessageError(f"u: {exc}") from None
        return cls(_int(obj, "id"), update)


@dataclass(frozen=True, slots=True)
class Claimed(Message):
    TYPE: ClassVar[str] = "claimed"
    id: int
    server: str | None

    def fields(self) -> dict[str, Any]:
        return {"id": self.id, "server": self.server}

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Claimed:
        server = obj.get("server")
        if server is not None and not isinstance(server, str):
            raise MessageError("server: expected a string or null")
        return cls(_int(obj, "id"), server or None)


@dataclass(frozen=True, slots=True)
class Health(Message):
    TYPE: ClassVar[str] = "health"
    pool: str
    server: str
    up: bool

    def fields(self) -> dict[str, Any]:
        return {"pool": self.pool, "server": self.server, "up": self.up}

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Health:
        up = obj.get("up")
        if not isinstance(up, bool):
            raise MessageError("up: expected true or false")
        return cls(_str(obj, "pool"), _str(obj, "server"), up)


@dataclass(frozen=True, slots=True)
class Admin(Message):
    TYPE: ClassVar[str] = "admin"
    pool: str
    server: str
    weight: int | None = None
    state: str | None = None  # "ready", "drain" or "maint"
    deadline: float | None = None  # with "drain": when stuck clients move (time.time())

    def fields(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "server": self.server,
            "weight": self.weight,
            "state": self.state,
            "deadline": self.deadline,
        }

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Admin:
        weight = obj.get("weight")
        state = obj.get("state")
        deadline = obj.get("deadline")
        if weight is not None and (not isinstance(weight, int) or isinstance(weight, bool)):
            raise MessageError("weight: expected an integer or null")
        if state is not None and not isinstance(state, str):
            raise MessageError("state: expected a string or null")
        if deadline is not None and (
            not isinstance(deadline, int | float)
            or isinstance(deadline, bool)
            or not math.isfinite(deadline)
        ):
            raise MessageError("deadline: expected a number or null")
        return cls(
            _str(obj, "pool"),
            _str(obj, "server"),
            weight,
            state or None,
            float(deadline) if deadline is not None else None,
        )


@dataclass(frozen=True, slots=True)
class StatsQuery(Message):
    TYPE: ClassVar[str] = "stats?"
    id: int

    def fields(self) -> dict[str, Any]:
        return {"id": self.id}

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> StatsQuery:
        return cls(_int(obj, "id"))


@dataclass(frozen=True, slots=True)
class Stats(Message):
    TYPE: ClassVar[str] = "stats"
    id: int
    servers: list[dict[str, Any]]  # ``asdict(admin.commands.ServerRow)`` per server
    tls: dict[str, dict[str, Any]]  # VIP name -> ``tls.counters`` snapshot

    def fields(self) -> dict[str, Any]:
        return {"id": self.id, "servers": self.servers, "tls": self.tls}

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Stats:
        servers = obj.get("servers")
        tls = obj.get("tls", {})
        if not isinstance(servers, list) or not all(isinstance(r, dict) for r in servers):
            raise MessageError("servers: expected a list of objects")
        if not isinstance(tls, dict) or not all(isinstance(v, dict) for v in tls.values()):
            raise MessageError("tls: expected an object of objects")
        return cls(_int(obj, "id"), servers, tls)


@dataclass(frozen=True, slots=True)
class MetricsQuery(Message):
    TYPE: ClassVar[str] = "metrics?"
    id: int

    def fields(self) -> dict[str, Any]:
        return {"id": self.id}

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> MetricsQuery:
        return cls(_int(obj, "id"))


@dataclass(frozen=True, slots=True)
class Metrics(Message):
    TYPE: ClassVar[str] = "metrics"
    id: int  # the MetricsQuery's, or 0 when the worker reports on its own
    data: dict[str, Any]  # ``l7lb.metrics.snapshot.take`` (checked by ``metrics.aggregate``)

    def fields(self) -> dict[str, Any]:
        return {"id": self.id, "data": self.data}

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Metrics:
        data = obj.get("data")
        if not isinstance(data, dict):
            raise MessageError("data: expected an object")
        return cls(_int(obj, "id"), data)


@dataclass(frozen=True, slots=True)
class LimitDeltas(Message):
    """Counts per client address for VIP ``vip`` whose rate window is ``length`` seconds
    (a worker of an older generation may count in other windows: its requests are then
    not mixed with the current ones)."""

    TYPE: ClassVar[str] = "limits"
    vip: str
    length: float
    deltas: tuple[SourceDelta, ...]

    def fields(self) -> dict[str, Any]:
        return {"vip": self.vip, "len": self.length, "d": [d.to_list() for d in self.deltas]}

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> LimitDeltas:
        length = obj.get("len")
        if isinstance(length, bool) or not isinstance(length, int | float) or length <= 0:
            raise MessageError("len: expected a positive number")
        items = obj.get("d")
        if not isinstance(items, list):
            raise MessageError("d: expected a list")
        try:
            deltas = tuple(SourceDelta.from_list(item) for item in items)
        except ValueError as exc:
            raise MessageError(f"d: {exc}") from None
        return cls(_str(obj, "vip"), float(length), deltas)


TYPES: Final[dict[str, Callable[[dict[str, Any]], Message]]] = {
    cls.TYPE: cls.parse
    for cls in (
        Ready,
        Stick,
        Claim,
        Claimed,
        Health,
        Admin,
        StatsQuery,
        Stats,
        MetricsQuery,
        Metrics,
        LimitDeltas,
    )
}


def encode(msg: Message) -> bytes:
    """One line of the channel."""
    obj = {"t": msg.TYPE, **msg.fields()}
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def decode(line: bytes) -> Message:
    """The message on one line; MessageError for anything else."""
    try:
        obj = json.loads(line)
    except ValueError:
        raise MessageError("not JSON") from None
    if not isinstance(obj, dict):
        raise MessageError("not an object")
    parse = TYPES.get(obj.get("t"))  # type: ignore[arg-type]
    if parse is None:
        raise MessageError(f"unknown message type {obj.get('t')!r}")
    return parse(obj)


class LineDecoder:
    """Bytes in, messages out; a malformed line is logged and skipped."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        if b"\n" not in self._buf:
            if len(self._buf) > MAX_LINE:
                log.error("control channel: line over %d bytes dropped", MAX_LINE)
                self._buf = b""
            return []
        *lines, self._buf = self._buf.split(b"\n")
        out: list[Message] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                out.append(decode(line))
            except MessageError as exc:
                log.error("control channel: %s: %r", exc, line[:80])
        return out
