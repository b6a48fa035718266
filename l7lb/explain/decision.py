"""The server a request routed to a pool gets: persistence, then the scheduler.

The steps and their order are those of ``l7lb.proxy.dispatch.Dispatch`` (``first``,
``_schedule``, ``_no_server``, ``_use``), each step a call into the very
objects a worker holds: ``Stickiness`` (lookup, usable, dispatched,
response_headers) and ``PoolState`` (pick). Only the asynchronous parts are
described instead of run: the supervisor claim of a table key, the queue wait,
the connection. The lead is free to move that sequence into one sans-IO
function the proxy and this module both call; until then a change there must
be mirrored here (tests/explain/test_decision.py pins the cases).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from l7lb.admin.commands import state_label
from l7lb.balancing import HashKey, PoolState, ServerState
from l7lb.config.model import Config, Pool, Scheduler
from l7lb.persistence.policy import NOT_STUCK, Stickiness, Sticky
from l7lb.persistence.setcookie import Headers
from l7lb.persistence.shared import StickTables, StickUpdate
from l7lb.proxy.dispatch import MAX_FALLBACK_HOPS

_ROTATING = (Scheduler.RR, Scheduler.WRR)
_BY_LOAD = (Scheduler.LC, Scheduler.WLC)


class PoolStates:
    """One worker's view of every pool, built from the configuration: what a
    freshly started worker holds (all servers up and ready, no connections,
    empty stick tables) until ``l7lb.explain.live`` applies the director's."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.tables = StickTables()
        self.states = {name: PoolState(pool) for name, pool in config.pools.items()}
        self.stickiness: dict[str, Stickiness] = {
            name: Stickiness(pool, self.states[name], self.tables)
            for name, pool in config.pools.items()
            if pool.persistence.enabled
        }


@dataclass(frozen=True, slots=True)
class ServerLine:
    name: str
    address: str
    weight: int
    state: str  # as ``show servers``: up | down | drain | maint
    backup: bool
    active: int
    max_conn: int
    eligible: bool  # the scheduler may choose it for a new client


@dataclass(slots=True)
class Decision:
    pool: str  # the pool that serves (after any fallback)
    server: ServerState | None
    # "stuck": persistence chose; "scheduled": the scheduler chose; "queued": every
    # usable server is full (wait, then 503); "answered": l7lb answers itself (status)
    how: str
    status: int = 0  # l7lb's own answer when how is "queued" or "answered"
    reason: str = ""
    steps: list[str] = field(default_factory=list)
    sticky: Sticky = NOT_STUCK
    stickiness: Stickiness | None = None  # of ``pool``
    hash_value: bytes | None = None
    servers: list[ServerLine] = field(default_factory=list)  # of ``pool``
    scheduler: str = ""
    scheduler_note: str = ""
    updates: list[StickUpdate] = field(default_factory=list)  # entries the worker records
    response_headers: Headers = field(default_factory=list)  # what persistence adds


def _server_lines(state: PoolState, loop_now: float) -> list[ServerLine]:
    lines = []
    others = frozenset(s.name for s in state.servers)
    for s in state.servers:
        # eligible alone: what PoolState's own filter says (pick() among just this one);
        # run after the decision, as it moves a rotating scheduler on
        alone = state.pick("", None, others - {s.name}, loop_now)
        lines.append(
            ServerLine(
                name=s.name,
                address=str(s.server.address),
                weight=s.weight,
                state=state_label(s, loop_now),
                backup=s.server.backup,
                active=s.active,
                max_conn=s.max_conn,
                eligible=alone is s,
            )
        )
    return lines


def _any_full(state: PoolState) -> bool:
    # l7lb.proxy.runtime.PoolRuntime.any_full: a usable server refusing only for max_conn
    return any(
        s.max_conn and s.active >= s.max_conn and s.up and s.admin == "ready" and s.weight
        for s in state.servers
    )


def _scheduler_note(
    pool: Pool, lines: list[ServerLine], chosen: ServerState, hv: bytes | None
) -> str:
    kind = pool.scheduler
    if kind in _ROTATING:
        # the eligible servers of the chosen one's tier (primaries, or backups)
        tier = [s for s in lines if s.eligible and s.backup == chosen.server.backup]
        total = sum(s.weight for s in tier) or 1
        if kind is Scheduler.WRR:
            shares = ", ".join(f"{s.name} {100 * s.weight / total:.0f}%" for s in tier)
            return (
                f"weighted round robin: {chosen.name} is a fresh worker's first pick; "
                f"a running worker takes the next in turn (shares: {shares})"
            )
        return (
            f"round robin: {chosen.name} is a fresh worker's first pick; a running worker "
            "takes the next in turn"
        )
    if kind in _BY_LOAD:
        return (
            f"least connections: {chosen.name} has the fewest requests in flight on one "
            "worker; ties rotate (offline every server has 0), so another tied server may "
            "come next"
        )
    if kind is Scheduler.SH:
        return f"source hash: this client address goes to {chosen.name} while the servers stay"
    key = f"{pool.hash_key} = {hv.decode('latin-1')!r}" if hv is not None else "the source address"
    if hv is None and pool.hash_key != "source":
        key += f" ({pool.hash_key} has no value in this request)"
    return f"consistent hash of {key}: {chosen.name} while the servers stay"


