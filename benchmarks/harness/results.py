"""What a scenario run produced: measurements per proxy, failures, skip reason, commands."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.scenarios import spec
from harness.stats import Measurement, Summary, Verdict, evaluate, summarise
from l7lb.bench.scenario import Scenario


@dataclass
class VariantRun:
    """What one started proxy looks like, for the report."""

    command: str = ""
    config: str = ""
    load_command: str = ""
    # TLS: the s_client probes run before the first measured run, and what each negotiated
    probes: list[tuple[str, str]] = field(default_factory=list)  # (command, description)


@dataclass
class ScenarioResult:
    scenario: Scenario
    skipped: str | None = None  # why the whole scenario did not run
    runs: dict[str, list[Measurement]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # variant label -> why
    seen: dict[str, VariantRun] = field(default_factory=dict)
    # /proc/loadavg (as uptime prints it) when the scenario started and ended: the machine is
    # shared, and a high load makes every figure of the table noisier
    loadavg_start: str = ""
    loadavg_end: str = ""
    # share of both CPUs idle just before each round (nothing of compare.py's running but
    # the idle backend): the other work on a shared machine, measured
    idle: list[float] = field(default_factory=list)

    @property
    def summaries(self) -> dict[str, Summary]:
        return {label: summarise(label, ms) for label, ms in self.runs.items() if ms}

    @property
    def verdicts(self) -> list[Verdict]:
        summaries = self.summaries
        return [evaluate(c, summaries) for c in spec(self.scenario).checks]
