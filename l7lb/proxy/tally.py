"""What one exchange did, for its access-log line and for /metrics: the bytes each way and
when each phase began.

Times are event-loop seconds; a phase that never happened keeps -1.0, so no record ever
measures from a timestamp of another exchange or of the epoch (the 408 and 499 lines once
carried a ``backend_ms`` larger than their ``total_ms`` that way).
"""

from __future__ import annotations

from l7lb.accesslog import AccessRecord
from l7lb.http.events import RequestHead
from l7lb.metrics.counters import PoolCounters, WorkerMetrics


class Tally:
    def __init__(self, now: float, bytes_in: int) -> None:
        self.t0 = now
        self.t_sent = -1.0  # when the head went to the backend
        self.t_head = -1.0  # when the response head came back
        self.t_queued = -1.0  # when it first waited for a server slot
        self.t_dequeued = -1.0  # when it last stopped waiting
        self.bytes_in = bytes_in  # the head as received, then the body
        self.bytes_sent = 0  # toward the client

    def queued(self, now: float) -> None:
        if self.t_queued < 0.0:
            self.t_queued = now

    def backend_ms(self) -> float:
        """Backend head to response head, or -1.0 when either never happened."""
        if self.t_sent >= 0.0 and self.t_head >= 0.0:
            return (self.t_head - self.t_sent) * 1000
        return -1.0

    def record(
        self, req: RequestHead, peer: str, vip: str, pool: str, server: str, status: int, now: float
    ) -> AccessRecord:
        return AccessRecord.of(
            req,
            peer,
            vip,
            pool,
            server,
            status,
            self.bytes_sent,
            self.backend_ms(),
            (now - self.t0) * 1000,
        )

    def report(
        self,
        metrics: WorkerMetrics,
        vip: str,
        pool: PoolCounters | None,
        server: str,
        status: int,
        now: float,
    ) -> None:
        metrics.finished(
            vip,
            pool,
            server,
            status,
            self.bytes_in,
            self.bytes_sent,
            self.t_sent,
            self.t_head,
            self.t_queued,
            self.t_dequeued,
            now,
        )
