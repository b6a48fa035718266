"""A worker's traffic counters: plain integers bumped on the data path, nothing else.

Every request ends in ``WorkerMetrics.finished``, called once by the exchange when it is done
(answered, given up or turned into a tunnel), with plain values: its VIP, pool and server, its
status, the bytes it moved and its times. That call adds to a few integers found by name and
to one histogram bucket; it allocates nothing, reads no clock and knows nothing of Prometheus.
The persistence decisions of a pool (``PoolCounters.stuck`` and friends) are bumped by the
dispatch step where they are made.

Once a second the worker copies these numbers into a snapshot for the supervisor
(``metrics.snapshot``); the supervisor sums the workers and renders the Prometheus families
(``metrics.exposition``). All counters only grow, for the life of the worker.
"""

from __future__ import annotations

from typing import Final

# Status classes, in the order of the ``responses`` lists: index = status // 100 - 1 for
# 1xx..5xx, and 5 for anything else (a status a realserver made up, 0 for "no answer").
CLASSES: Final = ("1xx", "2xx", "3xx", "4xx", "5xx", "other")
OTHER: Final = 5

# Upper bounds (seconds) of the backend response-time buckets, from the request sent to the
# response head: a realserver on the same LAN answers in a millisecond or two, a slow
# application in seconds. The last bucket (+Inf) is implicit. (Not ``Final``: a compiled
# module read a ``Final`` tuple of floats as "not set" from inside a method.)
RESPONSE_TIME_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# Store calls (a Redis or memcached round trip on the LAN, bounded by its deadline).
STORE_LATENCY_BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)


def status_class(status: int) -> int:
    """The index in ``CLASSES`` of a status code."""
    c = status // 100
    if 1 <= c <= 5:
        return c - 1
    return OTHER


class Histogram:
    """Counts per bucket (``counts[i]``: observations <= ``bounds[i]``, not cumulative; the
    last count is above every bound), their sum and their number."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        i = 0
        bounds = self.bounds
        n = len(bounds)
        while i < n and value > bounds[i]:
            i += 1
        self.counts[i] += 1
        self.sum += value
        self.count += 1


class Traffic:
    """Responses by status class and bytes, of one VIP or one server."""

    __slots__ = ("bytes_in", "bytes_out", "responses")

    def __init__(self) -> None:
        self.responses = [0] * len(CLASSES)
        self.bytes_in = 0  # the request heads as received, and the request bodies
        self.bytes_out = 0  # what the access log counts: body bytes, or l7lb's whole answer


class PoolCounters:
    """One pool's counters in one worker."""

    __slots__ = (
        "claim_misses",
        "new",
        "queue_seconds",
        "queued",
        "redispatched",
        "response_time",
        "servers",
        "stuck",
    )

    def __init__(self, servers: list[str]) -> None:
        self.servers = {name: Traffic() for name in servers}
        self.response_time = Histogram(RESPONSE_TIME_BUCKETS)
        self.queued = 0  # requests that waited for a server slot
        self.queue_seconds = 0.0  # the time they waited, summed
        # persistence: requests sent to the server their client is stuck to; requests of
        # clients not stuck yet (scheduled, and stuck by the response); stuck requests sent
        # elsewhere because their server was down, in maintenance or past a drain deadline;
        # table keys no worker knew when the supervisor was asked
        self.stuck = 0
        self.new = 0
        self.redispatched = 0
        self.claim_misses = 0


class WorkerMetrics:
    """Everything one worker counts per request (see the module docstring)."""

    __slots__ = ("vips",)

    def __init__(self, vips: list[str]) -> None:
        self.vips = {name: Traffic() for name in vips}

    def finished(
        self,
        vip: str,
        pool: PoolCounters | None,
        server: str,
        status: int,
        bytes_in: int,
        bytes_out: int,
        t_sent: float,
        t_head: float,
        t_queued: float,
        t_dequeued: float,
        now: float,
    ) -> None:
        """One exchange is done at ``now``. Times are loop seconds, negative when it never
        happened: ``t_sent`` the head went to the server, ``t_head`` its response head came
        back, ``t_queued`` it began to wait for a slot and ``t_dequeued`` it stopped waiting
        (still waiting: until ``now``)."""
        c = status_class(status)
        v = self.vips.get(vip)
        if v is not None:
            v.responses[c] += 1
            v.bytes_in += bytes_in
            v.bytes_out += bytes_out
        if pool is None:
            return
        if server:
            s = pool.servers.get(server)
            if s is not None:
                s.responses[c] += 1
                s.bytes_in += bytes_in
                s.bytes_out += bytes_out
        if t_head >= 0.0 and t_sent >= 0.0:
            pool.response_time.observe(t_head - t_sent)
        if t_queued >= 0.0:
            pool.queued += 1
            pool.queue_seconds += (t_dequeued if t_dequeued >= t_queued else now) - t_queued
