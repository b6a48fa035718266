"""The proxy set-ups compare.py knows, and the scenarios it runs: benchmarks/scenarios/*.toml.

A scenario is defined once, in its TOML file (format: ``l7lb.bench.scenario``, described in
benchmarks/README.md); this module only loads them and checks that every proxy label they name
is a ``Variant`` here. Adding a proxy set-up is adding a ``Variant`` (its config is rendered by
``configs.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from l7lb.bench.scenario import Compare, Scenario, ScenarioError, load_scenario

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"


@dataclass(frozen=True)
class Variant:
    """One proxy set-up under test."""

    label: str
    proxy: str  # "l7lb", "haproxy", "nginx" or "floor" (benchmarks/floor.py)
    parser: str = "httptools"  # l7lb only; floor: its --mode (relay or parse)
    cookie: bool = False  # cookie-insertion persistence on the pool
    pure: bool = False  # l7lb only: L7LB_PURE=1, the hot path from source, not the mypyc build


VARIANTS = {
    v.label: v
    for v in (
        Variant("l7lb-httptools", "l7lb", parser="httptools"),
        Variant("l7lb-h11", "l7lb", parser="h11"),
        Variant("l7lb-httptools-pure", "l7lb", parser="httptools", pure=True),
        Variant("haproxy", "haproxy"),
        Variant("nginx", "nginx"),
        Variant("l7lb-httptools-cookie", "l7lb", parser="httptools", cookie=True),
        Variant("haproxy-cookie", "haproxy", cookie=True),
        # the lower bound of any uvloop proxy in Python, plain HTTP only (benchmarks/floor.py)
        Variant("floor-relay", "floor", parser="relay"),
        Variant("floor-parse", "floor", parser="parse"),
    )
}

# The reference the tables divide by ("÷ HAProxy" columns).
HAPROXY = "haproxy"
# "l7lb minus floor-parse" under the tables that have both (issue 13)
L7LB = "l7lb-httptools"
FLOOR_PARSE = "floor-parse"

# Display order in RESULTS.md: plain HTTP, TLS, persistence; files not listed follow by name.
ORDER = (
    "keepalive-small",
    "new-conn",
    "large-1mib",
    "tls-keepalive-small",
    "tls-full-rsa2048",
    "tls-full-ecdsa-p256",
    "tls-resume-id",
    "tls-resume-ticket",
    "tls-1mib",
    "h2-small",
    "cookie-persistence",
    "cookie-persistence-distinct",
    "cookie-persistence-new",
    "cookie-persistence-1000-clients",
)


def load_all(directory: Path = SCENARIO_DIR) -> dict[str, Scenario]:
    """Every ``*.toml`` in ``directory``, in display order. ScenarioError names the file when
    one has no ``[compare]`` table, names an unknown proxy label, or pairs with a missing
    scenario."""
    found = {p.stem: load_scenario(p) for p in directory.glob("*.toml")}
    rank = {name: i for i, name in enumerate(ORDER)}
    names = sorted(found, key=lambda n: (rank.get(n, len(rank)), n))
    for name in names:
        sc = found[name]
        if sc.compare is None:
            raise ScenarioError(f"{name}.toml: compare.py needs a [compare] table")
        unknown = [v for v in sc.compare.variants if v not in VARIANTS]
        if unknown:
            raise ScenarioError(
                f"{name}.toml: compare.variants {unknown} are not proxy set-ups "
                f"(known: {sorted(VARIANTS)})"
            )
        cookie = [v for v in sc.compare.variants if VARIANTS[v].cookie]
        if cookie and sc.target.get("persistence") != "cookie":
            raise ScenarioError(
                f"{name}.toml: cookie variants {cookie} need target.persistence = 'cookie'"
            )
        if sc.compare.client == "h2load" and not sc.is_tls:
            # h2c needs prior-knowledge set-ups of every proxy, which configs.py does not render
            raise ScenarioError(f"{name}.toml: client = 'h2load' needs target.scheme = 'https'")
        if sc.compare.speedup_of is not None and sc.compare.speedup_of not in found:
            raise ScenarioError(
                f"{name}.toml: compare.speedup_of names no scenario ({sc.compare.speedup_of!r})"
            )
    return {name: found[name] for name in names}


def spec(sc: Scenario) -> Compare:
    """The ``[compare]`` table of a scenario ``load_all`` accepted (it requires one)."""
    assert sc.compare is not None, "not loaded by load_all"
    return sc.compare


def unit(sc: Scenario) -> str:
    """What one counted unit is: s_time makes one request per connection and counts those."""
    return "connections" if spec(sc).client == "s_time" else "requests"


SCENARIOS = load_all()
DEFAULT_SCENARIOS = tuple(SCENARIOS)
