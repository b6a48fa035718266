"""Markdown for benchmarks/RESULTS.md, and merging a new run into the file's history.

The file keeps one section per run date, newest first. A run on a date that already has a section
replaces that section's header and, scenario by scenario, the tables it re-measured; scenarios it
did not run keep their earlier tables (each table names its own time and commit). Sections are
delimited by HTML comments so the merge never has to understand the tables themselves.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.machine import Machine
from harness.results import ScenarioResult
from harness.scenarios import HAPROXY, SPEEDUPS, Scenario
from harness.stats import Summary, ratio

TITLE = "# l7lb side by side with HAProxy and nginx"

PREAMBLE = f"""{TITLE}

Written by `benchmarks/compare.py`; how to run it and how to read these tables:
[COMPARE.md](COMPARE.md). One section per run date, newest first. Re-running on the same date
replaces that date's header and the tables of the scenarios re-run; the others keep their earlier
figures (each table says when and at which commit it was measured). Older dates stay below as
history. Figures are medians of the runs; the machine is shared, so expect noise of several
percent, and read the per-run figures before trusting a small difference.
"""

_RUN_RE = re.compile(r"<!-- run:(\S+) -->\n(.*?)<!-- /run:\1 -->\n?", re.S)
_SCENARIO_RE = re.compile(r"<!-- scenario:(\S+) -->\n(.*?)<!-- /scenario:\1 -->\n?", re.S)


def fmt(value: float, digits: int = 0) -> str:
    if value != value or math.isinf(value):
        return "-"
    return f"{value:,.{digits}f}"


def fmt_ratio(value: float) -> str:
    return "-" if value != value else f"{value:.2f}"


def scenario_table(
    result: ScenarioResult, when: str, commit: str, runs: int, seconds: float
) -> str:
    """One scenario: heading, description, table, checks, failures, commands."""
    sc = result.scenario
    out = [f"### {sc.name}", ""]
    out.append(f"Measured {when}, l7lb {commit}, {runs} run(s) x {seconds:g} s per proxy.")
    out += ["", sc.description, ""]
    if sc.notes:
        out += [sc.notes, ""]
    if result.skipped is not None:
        out += [f"**Skipped:** {result.skipped}", ""]
        return "\n".join(out)
    out += _table(sc, result.summaries, result)
    verdicts = result.verdicts
    if verdicts:
        out += ["", "Targets:", ""]
        for v in verdicts:
            what = f"`{v.check.subject}` {v.check.text}"
            if v.check.reference != HAPROXY:
                what += f" (`{v.check.reference}`)"
            out.append(f"- **{v.status}** {what}: measured {fmt_ratio(v.value)}")
    if result.failures:
        out += ["", "Failures (those proxies have no figures above):", ""]
        out += [f"- `{label}`: {why}" for label, why in sorted(result.failures.items())]
    if result.seen:
        out += ["", "<details><summary>Commands and configurations</summary>", ""]
        for label, seen in result.seen.items():
            out += [f"`{label}`:", "", "```", seen.command, seen.load_command, "```", ""]
            out += ["```", seen.config.rstrip(), "```", ""]
        out.append("</details>")
    out.append("")
    return "\n".join(out)


def _table(sc: Scenario, summaries: dict[str, Summary], result: ScenarioResult) -> list[str]:
    unit = "conn" if sc.client == "s_time" else "req"
    head = [
        "proxy",
        f"{unit}/s",
        "MB/s",
        f"CPU µs/{unit}",
        "proxy CPU",
        "errors",
        f"{unit}/s ÷ HAProxy",
        "CPU ÷ HAProxy",
        f"{unit}/s per run",
    ]
    if sc.client == "s_time":
        head.insert(6, "resumed")
    if not sc.throughput:
        head.remove("MB/s")
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ref = summaries.get(HAPROXY)
    for label in sc.variants:
        s = summaries.get(label)
        if s is None:
            continue
        per_run = " / ".join(fmt(m.rps) for m in result.runs.get(label, []))
        cells = [
            f"`{label}`",
            fmt(s.rps),
            fmt(s.mbps, 1),
            fmt(s.cpu_us, 1),
            f"{s.cpu_util:.0%}",
            str(s.errors),
            fmt_ratio(ratio(s.rps, ref.rps)) if ref else "-",
            fmt_ratio(ratio(s.cpu_us, ref.cpu_us)) if ref else "-",
            per_run,
        ]
        if sc.client == "s_time":
            cells.insert(6, "-" if s.resumed_share != s.resumed_share else f"{s.resumed_share:.0%}")
        if not sc.throughput:
            del cells[2]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def speedup_name(resumed: str) -> str:
    return f"{resumed}-speedup"


def speedup_tables(results: Iterable[ScenarioResult]) -> dict[str, str]:
    """Resumed ÷ full handshake rate per proxy, for each pair of SPEEDUPS measured in this run
    (issue 3). Keyed by block name, so they merge into RESULTS.md like scenarios."""
    by_name = {r.scenario.name: r for r in results if r.skipped is None}
    tables: dict[str, str] = {}
    for resumed, full in SPEEDUPS:
        if resumed not in by_name or full not in by_name:
            continue
        rs, fs = by_name[resumed].summaries, by_name[full].summaries
        out = [
            f"### Resumption speed-up ({resumed} ÷ {full})",
            "",
            "| proxy | full conn/s | resumed conn/s | speed-up | CPU µs full | CPU µs resumed |",
            "|---|---|---|---|---|---|",
        ]
        for label in by_name[full].scenario.variants:
            if label in rs and label in fs:
                out.append(
                    f"| `{label}` | {fmt(fs[label].rps)} | {fmt(rs[label].rps)} | "
                    f"{fmt_ratio(ratio(rs[label].rps, fs[label].rps))} | "
                    f"{fmt(fs[label].cpu_us, 1)} | {fmt(rs[label].cpu_us, 1)} |"
                )
        out.append("")
        tables[speedup_name(resumed)] = "\n".join(out)
    return tables


def run_header(date: str, machine: Machine, command: str, pinning: str) -> str:
    v = machine.versions
    lines = [
        f"## {date}",
        "",
        f"- machine: {machine.nproc} CPUs, {machine.cpu_model}, {machine.kernel}; "
        f"load average at start {machine.loadavg}",
        f"- l7lb commit: {machine.commit}",
        f"- tools: {v.get('haproxy')}; {v.get('nginx')}; {v.get('wrk')}; {v.get('openssl')}",
        f"- python {v.get('python')}, uvloop {v.get('uvloop')}, httptools {v.get('httptools')}, "
        f"h11 {v.get('h11')}",
        f"- command: `{command}`",
        f"- pinning: {pinning}",
        "",
    ]
    return "\n".join(lines)


@dataclass
class RunSection:
    date: str
    header: str
    scenarios: dict[str, str]  # name -> markdown, in display order


def parse(text: str) -> list[RunSection]:
    """The run sections of a RESULTS.md; text outside the markers is not kept."""
    sections = []
    for m in _RUN_RE.finditer(text):
        body = m.group(2)
        first = _SCENARIO_RE.search(body)
        header = body[: first.start()] if first else body
        scenarios = {s.group(1): s.group(2) for s in _SCENARIO_RE.finditer(body)}
        sections.append(RunSection(m.group(1), header, scenarios))
    return sections


def render(sections: Sequence[RunSection]) -> str:
    out = [PREAMBLE]
    for sec in sections:
        out.append(f"<!-- run:{sec.date} -->\n{sec.header.rstrip()}\n")
        for name, body in sec.scenarios.items():
            out.append(f"<!-- scenario:{name} -->\n{body.rstrip()}\n<!-- /scenario:{name} -->\n")
        out.append(f"<!-- /run:{sec.date} -->\n")
    return "\n".join(out)


def merge(existing: str, new: RunSection, order: Sequence[str]) -> str:
    """``existing`` file text with ``new`` merged in; ``order`` is the scenario display order."""
    sections = parse(existing)
    rank = {name: i for i, name in enumerate(order)}
    for sec in sections:
        if sec.date == new.date:
            combined = dict(sec.scenarios)
            combined.update(new.scenarios)
            sec.header = new.header
            sec.scenarios = dict(
                sorted(combined.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
            )
            break
    else:
        sections.append(new)
    sections.sort(key=lambda s: s.date, reverse=True)
    return render(sections)