def decide(
    states: PoolStates,
    pool_name: str,
    *,
    target: bytes,
    path: bytes,
    query: bytes,
    host: bytes,
    headers: Headers,
    peer: str,
    secure: bool,
    now: float,
    loop_now: float,
) -> Decision:
    """What a worker does with a request routed to ``pool_name``.

    ``target`` is what the backend gets as the request-target (origin-form),
    ``now`` the wall clock (cookie dates), ``loop_now`` the event loop's.
    """
    config = states.config
    pool = config.pools[pool_name]
    state = states.states[pool_name]
    st = states.stickiness.get(pool_name)
    hash_value = HashKey(pool.hash_key).value(path, query, host, headers)
    d = Decision(pool_name, None, "scheduled", stickiness=st, hash_value=hash_value)
    sticky = NOT_STUCK
    if st is not None:
        sticky = st.lookup(target, headers, peer, now)
        d.sticky = sticky
        stuck = sticky.server
        if stuck is not None:
            usable = st.usable(stuck, loop_now)
            d.steps.append(f"persistence ({sticky.source}) names server {stuck.name}: {usable}")
            if usable == "ok":
                if stuck.admin == "drain" or stuck.weight == 0:
                    d.steps.append(f"{stuck.name} drains, but keeps the clients stuck to it")
                return _use(d, states, pool_name, stuck, secure, now, loop_now, "stuck")
            if usable == "full":
                d.how, d.status = "queued", 503
                d.reason = (
                    f"{stuck.name} is at max_conn: the request waits up to queue_timeout "
                    f"({pool.queue_timeout:g}s) for a slot on it, then gets 503"
                )
                d.servers = _server_lines(state, loop_now)
                return d
            if not pool.redispatch:
                d.how, d.status = "answered", 503
                d.reason = f"the client's server is {usable} and redispatch is off: 503"
                d.servers = _server_lines(state, loop_now)
                return d
            d.steps.append(f"{stuck.name} is {usable}: redispatch, the response re-sticks")
        elif st.claim_needed(sticky):
            d.steps.append(
                "the key is not in this worker's table: a worker asks the supervisor, "
                "whose table is first-writer-wins (explain cannot see it: taken as unknown)"
            )
    hops = 0
    while True:
        server = state.pick(peer, hash_value, frozenset(), loop_now)
        if server is not None:
            d.scheduler = pool.scheduler.value
            d.steps.append(f"scheduler {pool.scheduler.value} picks {server.name}")
            return _use(d, states, d.pool, server, secure, now, loop_now, "scheduled")
        if pool.queue_timeout > 0 and _any_full(state):
            d.how, d.status = "queued", 503
            d.reason = (
                f"every usable server of pool {pool.name} is at max_conn: the request waits "
                f"up to queue_timeout ({pool.queue_timeout:g}s), then gets 503"
            )
            d.servers = _server_lines(state, loop_now)
            return d
        d.servers = _server_lines(state, loop_now)
        if pool.fallback_pool is not None and hops < MAX_FALLBACK_HOPS:
            hops += 1
            d.steps.append(
                f"no server of pool {pool.name} can take it: fallback pool {pool.fallback_pool}"
            )
            pool = config.pools[pool.fallback_pool]
            d.pool = pool.name
            state = states.states[pool.name]
            st = states.stickiness.get(pool.name)
            d.stickiness = st
            d.sticky = NOT_STUCK
            continue
        d.how = "answered"
        if pool.fallback_response is not None:
            d.status = pool.fallback_response.status
            d.reason = f"no server of pool {pool.name} can take it: the pool's fallback response"
        else:
            d.status = 503
            d.reason = f"no realserver of pool {pool.name} is available: 503"
        return d


def _use(
    d: Decision,
    states: PoolStates,
    pool_name: str,
    server: ServerState,
    secure: bool,
    now: float,
    loop_now: float,
    how: str,
) -> Decision:
    d.server = server
    d.how = how
    st = d.stickiness
    state = states.states[pool_name]
    if st is not None:
        if st.uses_table:
            d.updates = st.dispatched(d.sticky, server, now)
        # what persistence adds to a response carrying no cookies of its own
        d.response_headers = st.response_headers([], server, d.sticky, secure, now)[0]
    d.servers = _server_lines(state, loop_now)
    if how == "scheduled":
        pool = states.config.pools[pool_name]
        d.scheduler_note = _scheduler_note(pool, d.servers, server, d.hash_value)
    return d
