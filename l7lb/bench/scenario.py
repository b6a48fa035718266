"""Benchmark scenarios (benchmarks/scenarios/*.toml): what to stand up, and how to load it.

One file is one published scenario, and the only definition of it:

- `[target]` the system under test (scheme, certificate, backends, response size, persistence);
- `[bench]` `l7lb bench` options under their long names with dashes written as underscores, so
  a scenario is exactly a command line (`Scenario.argv`);
- `[compare]` how `benchmarks/compare.py` runs it against l7lb, HAProxy and nginx: which load
  client, which proxy set-ups, which targets from the issues to check.

Whatever `[target]` or `[bench]` already says is not repeated in `[compare]`: the wrk/s_time
behaviour (new connection per request, resumed handshakes, URL path) is derived from them, so the
three load clients cannot disagree about what a scenario measures. Sans-IO: parsing only."""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TARGET_KEYS = {"scheme", "certificate", "backends", "response_bytes", "persistence",
               "backend_header"}  # fmt: skip
COMPARE_KEYS = {"client", "variants", "checks", "send_cookie", "distinct_cookies", "streams",
                "speedup_of", "notes"}  # fmt: skip
CERTIFICATES = ("rsa-2048", "ecdsa-p256")
CLIENTS = ("wrk", "s_time", "bench", "h2load")
SMALL_BODY_BYTES = 12  # "hello world\n", what the benchmark backend answers on "/"
ONE_MIB = 1024 * 1024
# The bodies the benchmark backend serves, and where: a scenario names a size, not a URL.
RESPONSE_PATHS = {SMALL_BODY_BYTES: "/", ONE_MIB: "/1mib"}
METRICS = ("rps", "mbps", "cpu_us", "cpu_util")
_METRIC_WORDS = {"rps": "req/s", "mbps": "MB/s", "cpu_us": "CPU/request", "cpu_util": "CPU use"}
_CHECK_RE = re.compile(r"^\s*(\S+)\s*/\s*(\S+)\s+(\w+)\s*(>=|<=)\s*([0-9.]+)\s*$")


class ScenarioError(ValueError):
    """A scenario file that does not describe a runnable benchmark; names file and key."""


@dataclass(frozen=True)
class Check:
    """A target from an issue: ``subject.metric / reference.metric OP threshold``."""

    text: str  # what the issue asks, e.g. "req/s >= 40% of haproxy"
    metric: str  # one of METRICS
    subject: str  # proxy label
    reference: str  # proxy label
    op: str  # ">=" or "<="
    threshold: float

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"unknown metric {self.metric!r}")
        if self.op not in (">=", "<="):
            raise ValueError(f"unknown operator {self.op!r}")


def parse_check(text: str) -> Check:
    """``"l7lb-httptools/haproxy rps >= 0.40"``: the subject's figure divided by the
    reference's, compared with a threshold. ValueError with the expected form otherwise."""
    m = _CHECK_RE.match(text)
    if m is None:
        raise ValueError(f"check {text!r}: expected 'SUBJECT/REFERENCE METRIC >=|<= NUMBER'")
    subject, reference, metric, op, number = m.groups()
    if metric not in METRICS:
        raise ValueError(f"check {text!r}: metric must be one of {METRICS}")
    threshold = float(number)
    if not math.isfinite(threshold) or threshold <= 0:
        raise ValueError(f"check {text!r}: threshold must be a positive number")
    # Fractions below 1 read best as a share, multiples as a factor.
    amount = f"{threshold:.0%} of" if threshold < 1 else f"{threshold:g}x"
    words = f"{_METRIC_WORDS[metric]} {op} {amount} {reference}"
    return Check(words, metric, subject, reference, op, threshold)


@dataclass(frozen=True)
class Compare:
    """The `[compare]` table: how benchmarks/compare.py runs the scenario."""

    client: str  # "wrk", "s_time" or "bench"
    variants: tuple[str, ...]  # proxy set-up labels (benchmarks/harness/scenarios.py)
    checks: tuple[Check, ...] = ()
    send_cookie: bool = False  # wrk replays the persistence cookie of a first response
    distinct_cookies: bool = False  # wrk: an application cookie of its own on every request
    streams: int = 0  # h2load: concurrent streams per connection (-m)
    speedup_of: str | None = None  # a full-handshake scenario this resumed one is compared with
    notes: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    target: dict[str, Any]
    bench: dict[str, Any]
    compare: Compare | None = field(default=None)

    @property
    def tls(self) -> str | None:
        """The VIP's certificate kind, or None for plain HTTP."""
        cert: str | None = self.target.get("certificate") if self.is_tls else None
        return cert

    @property
    def is_tls(self) -> bool:
        return bool(self.target["scheme"] == "https")

    @property
    def path(self) -> str:
        return RESPONSE_PATHS[int(self.target.get("response_bytes", SMALL_BODY_BYTES))]

    @property
    def servers(self) -> int:
        return int(self.target.get("backends", 1))

    @property
    def connections(self) -> int:
        return int(self.bench.get("connections", 10))

    @property
    def new_conn(self) -> bool:
        """One request per connection (wrk: `Connection: close`; s_time always)."""
        return bool(self.bench.get("new_conn")) or self.bench.get("keepalive") == 1

    @property
    def resumes(self) -> bool:
        """New connections resume a TLS session (s_time: `-reuse` rather than `-new`)."""
        return self.is_tls and self.bench.get("tls_resume", "ticket") != "none"

    @property
    def throughput(self) -> bool:
        """MB/s is the headline figure: large responses."""
        return self.path != "/"

    def argv(self, url: str, overrides: Mapping[str, Any] | None = None) -> list[str]:
        """The `l7lb bench` command line that runs this scenario against `url`; `overrides`
        replace `[bench]` values (compare.py sets its own duration and process count)."""
        options = dict(self.bench)
        options.update(overrides or {})
        args = [url]
        for key, value in options.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                args.append(flag)
            elif value is not False:
                args.extend([flag, str(value)])
        return args


