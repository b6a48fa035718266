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
from harness.scenarios import FLOOR_PARSE, HAPROXY, L7LB, SCENARIOS, VARIANTS, spec
from harness.stats import SATURATED, Summary, ratio
from l7lb.bench.scenario import Scenario

TITLE = "# l7lb side by side with HAProxy and nginx"

PREAMBLE = f"""{TITLE}

Written by `benchmarks/compare.py` (and `benchmarks/validate_bench.py --write`); how to run them
and how to read these tables: [README.md](README.md). One section per run date, newest first.
Re-running on the same date replaces that date's header and the tables of the scenarios re-run;
the others keep their earlier figures (each table says when and at which commit it was measured).
Older dates stay below as history. Figures are medians of the runs; the machine is shared, so
expect noise of several percent, and read the per-run figures before trusting a small difference.
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
    if result.loadavg_start:
        out[-1] += (
            f" Load average (1, 5, 15 min) {result.loadavg_start} at the start, "
            f"{result.loadavg_end or '?'} at the end."
        )
    if result.idle:
        out[-1] += (
            " CPU idle before each round (both CPUs, 1 s, no proxy or client running): "
            + " / ".join(f"{i:.0%}" for i in result.idle)
            + "."
        )
    out += ["", sc.description, ""]
    if spec(sc).notes:
        out += [spec(sc).notes, ""]
    if result.skipped is not None:
        out += [f"**Skipped:** {result.skipped}", ""]
        return "\n".join(out)
    summaries = result.summaries
    out += _table(sc, summaries, result)
    out += _per_round(sc, summaries)
    out += _minus_floor(sc, summaries)
    verdicts = result.verdicts
    if verdicts:
        out += ["", "Targets:", ""]
        for v in verdicts:
            what = f"`{v.check.subject}` {v.check.text}"
            if v.check.reference != reference_label(sc):
                what += f" (`{v.check.reference}`)"
            flag = f"; **{v.flag}**" if v.flag else ""
            out.append(f"- **{v.status}** {what}: measured {fmt_ratio(v.value)}{flag}")
    out += _negotiated(result)
    if result.failures:
        out += ["", "Failures (those proxies have no figures above):", ""]
        out += [f"- `{label}`: {why}" for label, why in sorted(result.failures.items())]
    if result.seen:
        out += ["", "<details><summary>Commands and configurations</summary>", ""]
        for label, seen in result.seen.items():
            out += [f"`{label}`:", "", "```", seen.command, seen.load_command]
            out += [f"{command}   # {what}" for command, what in seen.probes]
            out += ["```", ""]
            out += ["```", seen.config.rstrip(), "```", ""]
        out.append("</details>")
    out.append("")
    return "\n".join(out)


def _per_round(sc: Scenario, summaries: dict[str, Summary]) -> list[str]:
    """l7lb's CPU per request over HAProxy's, each run against the HAProxy run of the same
    round (the rounds visit the proxies in turn, so these are closest in time), and their
    median: on a host whose speed drifts within minutes this moves less than the ratio of
    the two medians, which the verdict still uses."""
    ref = reference_label(sc)
    mine, theirs = summaries.get(L7LB), summaries.get(ref)
    if mine is None or theirs is None or not mine.cpu_us_runs:
        return []
    ratios = [ratio(a, b) for a, b in zip(mine.cpu_us_runs, theirs.cpu_us_runs, strict=False) if b]
    if not ratios:
        return []
    ordered = sorted(ratios)
    mid = len(ordered) // 2
    median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return [
        "",
        f"`{L7LB}` CPU ÷ `{ref}` per round: {' / '.join(fmt_ratio(r) for r in ratios)} "
        f"(median {fmt_ratio(median)}).",
    ]


def _minus_floor(sc: Scenario, summaries: dict[str, Summary]) -> list[str]:
    """Issue 13: what l7lb's own code costs above a Python relay that only parses, per request
    (the medians' difference, and each round's: the rounds visit the proxies in turn, so the
    runs of one round are closest in time)."""
    mine, floor = summaries.get(L7LB), summaries.get(FLOOR_PARSE)
    if mine is None or floor is None:
        return []
    unit = "connection" if spec(sc).client == "s_time" else "request"
    per_round = " / ".join(
        fmt(a - b, 1) for a, b in zip(mine.cpu_us_runs, floor.cpu_us_runs, strict=False)
    )
    return [
        "",
        f"`{L7LB}` minus `{FLOOR_PARSE}`: **{fmt(mine.cpu_us - floor.cpu_us, 1)} µs of CPU per "
        f"{unit}** (medians {fmt(mine.cpu_us, 1)} - {fmt(floor.cpu_us, 1)}; per round "
        f"{per_round}).",
    ]


def _negotiated(result: ScenarioResult) -> list[str]:
    """What each proxy negotiated with ``openssl s_client`` before its first run."""
    rows = [(label, seen.probes) for label, seen in result.seen.items() if seen.probes]
    if not rows:
        return []
    out = ["", "TLS negotiated (one `openssl s_client` per proxy and TLS version, before its "
           "first run; the commands are in the block below):", ""]  # fmt: skip
    out += ["| proxy | TLS 1.3 | TLS 1.2 |", "|---|---|---|"]
    for label, probes in rows:
        cells = [what for _, what in probes] + ["-", "-"]
        out.append(f"| `{label}` | {cells[0]} | {cells[1]} |")
    return out


def reference_label(sc: Scenario) -> str:
    """What the "÷ HAProxy" columns divide by: plain HAProxy, or the HAProxy set-up the scenario
    runs (``haproxy-cookie`` where every proxy has persistence)."""
    variants = spec(sc).variants
    if HAPROXY in variants:
        return HAPROXY
    return next((v for v in variants if VARIANTS[v].proxy == "haproxy"), HAPROXY)


def _table(sc: Scenario, summaries: dict[str, Summary], result: ScenarioResult) -> list[str]:
    unit = "conn" if spec(sc).client == "s_time" else "req"
    resumed = spec(sc).client in ("s_time", "bench") and sc.is_tls  # wrk and h2load cannot tell
    sticky = "check_sticky" in sc.bench and spec(sc).client == "bench"
    head = ["proxy", f"{unit}/s"]
    head += ["MB/s"] if sc.throughput else []
    head += [f"CPU µs/{unit}", "proxy CPU", "saturated", "errors", f"load CPU woken/{unit}"]
    head += ["resumed"] if resumed else []
    head += ["sticky violations"] if sticky else []
    head += [f"{unit}/s ÷ HAProxy", "CPU ÷ HAProxy"]
    head += [f"CPU µs/{unit} per run", "proxy CPU per run", f"{unit}/s per run"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    ref = summaries.get(reference_label(sc))
    for label in spec(sc).variants:
        s = summaries.get(label)
        if s is None:
            continue
        cells = [f"`{label}`", fmt(s.rps)]
        cells += [fmt(s.mbps, 1)] if sc.throughput else []
        cells += [fmt(s.cpu_us, 1), f"{s.cpu_util:.0%}", saturation(s), str(s.errors)]
        cells.append("-" if s.wakeups != s.wakeups else f"{s.wakeups:.2f}")  # NaN: unknown
        if resumed:
            cells.append("-" if s.resumed_share != s.resumed_share else f"{s.resumed_share:.0%}")
        if sticky:
            cells.append("-" if s.sticky_violations < 0 else str(s.sticky_violations))
        cells += [
            fmt_ratio(ratio(s.rps, ref.rps)) if ref else "-",
            fmt_ratio(ratio(s.cpu_us, ref.cpu_us)) if ref else "-",
            " / ".join(fmt(c, 1) for c in s.cpu_us_runs),
            " / ".join(_util(u) for u in s.cpu_util_runs),
            " / ".join(fmt(m.rps) for m in result.runs.get(label, [])),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _util(u: float) -> str:
    """One run's CPU share; a run below the saturation line is starred."""
    return f"{u:.0%}" + ("*" if u < SATURATED else "")


