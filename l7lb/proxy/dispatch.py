"""Choosing a server for one request, as one sans-IO step that returns one decision.

``Dispatch`` holds what the choice has learned so far (the persistence lookup, servers that
failed, fallback hops, the queue deadline) and answers every event with a ``Decision``:

* ``UseServer``: a slot on this server is taken for the request (release it when done);
* ``WaitForSlot``: every usable server is at its max_conn; queue until ``until``;
* ``AskSupervisor``: a stick-table key this worker has not seen; another worker may have
  learned it a moment ago, so ask before scheduling (first claim wins);
* ``AnswerLocally``: no server: the fallback pool's sorry page, or a 502/503.

A pool without servers left falls back to its ``fallback_pool`` inside the step (the
decision names the pool that was used). Persistence decides first: a client stuck to a
server goes there even while it drains; a stuck server that is down or in maintenance is
either redispatched (``pool.redispatch``) or answered with 503, one past its drain deadline
always redispatched; one that is full is queued for. Nothing here does I/O: ``now`` is the
event loop's clock (back-off deadlines, queue), ``wall`` is wall-clock seconds (cookie dates).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from l7lb.persistence.policy import NOT_STUCK, Sticky
from l7lb.persistence.shared import StickUpdate
from l7lb.proxy import answers
from l7lb.proxy.answers import Answer
from l7lb.routing.target import origin_parts

if TYPE_CHECKING:
    from collections.abc import Mapping

    from l7lb.balancing import ServerState
    from l7lb.http.events import RequestHead
    from l7lb.limits.table import SourceEntry
    from l7lb.proxy.runtime import PoolRuntime, VipRuntime, WorkerRuntime

# the loader refuses fallback loops; the hop bound is a second guard
MAX_FALLBACK_HOPS: Final = 8
_NO_UPDATES: Final[list[StickUpdate]] = []
# what route() and the hash key get in place of fields they do not read (never appended to)
_NO_FIELDS: Final[list[tuple[bytes, bytes]]] = []
_NONE: Final[frozenset[str]] = frozenset()


class Decision:
    __slots__ = ()


class UseServer(Decision):
    __slots__ = ("pool", "server", "updates")

    def __init__(self, pool: PoolRuntime, server: ServerState, updates: list[StickUpdate]):
        self.pool = pool
        self.server = server
        self.updates = updates  # persistence entries to announce to the other workers

    def __repr__(self) -> str:
        return f"UseServer({self.pool.name}/{self.server.name})"


class WaitForSlot(Decision):
    __slots__ = ("pool", "until")

    def __init__(self, pool: PoolRuntime, until: float) -> None:
        self.pool = pool
        self.until = until

    def __repr__(self) -> str:
        return f"WaitForSlot({self.pool.name}, until={self.until})"


class AskSupervisor(Decision):
    __slots__ = ("key", "proposal", "table")

    def __init__(self, table: str, key: bytes, proposal: str | None) -> None:
        self.table = table
        self.key = key
        self.proposal = proposal

    def __repr__(self) -> str:
        return f"AskSupervisor({self.table}, {self.key!r}, {self.proposal})"


class AnswerLocally(Decision):
    __slots__ = ("answer",)

    def __init__(self, answer: Answer) -> None:
        self.answer = answer

    def __repr__(self) -> str:
        return f"AnswerLocally({self.answer.status})"


def admit(
    rt: WorkerRuntime,
    vip: VipRuntime,
    req: RequestHead,
    peer: str,
    source: SourceEntry | None,
    now: float,
) -> tuple[Dispatch | None, Decision, bytes]:
    """A request head's first step: the client's request rate (``[vip.limits]``), the route,
    and the first decision. Returns the dispatch (None for an answer without one), that
    decision, and the origin-form target for the backend."""
    wait = source.request(rt.wall(now)) if source is not None else 0.0
    if wait:  # over rate_per_source
        return None, AnswerLocally(answers.too_many(wait)), req.target
    path, query, target = origin_parts(req.target)
    router = vip.router
    headers = req.headers if router.reads_headers else _NO_FIELDS
    route = router.route(req.method, req.host, path, headers, peer)
    if route is None or route.pool is None:
        return None, AnswerLocally(answers.for_route(route, req.host, path, query)), target
    d = Dispatch(rt.pools, rt.pools[route.pool], req, target, path, query, peer)
    return d, d.first(now, rt.wall(now)), target


class Dispatch:
    """The way of one request to a server of ``pool`` (see the module docstring)."""

    __slots__ = (
        "_cookies",
        "_excluded",
        "_hash_value",
        "_hops",
        "_pools",
        "_queued_until",
        "_target",
        "claiming",
        "peer",
        "pool",
        "req",
        "sticky",
    )

    def __init__(
        self,
        pools: Mapping[str, PoolRuntime],
        pool: PoolRuntime,
        req: RequestHead,
        target: bytes,
        path: bytes,
        query: bytes,
        peer: str,
    ) -> None:
        self._pools = pools
        self.pool = pool
        self.req = req
        self.peer = peer
        self.sticky: Sticky = NOT_STUCK
        self._cookies: list[tuple[bytes, bytes]] | None = None
        self.claiming = False  # an AskSupervisor is out and not answered yet
        self._excluded: set[str] | None = None  # servers that failed to connect
        self._hops = 0
        self._queued_until = 0.0
        self._target = target
        key = pool.hash_key
        fields = req.fields(key.header) if key.header else _NO_FIELDS
        self._hash_value = key.value(path, query, req.host, fields)

    def cookies(self) -> list[tuple[bytes, bytes]]:
        """The request's Cookie fields: all that persistence reads of a request, read from
        its head once (the lookup, then the backend head's edit)."""
        cookies = self._cookies
        if cookies is None:
            cookies = self._cookies = self.req.fields(b"cookie")
        return cookies

    # ---- events ----------------------------------------------------------------------

    def first(self, now: float, wall: float) -> Decision:
        """The request arrived: persistence first, then the scheduler."""
        pool = self.pool
        st = pool.stickiness
        if st is None:
            return self._schedule(now, wall)
        sticky = self.sticky = st.lookup(self._target, self.cookies(), self.peer, wall)
        server = sticky.server
        if server is not None:
            state = st.usable(server, now)
            if state == "ok":
                # stuck clients follow their server even while it drains
                pool.counters.stuck += 1
                drain = server.drain
                if drain is not None:  # how many are left (balancing.drain)
                    c = sticky.cookie
                    drain.saw(self.peer, c.issued if c is not None else sticky.key, now)
                return self._use(pool, server, wall)
            if state == "full":
                return self._wait(pool, now)
            if not pool.pool.redispatch and state != "expired":
                return AnswerLocally(answers.error(503, f"the client's server is {state}"))
            # redispatch (always past a drain deadline): schedule normally; the response
            # re-sticks the client
            pool.counters.redispatched += 1
        elif st.claim_needed(sticky):
            assert sticky.key is not None
            proposal = None
            if st.proposes:
                proposal = pool.state.pick(
                    self.peer, self._hash_value, self._excluded or _NONE, now
                )
                if proposal is None:
                    return self._schedule(now, wall)  # nothing to propose: fallback or 503
            self.claiming = True
            return AskSupervisor(st.table_name, sticky.key, proposal.name if proposal else None)
        else:
            pool.counters.new += 1
        return self._schedule(now, wall)

    def claimed(self, name: str | None, now: float, wall: float) -> Decision:
        """The supervisor's answer to AskSupervisor (None: it did not answer in time)."""
        self.claiming = False
        pool = self.pool
        st = pool.stickiness
        assert st is not None and self.sticky.key is not None
        server = pool.state.by_name.get(name) if name else None
        if server is None:
            pool.counters.claim_misses += 1
        if server is not None and st.usable(server, now) == "ok":
            pool.counters.stuck += 1
            self.sticky = Sticky(
                server, self.sticky.key, "source" if st.proposes else "learned", None
            )
            return self._use(pool, server, wall)
        return self._schedule(now, wall)

    def slot_freed(self, now: float, wall: float) -> Decision:
        """A server of the pool released a slot while this request waited."""
        pool = self.pool
        st = pool.stickiness
        stuck = self.sticky.server
        if st is not None and stuck is not None and st.usable(stuck, now) == "ok":
            return self._use(pool, stuck, wall)
        return self._schedule(now, wall)

    def failed(self, server: ServerState, now: float, wall: float) -> Decision:
        """Connecting to ``server`` failed: its slot is released, and the request goes to
        another server (or a fallback)."""
        self.pool.release(server)
        if self._excluded is None:
            self._excluded = set()
        self._excluded.add(server.server.name)
        return self._schedule(now, wall)

    def queue_expired(self) -> Decision:
        return AnswerLocally(answers.error(503, "every server of this pool is busy"))

    # ---- the steps ---------------------------------------------------------------------

    def _schedule(self, now: float, wall: float) -> Decision:
        pool = self.pool
        server = pool.state.pick(self.peer, self._hash_value, self._excluded or _NONE, now)
        if server is not None:
            return self._use(pool, server, wall)
        if pool.pool.queue_timeout > 0 and pool.any_full():
            return self._wait(pool, now)
        return self._no_server(pool, now, wall)

    def _use(self, pool: PoolRuntime, server: ServerState, wall: float) -> Decision:
        pool.state.acquire(server)
        st = pool.stickiness
        updates = _NO_UPDATES
        if st is not None and st.uses_table:
            updates = st.dispatched(self.sticky, server, wall)
        return UseServer(pool, server, updates)

    def _wait(self, pool: PoolRuntime, now: float) -> Decision:
        if self._queued_until == 0.0:
            self._queued_until = now + pool.pool.queue_timeout
        elif now >= self._queued_until:
            return self.queue_expired()
        return WaitForSlot(pool, self._queued_until)

    def _no_server(self, pool: PoolRuntime, now: float, wall: float) -> Decision:
        p = pool.pool
        if p.fallback_pool is not None and self._hops < MAX_FALLBACK_HOPS:
            self._hops += 1
            self._excluded = None
            self.sticky = NOT_STUCK
            self.pool = self._pools[p.fallback_pool]
            return self._schedule(now, wall)
        if p.fallback_response is not None:
            return AnswerLocally(answers.static(p.fallback_response))
        if self._excluded:
            return AnswerLocally(answers.error(502, "no realserver of this pool could be reached"))
        return AnswerLocally(answers.error(503, "no realserver of this pool is available"))
