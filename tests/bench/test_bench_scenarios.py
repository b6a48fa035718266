"""Every published scenario loads and turns into a valid `l7lb bench` command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from l7lb.bench.options import build_parser, options_from_args
from l7lb.bench.scenario import ScenarioError, load_scenario

SCENARIOS = sorted((Path(__file__).parents[2] / "benchmarks" / "scenarios").glob("*.toml"))


def test_the_published_set_is_there() -> None:
    assert {p.stem for p in SCENARIOS} >= {
        "keepalive-small", "new-conn", "tls-full-rsa2048", "tls-full-ecdsa-p256",
        "tls-resume-id", "tls-resume-ticket", "large-1mib", "cookie-persistence-1000-clients",
    }  # fmt: skip


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_is_a_valid_command_line(path: Path) -> None:
    scenario = load_scenario(path)
    scheme = scenario.target["scheme"]
    options = options_from_args(build_parser().parse_args(scenario.argv(f"{scheme}://h/")))
    assert options.urls == (f"{scheme}://h/",)
    assert options.connections == scenario.bench.get("connections", 10)


def test_bad_scenario_names_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('description = "x"\n[target]\nscheme = "https"\ncertificate = "dsa"\n')
    with pytest.raises(ScenarioError, match="certificate"):
        load_scenario(bad)
