"""What one run measured, per client process; mergeable so the parent can add processes up."""

from __future__ import annotations

from typing import Any

from .histogram import Histogram

# Transport failures first, then HTTP status classes. A request that fails is counted once,
# under the first thing that went wrong, and never retried: errors are counted, not hidden.
ERROR_KINDS = ("connect", "tls", "timeout", "reset", "closed", "parse", "http_4xx", "http_5xx")
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
_TIMELINE_FIELDS = 7
_TIMELINE_MAX = 4  # the one timeline field merged by max (latency max); the others add up
VIOLATION_SAMPLES = 20


class ClientBackends:
    """The backends that served one virtual client, in first-seen order, and how often it moved."""

    __slots__ = ("backends", "last", "switches")

    def __init__(self) -> None:
        self.backends: list[str] = []
        self.last: str | None = None
        self.switches = 0

    def see(self, backend: str) -> None:
        if backend != self.last:
            if self.last is not None:
                self.switches += 1
            self.last = backend
            if backend not in self.backends:
                self.backends.append(backend)


class RunStats:
    def __init__(self) -> None:
        self.requests = 0
        self.responses = 0
        self.status_classes: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.bytes_in = 0
        self.bytes_out = 0
        self.latency = Histogram()
        self.connect = Histogram()
        self.connections = 0
        self.handshakes_full = 0
        self.handshakes_resumed = 0
        self.backends: dict[str, int] = {}
        self.clients: dict[int, ClientBackends] = {}
        # URL → [connections, full handshakes, resumed handshakes], with several URLs
        self.by_target: dict[str, list[int]] = {}
        # second since start → [requests, errors, responses, latency sum µs, latency max µs,
        # full handshakes, resumed handshakes]
        self.timeline: dict[int, list[int]] = {}
        self.elapsed = 0.0
        self.started_at = 0.0  # wall clock (time.time()) when the run started

    def _slot(self, second: int) -> list[int]:
        slot = self.timeline.get(second)
        if slot is None:
            slot = self.timeline[second] = [0] * _TIMELINE_FIELDS
        return slot

    def _tick(self, second: int, errors: int, latency_us: int | None) -> None:
        slot = self._slot(second)
        slot[0] += 1
        slot[1] += errors
        if latency_us is not None:
            slot[2] += 1
            slot[3] += latency_us
            if latency_us > slot[4]:
                slot[4] = latency_us

    def record_response(self, status: int, latency_us: int, second: int) -> bool:
        """Count a complete response; return True when its status is an error (4xx/5xx)."""
        self.requests += 1
        self.responses += 1
        cls = f"{status // 100}xx"
        self.status_classes[cls] = self.status_classes.get(cls, 0) + 1
        self.latency.record(latency_us)
        failed = status >= 400
        if failed:
            kind = "http_4xx" if status < 500 else "http_5xx"
            self.errors[kind] = self.errors.get(kind, 0) + 1
        self._tick(second, int(failed), latency_us)
        return failed

    def record_error(self, kind: str, second: int) -> None:
        self.requests += 1
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self._tick(second, 1, None)

    def record_connection(
        self, connect_us: int, tls: bool, resumed: bool, second: int = 0, target: str = ""
    ) -> None:
        """Count an opened connection; ``target`` names its URL when the run has several."""
        self.connections += 1
        self.connect.record(connect_us)
        per_target = None
        if target:
            per_target = self.by_target.get(target)
            if per_target is None:
                per_target = self.by_target[target] = [0, 0, 0]
            per_target[0] += 1
        if tls:
            column = 2 if resumed else 1
            if resumed:
                self.handshakes_resumed += 1
            else:
                self.handshakes_full += 1
            self._slot(second)[4 + column] += 1
            if per_target is not None:
                per_target[column] += 1

    def record_backend(self, client: int, backend: str) -> None:
        self.backends[backend] = self.backends.get(backend, 0) + 1
        seen = self.clients.get(client)
        if seen is None:
            seen = self.clients[client] = ClientBackends()
        seen.see(backend)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def merge(self, other: RunStats) -> None:
        self.requests += other.requests
        self.responses += other.responses
        for mine, theirs in (
            (self.status_classes, other.status_classes),
            (self.errors, other.errors),
            (self.backends, other.backends),
        ):
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0) + value
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.latency.merge(other.latency)
        self.connect.merge(other.connect)
        self.connections += other.connections
        self.handshakes_full += other.handshakes_full
        self.handshakes_resumed += other.handshakes_resumed
        # Client ids are partitioned between processes, so a plain update cannot collide.
        self.clients.update(other.clients)
        for target, counts in other.by_target.items():
            mine_t = self.by_target.setdefault(target, [0, 0, 0])
            for i, value in enumerate(counts):
                mine_t[i] += value
        for second, counts in other.timeline.items():
            slot = self._slot(second)
            for i, value in enumerate(counts):
                slot[i] = max(slot[i], value) if i == _TIMELINE_MAX else slot[i] + value
        # Processes run side by side: the run lasted as long as the slowest one, and started
        # when the first one did.
        self.elapsed = max(self.elapsed, other.elapsed)
        if other.started_at and (not self.started_at or other.started_at < self.started_at):
            self.started_at = other.started_at

    def to_wire(self) -> dict[str, Any]:
        """Everything, raw, for the trip from a client process to the parent."""
        return {
            "requests": self.requests,
            "responses": self.responses,
            "status_classes": self.status_classes,
            "errors": self.errors,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "latency": self.latency.to_dict(),
            "connect": self.connect.to_dict(),
            "connections": self.connections,
            "handshakes_full": self.handshakes_full,
            "handshakes_resumed": self.handshakes_resumed,
            "backends": self.backends,
            "clients": {c: [b.backends, b.switches] for c, b in self.clients.items()},
            "by_target": self.by_target,
            "timeline": self.timeline,
            "elapsed": self.elapsed,
            "started_at": self.started_at,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> RunStats:
        stats = cls()
        for key in ("requests", "responses", "bytes_in", "bytes_out", "connections"):
            setattr(stats, key, data[key])
        stats.handshakes_full = data["handshakes_full"]
        stats.handshakes_resumed = data["handshakes_resumed"]
        stats.status_classes = dict(data["status_classes"])
        stats.errors = dict(data["errors"])
        stats.backends = dict(data["backends"])
        stats.latency = Histogram.from_dict(data["latency"])
        stats.connect = Histogram.from_dict(data["connect"])
        for client, (backends, switches) in data["clients"].items():
            seen = ClientBackends()
            seen.backends = list(backends)
            seen.last = backends[-1] if backends else None
            seen.switches = switches
            stats.clients[int(client)] = seen
        stats.by_target = {k: list(v) for k, v in data["by_target"].items()}
        stats.timeline = {int(k): list(v) for k, v in data["timeline"].items()}
        stats.elapsed = data["elapsed"]
        stats.started_at = data["started_at"]
        return stats

    def summary(self) -> dict[str, Any]:
        """Every figure of the final report, in plain JSON types."""
        elapsed = self.elapsed or 1e-9
        violators = [c for c, b in sorted(self.clients.items()) if len(b.backends) > 1]
        spread: dict[str, int] = {}
        for seen in self.clients.values():
            if seen.backends:
                spread[seen.backends[0]] = spread.get(seen.backends[0], 0) + 1

        def latency(hist: Histogram) -> dict[str, float]:
            out = {f"p{p:g}": hist.percentile(p) / 1000 for p in PERCENTILES}
            out.update(min=hist.min / 1000, mean=round(hist.mean / 1000, 3), max=hist.max / 1000)
            return out

        def ratio(resumed: int, full: int) -> float:
            return round(resumed / (resumed + full), 6) if resumed + full else 0.0

        return {
            "started_at": round(self.started_at, 3),
            "elapsed_s": round(self.elapsed, 6),
            "requests": self.requests,
            "responses": self.responses,
            "requests_per_s": round(self.requests / elapsed, 2),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "bytes_in_per_s": round(self.bytes_in / elapsed, 1),
            "latency_ms": latency(self.latency),
            "connect_ms": latency(self.connect),
            "status_classes": dict(sorted(self.status_classes.items())),
            "errors": {k: self.errors[k] for k in ERROR_KINDS if k in self.errors},
            "error_count": self.error_count,
            "error_ratio": round(self.error_count / self.requests, 6) if self.requests else 0.0,
            "connections": self.connections,
            "handshakes": {
                "full": self.handshakes_full,
                "resumed": self.handshakes_resumed,
                "resumed_ratio": ratio(self.handshakes_resumed, self.handshakes_full),
            },
            "by_url": {
                url: {
                    "connections": c,
                    "full": full,
                    "resumed": resumed,
                    "resumed_ratio": ratio(resumed, full),
                }
                for url, (c, full, resumed) in self.by_target.items()
            },
            "backends": dict(sorted(self.backends.items())),
            "stickiness": {
                "clients": len(self.clients),
                "violations": len(violators),
                "switches": sum(b.switches for b in self.clients.values()),
                "spread": dict(sorted(spread.items())),
                "violation_samples": {
                    str(c): self.clients[c].backends for c in violators[:VIOLATION_SAMPLES]
                },
            },
            "timeline": [
                {
                    "second": s,
                    "requests": v[0],
                    "errors": v[1],
                    "latency_mean_ms": round(v[3] / max(v[2], 1) / 1000, 3),
                    "latency_max_ms": v[4] / 1000,
                    "handshakes_full": v[5],
                    "handshakes_resumed": v[6],
                }
                for s, v in sorted(self.timeline.items())
            ],
        }