def saturation(s: Summary) -> str:
    """ "yes", or how many runs the proxy was not the bottleneck of."""
    n = s.unsaturated_runs
    if not n:
        return "yes"
    return f"**no** ({n}/{len(s.cpu_util_runs)} runs < {SATURATED:.0%})"


def display_order() -> list[str]:
    """Block order in RESULTS.md: each scenario, then its speed-up table if it has one."""
    order: list[str] = []
    for name, sc in SCENARIOS.items():
        order.append(name)
        if spec(sc).speedup_of is not None:
            order.append(speedup_name(name))
    return order


def speedup_name(resumed: str) -> str:
    return f"{resumed}-speedup"


def speedup_tables(results: Iterable[ScenarioResult]) -> dict[str, str]:
    """Full ÷ resumed handshake cost per proxy, for each scenario whose ``[compare]`` names a
    ``speedup_of`` measured in this run (issue 3). Keyed by block name, so they merge into
    RESULTS.md like scenarios. The speed-up is taken from the proxy's CPU time per connection:
    the full-handshake scenarios load with s_time and the resumed ones with l7lb bench, so their
    connection rates say as much about the clients as about the proxy."""
    by_name = {r.scenario.name: r for r in results if r.skipped is None}
    tables: dict[str, str] = {}
    for resumed, r in by_name.items():
        full = spec(r.scenario).speedup_of
        if full is None or full not in by_name:
            continue
        rs, fs = r.summaries, by_name[full].summaries
        out = [
            f"### Resumption speed-up ({resumed} vs {full})",
            "",
            "| proxy | full conn/s | resumed conn/s | CPU µs full | CPU µs resumed "
            "| speed-up (CPU full ÷ resumed) |",
            "|---|---|---|---|---|---|",
        ]
        for label in spec(r.scenario).variants:
            if label in rs and label in fs:
                out.append(
                    f"| `{label}` | {fmt(fs[label].rps)} | {fmt(rs[label].rps)} | "
                    f"{fmt(fs[label].cpu_us, 1)} | {fmt(rs[label].cpu_us, 1)} | "
                    f"{fmt_ratio(ratio(fs[label].cpu_us, rs[label].cpu_us))} |"
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
        f"- tools: {v.get('haproxy')}; {v.get('nginx')}; {v.get('wrk')}; {v.get('h2load')}; "
        f"{v.get('openssl')}",
        f"- python {v.get('python')}, uvloop {v.get('uvloop')}, httptools {v.get('httptools')}, "
        f"h11 {v.get('h11')}",
        f"- l7lb's hot path: {v.get('l7lb build', 'not recorded')}",
        f"- the interpreter of l7lb and the floors: {v.get('python under test', 'not recorded')}",
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


def merge(existing: str, new: RunSection, order: Sequence[str], keep_header: bool = False) -> str:
    """``existing`` file text with ``new`` merged in; ``order`` is the scenario display order.
    ``keep_header``: a date's existing header and block order stay, the new blocks go last
    (validate_bench.py adds a block to the day compare.py described; its own header is used only
    for a date with no section yet)."""
    sections = parse(existing)
    rank = {name: i for i, name in enumerate(order)}
    for sec in sections:
        if sec.date == new.date:
            combined = dict(sec.scenarios)
            combined.update(new.scenarios)
            if keep_header:
                # An addition to a day compare.py wrote: its blocks stay as they are.
                sec.scenarios = combined
                break
            sec.header = new.header
            sec.scenarios = dict(
                sorted(combined.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))
            )
            break
    else:
        sections.append(new)
    sections.sort(key=lambda s: s.date, reverse=True)
    return render(sections)
