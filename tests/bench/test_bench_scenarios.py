"""Every published scenario loads and turns into a valid `l7lb bench` command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from l7lb.bench.options import build_parser, options_from_args
from l7lb.bench.scenario import ScenarioError, load_scenario, parse_check

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


def test_overrides_replace_bench_values() -> None:
    scenario = load_scenario(SCENARIOS[0].parent / "tls-resume-id.toml")
    argv = scenario.argv("https://h/", {"duration": 3, "procs": 1})
    options = options_from_args(build_parser().parse_args(argv))
    assert (options.duration, options.procs, options.tls_resume) == (3.0, 1, "id")
    assert argv.count("--duration") == 1


def test_check_strings() -> None:
    check = parse_check("l7lb-httptools/haproxy rps >= 0.40")
    assert (check.subject, check.reference, check.metric, check.op, check.threshold) == (
        "l7lb-httptools", "haproxy", "rps", ">=", 0.40,
    )  # fmt: skip
    assert check.text == "req/s >= 40% of haproxy"
    assert parse_check("a/b cpu_us <= 1.5").text == "CPU/request <= 1.5x b"
    for bad in ("a rps >= 1", "a/b latency >= 1", "a/b rps > 1", "a/b rps >= 0"):
        with pytest.raises(ValueError):
            parse_check(bad)


def test_derived_behaviour(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        'description = "x"\n[target]\nscheme = "https"\ncertificate = "rsa-2048"\n'
        "response_bytes = 1048576\n[bench]\nnew_conn = true\n"
    )
    s = load_scenario(path)
    assert (s.path, s.tls, s.new_conn, s.resumes, s.throughput) == (
        "/1mib", "rsa-2048", True, True, True,
    )  # fmt: skip
    assert s.compare is None  # [compare] is for benchmarks/compare.py only
