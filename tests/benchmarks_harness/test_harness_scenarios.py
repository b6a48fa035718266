"""benchmarks/scenarios/*.toml are compare.py's only scenario definitions: each loads, names
known proxies, and renders valid wrk, s_time, h2load and `l7lb bench` command lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from harness.loadtools import DISTINCT_COOKIES_LUA, H2LOAD, WRK, ParseError, parse_bench_json
from harness.runner import LOAD_CPU, S_TIME_CLIENTS, load_commands
from harness.scenarios import SCENARIO_DIR, SCENARIOS, VARIANTS, load_all, spec
from harness.stats import Measurement, evaluate, summarise

from l7lb.bench.options import build_parser, options_from_args
from l7lb.bench.report import json_document
from l7lb.bench.scenario import Scenario, ScenarioError
from l7lb.bench.stats import RunStats

PUBLISHED = {
    "keepalive-small", "new-conn", "large-1mib", "tls-keepalive-small", "tls-full-rsa2048",
    "tls-full-ecdsa-p256", "tls-resume-id", "tls-resume-ticket", "tls-1mib",
    "cookie-persistence", "cookie-persistence-new", "cookie-persistence-1000-clients",
    "cookie-persistence-distinct", "h2-small",
}  # fmt: skip


def test_every_file_is_a_scenario_and_the_published_set_is_there() -> None:
    assert set(SCENARIOS) == {p.stem for p in SCENARIO_DIR.glob("*.toml")}
    assert set(SCENARIOS) >= PUBLISHED


def commands(sc: Scenario) -> list[list[str]]:
    return load_commands(sc, 40001, 3.0, "SRV=s1", Path("/tmp/b.json"))


def unpinned(argv: list[str]) -> list[str]:
    assert argv[:3] == ["/usr/bin/taskset", "-c", LOAD_CPU]
    return argv[3:]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_renders_its_clients_command_line(name: str) -> None:
    sc = SCENARIOS[name]
    client = spec(sc).client
    argvs = [unpinned(a) for a in commands(sc)]
    url = f"{sc.target['scheme']}://127.0.0.1:40001{sc.path}"
    if client == "wrk":
        (argv,) = argvs
        assert argv[0] == WRK and url in argv
        assert f"-c{sc.connections}" in argv and "-d3s" in argv
        headers = [argv[i + 1] for i, a in enumerate(argv) if a == "-H"]
        assert ("Connection: close" in headers) == sc.new_conn
        if spec(sc).distinct_cookies:
            # the script sends the cookie, with one of its own per request
            assert argv[argv.index("-s") + 1] == str(DISTINCT_COOKIES_LUA)
            replayed = "SRV=s1" if spec(sc).send_cookie else ""
            assert argv[-3:] == [url, "--", replayed]
            assert not any(h.startswith("Cookie") for h in headers)
        else:
            assert argv[-1] == url and "-s" not in argv
            assert ("Cookie: SRV=s1" in headers) == spec(sc).send_cookie
    elif client == "h2load":
        (argv,) = argvs
        assert argv[0] == H2LOAD and argv[-1] == url
        assert f"--clients={sc.connections}" in argv
        assert f"--max-concurrent-streams={spec(sc).streams}" in argv
        assert "--duration=3000ms" in argv and "--npn-list=h2" in argv
    elif client == "s_time":
        assert len(argvs) == S_TIME_CLIENTS
        argv = argvs[0]
        assert argv[:4] == ["openssl", "s_time", "-connect", "127.0.0.1:40001"]
        assert ("-reuse" if sc.resumes else "-new") in argv
        assert argv[-2:] == ["-www", sc.path]
    else:
        (argv,) = argvs
        assert argv[1:3] == ["-m", "l7lb.bench"]
        assert argv[-2:] == ["--json", "/tmp/b.json"]
        # What bench will do is exactly what the scenario says, with compare.py's duration.
        options = options_from_args(build_parser().parse_args(argv[3:]))
        assert options.urls == (url,)
        assert options.duration == 3.0 and options.procs == 1
        assert options.connections == sc.connections
        assert (options.keepalive == 1) == sc.new_conn
        if sc.is_tls:
            assert options.tls_resume == sc.bench.get("tls_resume", "ticket")
            assert options.insecure  # our throwaway self-signed certificates


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_matches_its_proxies(name: str) -> None:
    sc = SCENARIOS[name]
    for label in spec(sc).variants:
        assert label in VARIANTS
    if sc.is_tls:
        assert "l7lb-h11" not in spec(sc).variants  # TLS tables: one l7lb codec is enough
    for check in spec(sc).checks:
        assert {check.subject, check.reference} <= set(spec(sc).variants)


def test_the_issue_13_and_14_scenarios() -> None:
    distinct = spec(SCENARIOS["cookie-persistence-distinct"])
    assert distinct.client == "wrk" and distinct.send_cookie and distinct.distinct_cookies
    same = spec(SCENARIOS["cookie-persistence"])
    assert same.send_cookie and not same.distinct_cookies
    assert [c.threshold for c in same.checks] == [c.threshold for c in distinct.checks] == [0.95]
    h2 = SCENARIOS["h2-small"]
    assert spec(h2).client == "h2load" and spec(h2).streams == 10 and h2.connections == 50
    assert h2.is_tls and h2.path == "/"
    # speed targets are judged on CPU per request, bulk ones on MB/s
    for name, metric, threshold in (
        ("keepalive-small", "cpu_us", 1.5),
        ("tls-keepalive-small", "cpu_us", 1.6),
        ("new-conn", "cpu_us", 2.2),
        ("h2-small", "cpu_us", 2.5),
        ("large-1mib", "mbps", 1.0),
        ("tls-1mib", "mbps", 1.0),
    ):
        (check,) = spec(SCENARIOS[name]).checks
        assert (check.subject, check.reference) == ("l7lb-httptools", "haproxy")
        assert (check.metric, check.threshold) == (metric, threshold)


def test_the_scenarios_that_need_bench_use_it() -> None:
    sticky = SCENARIOS["cookie-persistence-1000-clients"]
    assert spec(sticky).client == "bench"
    assert sticky.bench["clients"] == 1000
    assert sticky.bench["check_sticky"].lower() == "header:x-backend"
    assert sticky.servers >= 2  # stickiness means nothing with one backend
    for mode in ("id", "ticket"):
        sc = SCENARIOS[f"tls-resume-{mode}"]
        assert spec(sc).client == "bench" and sc.new_conn and sc.bench["tls_resume"] == mode
        assert spec(sc).speedup_of == "tls-full-ecdsa-p256"


def write(directory: Path, name: str, compare: str, target: str = "") -> None:
    (directory / f"{name}.toml").write_text(
        f'description = "x"\n[target]\nscheme = "http"\n{target}\n[compare]\n{compare}\n'
    )


ONE = 'client = "wrk"\nvariants = ["haproxy"]'


@pytest.mark.parametrize(
    ("compare", "target", "error"),
    [
        ('client = "wrk"\nvariants = ["squid"]', "", "squid"),
        ('client = "ab"\nvariants = ["haproxy"]', "", "compare.client"),
        ('client = "wrk"\nvariants = ["haproxy-cookie"]', "", "persistence"),
        (ONE + '\nchecks = ["haproxy/nginx rps >= 1"]', "", "nginx"),
        (ONE + '\nchecks = ["haproxy rps"]', "", "expected"),
        (ONE + '\nspeedup_of = "nope"', "", "speedup_of"),
        (ONE + "\nclose = true", "", "close"),
        (ONE, "response_bytes = 2", "response_bytes"),
        ('client = "h2load"\nvariants = ["haproxy"]', "", "streams"),
        ('client = "h2load"\nvariants = ["haproxy"]\nstreams = 0', "", "streams"),
        ('client = "h2load"\nvariants = ["haproxy"]\nstreams = 10', "", "https"),
        (ONE + "\nstreams = 10", "", "h2load"),
        ('client = "s_time"\nvariants = ["haproxy"]\ndistinct_cookies = true', "", "wrk"),
        (ONE + '\ndistinct_cookies = "yes"', "", "distinct_cookies"),
    ],
)
def test_bad_scenarios_name_the_problem(
    tmp_path: Path, compare: str, target: str, error: str
) -> None:
    write(tmp_path, "bad", compare, target)
    with pytest.raises(ScenarioError, match=error):
        load_all(tmp_path)


def test_a_file_without_compare_is_refused(tmp_path: Path) -> None:
    (tmp_path / "lone.toml").write_text('description = "x"\n[target]\nscheme = "http"\n')
    with pytest.raises(ScenarioError, match=r"lone.toml.*\[compare\]"):
        load_all(tmp_path)


def test_checks_from_toml_evaluate() -> None:
    (cpu,) = spec(SCENARIOS["keepalive-small"]).checks
    assert (cpu.subject, cpu.reference, cpu.metric, cpu.op, cpu.threshold) == (
        "l7lb-httptools", "haproxy", "cpu_us", "<=", 1.5,
    )  # fmt: skip
    assert cpu.text == "CPU/request <= 1.5x haproxy"
    (rps,) = spec(SCENARIOS["cookie-persistence"]).checks
    assert rps.text == "req/s >= 95% of l7lb-httptools"

    s = {
        "l7lb-httptools": summarise("l7lb-httptools", [Measurement(70, 1, 0, 0.001, 0)]),
        "haproxy": summarise("haproxy", [Measurement(100, 1, 0, 0.001, 0)]),
    }
    assert evaluate(cpu, s).status == "PASS"  # 14.3 us vs 10 us: 1.43x
    s["l7lb-httptools"] = summarise("l7lb-httptools", [Measurement(60, 1, 0, 0.001, 0)])
    assert evaluate(cpu, s).status == "MISS"  # 16.7 us: 1.67x


def bench_summary(
    requests: int, resumed: int, full: int, backends: dict[int, list[str]]
) -> dict[str, Any]:
    stats = RunStats()
    for i in range(requests):
        stats.record_response(200, 100 + i, 0)
    for i in range(full + resumed):
        stats.record_connection(50, tls=True, resumed=i >= full)
    for client, seen in backends.items():
        for b in seen:
            stats.record_backend(client, b)
    stats.record_error("reset", 0)
    stats.elapsed = 2.0
    return stats.summary()


def test_parse_bench_json_from_benchs_own_document() -> None:
    summary = bench_summary(400, 90, 10, {0: ["a", "a"], 1: ["a", "b"], 2: ["b"]})
    options = options_from_args(build_parser().parse_args(["http://h/"]))
    doc = json_document(options, ["http://h/"], [{"url": "http://h/", "summary": summary}], None)
    r = parse_bench_json(doc)
    assert r.requests == summary["requests"] and r.seconds == 2.0
    assert (r.handshakes_full, r.handshakes_resumed, r.resumed_ratio) == (10, 90, 0.9)
    assert (r.sticky_clients, r.sticky_violations) == (3, 1)
    assert r.errors == summary["error_count"] >= 1
    with pytest.raises(ParseError):
        parse_bench_json({"runs": []})
    with pytest.raises(ParseError):
        parse_bench_json({"runs": [{"summary": {"requests": 1}}]})