def load_scenario(path: Path) -> Scenario:
    with path.open("rb") as f:
        data = tomllib.load(f)
    unknown = set(data) - {"description", "target", "bench", "compare"}
    if unknown:
        raise ScenarioError(f"{path}: unknown top-level keys {sorted(unknown)}")
    target = data.get("target", {})
    bad = set(target) - TARGET_KEYS
    if bad:
        raise ScenarioError(f"{path}: unknown [target] keys {sorted(bad)}")
    if target.get("scheme") not in ("http", "https"):
        raise ScenarioError(f"{path}: target.scheme must be 'http' or 'https'")
    if target["scheme"] == "https" and target.get("certificate") not in CERTIFICATES:
        raise ScenarioError(f"{path}: target.certificate must be one of {CERTIFICATES}")
    if target.get("response_bytes", SMALL_BODY_BYTES) not in RESPONSE_PATHS:
        raise ScenarioError(
            f"{path}: target.response_bytes must be one of {sorted(RESPONSE_PATHS)} "
            "(the bodies the benchmark backend serves)"
        )
    backends = target.get("backends", 1)
    if not isinstance(backends, int) or backends < 1:
        raise ScenarioError(f"{path}: target.backends must be a positive integer")
    if not data.get("description"):
        raise ScenarioError(f"{path}: a scenario needs a description")
    compare = _compare(path, data["compare"]) if "compare" in data else None
    return Scenario(path.stem, data["description"], target, data.get("bench", {}), compare)


def _compare(path: Path, table: dict[str, Any]) -> Compare:
    bad = set(table) - COMPARE_KEYS
    if bad:
        raise ScenarioError(f"{path}: unknown [compare] keys {sorted(bad)}")
    client = table.get("client")
    if client not in CLIENTS:
        raise ScenarioError(f"{path}: compare.client must be one of {CLIENTS}")
    variants = table.get("variants")
    if (
        not isinstance(variants, list)
        or not variants
        or not all(isinstance(v, str) for v in variants)
    ):
        raise ScenarioError(f"{path}: compare.variants must be a non-empty list of proxy labels")
    checks = []
    for text in table.get("checks", []):
        try:
            check = parse_check(str(text))
        except ValueError as exc:
            raise ScenarioError(f"{path}: compare.checks: {exc}") from None
        for label in (check.subject, check.reference):
            if label not in variants:
                raise ScenarioError(
                    f"{path}: compare.checks {text!r}: {label!r} is not in compare.variants"
                )
        checks.append(check)
    speedup_of = table.get("speedup_of")
    if speedup_of is not None and not isinstance(speedup_of, str):
        raise ScenarioError(f"{path}: compare.speedup_of must be a scenario name")
    distinct = table.get("distinct_cookies", False)
    if distinct is not False and (distinct is not True or client != "wrk"):
        raise ScenarioError(
            f"{path}: compare.distinct_cookies must be true or false, and true only with "
            "client = 'wrk'"
        )
    # Until `l7lb bench` speaks HTTP/2 (issue 14), h2load's streams per connection live here.
    streams = table.get("streams", 0)
    if client == "h2load":
        if isinstance(streams, bool) or not isinstance(streams, int) or streams < 1:
            raise ScenarioError(f"{path}: client = 'h2load' needs compare.streams = N (N >= 1)")
    elif "streams" in table:
        raise ScenarioError(f"{path}: compare.streams is for client = 'h2load' only")
    return Compare(
        client=client,
        variants=tuple(variants),
        checks=tuple(checks),
        send_cookie=bool(table.get("send_cookie", False)),
        distinct_cookies=distinct,
        streams=streams,
        speedup_of=speedup_of,
        notes=str(table.get("notes", "")),
    )
