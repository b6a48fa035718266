"""Per-run measurements, their medians, ratios between proxies and target checks."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from l7lb.bench.scenario import METRICS, Check

__all__ = ["METRICS", "SATURATED", "Check", "Measurement", "Summary", "Verdict", "evaluate",
           "median", "ratio", "summarise"]  # fmt: skip

# A proxy whose CPU use stayed below this share of its core in a run was not the bottleneck of
# that run: the load client or the backend on the other core was, and its req/s then says more
# about them than about the proxy (issue 13: HAProxy at 72 % in new-conn). Such runs are flagged.
SATURATED = 0.90


@dataclass(frozen=True)
class Measurement:
    """One load run against one proxy."""

    requests: int  # completed requests (or TLS connections for s_time)
    seconds: float  # wall time of the load run
    bytes_read: int  # response bytes the client read (0 when the tool does not say)
    cpu_seconds: float  # proxy user + system CPU over the run
    errors: int  # socket errors + non-2xx/3xx responses
    resumed: int = -1  # TLS connections that resumed a session; -1 when the tool cannot tell
    handshakes: int = -1  # TLS handshakes made (l7lb bench); -1: one per request (s_time)
    sticky_violations: int = -1  # clients served by several backends (bench --check-sticky)
    wakeups: int = -1  # the load CPU's wake-up interrupts (harness.interrupts); -1: unknown

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def mbps(self) -> float:
        """Decimal megabytes (10**6 bytes) per second read by the client."""
        return self.bytes_read / 1e6 / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_seconds * 1e6 / self.requests if self.requests else float("nan")

    @property
    def wakeups_per_request(self) -> float:
        if self.wakeups < 0 or not self.requests:
            return float("nan")
        return self.wakeups / self.requests

    @property
    def resumed_share(self) -> float:
        total = self.handshakes if self.handshakes >= 0 else self.requests
        if self.resumed < 0 or not total:
            return float("nan")
        return self.resumed / total

    @property
    def cpu_utilisation(self) -> float:
        """Fraction of one core the proxy used: near 1.0 means the proxy was the bottleneck."""
        return self.cpu_seconds / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Summary:
    """Medians over the runs of one proxy in one scenario."""

    label: str
    runs: int
    rps: float
    mbps: float
    cpu_us: float
    cpu_util: float
    errors: int  # summed over runs: any error is worth seeing
    resumed_share: float = float("nan")  # median share of resumed TLS connections
    sticky_violations: int = -1  # summed over runs; -1 when not checked
    cpu_us_runs: tuple[float, ...] = ()  # every run's CPU per request, in run order
    cpu_util_runs: tuple[float, ...] = ()  # every run's share of one core
    wakeups: float = float("nan")  # median wake-ups of the load CPU per request

    @property
    def unsaturated_runs(self) -> int:
        """Runs in which the proxy used less than ``SATURATED`` of its core."""
        return sum(1 for u in self.cpu_util_runs if u < SATURATED)

    def metric(self, name: str) -> float:
        if name not in METRICS:
            raise KeyError(name)
        value: float = getattr(self, name)
        return value


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def summarise(label: str, runs: Sequence[Measurement]) -> Summary:
    return Summary(
        label=label,
        runs=len(runs),
        rps=median([m.rps for m in runs]),
        mbps=median([m.mbps for m in runs]),
        cpu_us=median([m.cpu_us_per_request for m in runs]),
        cpu_util=median([m.cpu_utilisation for m in runs]),
        errors=sum(m.errors for m in runs),
        resumed_share=median([m.resumed_share for m in runs]),
        sticky_violations=-1
        if all(m.sticky_violations < 0 for m in runs)
        else sum(max(0, m.sticky_violations) for m in runs),
        cpu_us_runs=tuple(m.cpu_us_per_request for m in runs),
        cpu_util_runs=tuple(m.cpu_utilisation for m in runs),
        wakeups=median([m.wakeups_per_request for m in runs]),
    )


def ratio(subject: float, reference: float) -> float:
    """``subject / reference``; NaN when there is no reference to divide by."""
    if reference == 0 or reference != reference:
        return float("nan")
    return subject / reference


@dataclass(frozen=True)
class Verdict:
    check: Check
    value: float  # the ratio measured; NaN when a side is missing
    status: str  # "PASS", "MISS" or "N/A"
    # (label, runs below SATURATED, runs) of each side that was not saturated in every run:
    # the verdict stands, but says it was judged on runs a proxy did not limit
    unsaturated: tuple[tuple[str, int, int], ...] = ()

    @property
    def flag(self) -> str:
        """ "" or a warning naming the sides that were not saturated."""
        if not self.unsaturated:
            return ""
        sides = ", ".join(
            f"`{label}` below {SATURATED:.0%} CPU in {n} of {runs} run{'s' if runs != 1 else ''}"
            for label, n, runs in self.unsaturated
        )
        return f"not saturated: {sides}"


def evaluate(check: Check, summaries: dict[str, Summary]) -> Verdict:
    """PASS or MISS; N/A only when a side was not measured (skipped or failed), never to hide
    a miss. Either way the verdict names a side that was not saturated in some run."""
    subject = summaries.get(check.subject)
    reference = summaries.get(check.reference)
    if subject is None or reference is None:
        return Verdict(check, float("nan"), "N/A")
    unsaturated = tuple(
        (s.label, s.unsaturated_runs, len(s.cpu_util_runs))
        for s in (subject, reference)
        if s.unsaturated_runs
    )
    value = ratio(subject.metric(check.metric), reference.metric(check.metric))
    if value != value:
        return Verdict(check, value, "N/A", unsaturated)
    ok = value >= check.threshold if check.op == ">=" else value <= check.threshold
    return Verdict(check, value, "PASS" if ok else "MISS", unsaturated)
