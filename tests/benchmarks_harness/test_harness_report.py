from harness import report
from harness.machine import Machine
from harness.results import ScenarioResult, VariantRun
from harness.scenarios import SCENARIOS
from harness.stats import Measurement

MACHINE = Machine(
    nproc=2,
    cpu_model="Test CPU",
    kernel="Linux 6.0",
    loadavg="0.10 0.20 0.30",
    versions={"haproxy": "HAProxy version 2.6.12", "python": "3.11.7"},
    commit="abc1234",
)


def result(name: str, figures: dict[str, list[tuple[int, float]]]) -> ScenarioResult:
    """figures: label -> [(requests in 5 s, cpu seconds), ...]."""
    r = ScenarioResult(SCENARIOS[name])
    for label, runs in figures.items():
        r.runs[label] = [Measurement(req, 5.0, req * 200, cpu, 0) for req, cpu in runs]
    return r


def keepalive() -> ScenarioResult:
    return result(
        "keepalive-small",
        {
            "l7lb-httptools": [(100_000, 4.0), (110_000, 4.2), (90_000, 3.9)],
            "haproxy": [(300_000, 3.0), (310_000, 3.1), (290_000, 2.9)],
        },
    )


def test_table_shows_medians_ratios_and_verdicts() -> None:
    text = report.scenario_table(keepalive(), "2026-11-26 10:00 UTC", "abc1234", 3, 5)
    assert text.startswith("### keepalive-small")
    # medians, the saturation flag, ratios, then every run's CPU per request, CPU use, req/s
    assert (
        "| `l7lb-httptools` | 20,000 | 40.0 | 80% | **no** (3/3 runs < 90%) | 0 | - | 0.33 | 4.00 "
        "| 40.0 / 38.2 / 43.3 | 80%* / 84%* / 78%* | 20,000 / 22,000 / 18,000 |" in text
    )
    assert (
        "| `haproxy` | 60,000 | 10.0 | 60% | **no** (3/3 runs < 90%) | 0 | - | 1.00 "
        "| 1.00 |" in text
    )
    # A miss is printed as such, never hidden, and says it was judged on unsaturated runs.
    assert (
        "- **MISS** `l7lb-httptools` CPU/request <= 1.5x haproxy: measured 4.00; **not "
        "saturated: `l7lb-httptools` below 90% CPU in 3 of 3 runs, `haproxy` below 90% CPU "
        "in 3 of 3 runs**" in text
    )
    assert "MB/s" not in text.split("| proxy |")[1].split("\n")[0]  # no MB/s column here


def test_the_load_cpus_wake_ups_per_request_are_the_median_of_the_runs() -> None:
    r = ScenarioResult(SCENARIOS["keepalive-small"])
    r.runs["l7lb-httptools"] = [
        Measurement(100_000, 5.0, 0, 4.9, 0, wakeups=w) for w in (130_000, 5_000, 7_000)
    ]
    r.runs["haproxy"] = [Measurement(300_000, 5.0, 0, 4.9, 0, wakeups=-1)] * 3  # unknown
    text = report.scenario_table(r, "2026-12-03 10:00 UTC", "abc1234", 3, 5)
    assert "| load CPU woken/req |" in text
    assert "| `l7lb-httptools` | 20,000 | 49.0 | 98% | yes | 0 | 0.07 |" in text
    assert "| `haproxy` | 60,000 | 16.3 | 98% | yes | 0 | - |" in text


def test_saturated_runs_are_not_flagged_and_one_low_run_is() -> None:
    r = result(
        "keepalive-small",
        {
            "l7lb-httptools": [(100_000, 4.9), (100_000, 4.6)],  # 98 %, 92 %
            "haproxy": [(300_000, 4.95), (300_000, 4.4)],  # 99 %, 88 %
        },
    )
    text = report.scenario_table(r, "t", "c", 2, 5)
    assert "| `l7lb-httptools` | 20,000 | 47.5 | 95% | yes | 0 |" in text
    assert "| 98% / 92% |" in text
    assert "| `haproxy` | 60,000 | 15.6 | 94% | **no** (1/2 runs < 90%) | 0 |" in text
    assert "| 99% / 88%* |" in text
    verdict = next(ln for ln in text.splitlines() if ln.startswith("- **"))
    assert verdict.endswith("**not saturated: `haproxy` below 90% CPU in 1 of 2 runs**")
    assert "`l7lb-httptools` below" not in verdict


def test_per_round_ratio_line() -> None:
    r = result(
        "keepalive-small",
        {
            "l7lb-httptools": [(100_000, 4.0), (100_000, 6.0), (100_000, 3.0)],  # 40/60/30 us
            "haproxy": [(200_000, 4.0), (200_000, 4.0), (200_000, 4.0)],  # 20/20/20 us
        },
    )
    text = report.scenario_table(r, "t", "c", 3, 5)
    assert "`l7lb-httptools` CPU ÷ `haproxy` per round: 2.00 / 3.00 / 1.50 (median 2.00)." in text
    even = result(
        "keepalive-small",
        {"l7lb-httptools": [(100_000, 4.0), (100_000, 6.0)], "haproxy": [(200_000, 4.0)] * 2},
    )
    assert "per round: 2.00 / 3.00 (median 2.50)." in report.scenario_table(even, "t", "c", 2, 5)
    # nothing to divide by where HAProxy did not run
    alone = result("keepalive-small", {"l7lb-httptools": [(100_000, 4.0)]})
    assert "per round" not in report.scenario_table(alone, "t", "c", 1, 5)


def test_l7lb_minus_floor_parse_line() -> None:
    r = result(
        "keepalive-small",
        {
            "l7lb-httptools": [(100_000, 4.0), (100_000, 4.5), (100_000, 5.0)],  # 40/45/50 us
            "floor-parse": [(200_000, 4.0), (200_000, 4.4), (200_000, 4.2)],  # 20/22/21 us
        },
    )
    text = report.scenario_table(r, "t", "c", 3, 5)
    line = "`l7lb-httptools` minus `floor-parse`: **24.0 µs of CPU per request** (medians "
    line += "45.0 - 21.0; per round 20.0 / 23.0 / 29.0)."
    assert line in text
    # nothing to subtract from where the floor did not run
    assert "minus" not in report.scenario_table(keepalive(), "t", "c", 3, 5)
    s_time = result(
        "tls-full-ecdsa-p256",
        {"l7lb-httptools": [(1_000, 0.5)], "floor-parse": [(1_000, 0.4)]},
    )
    assert "100.0 µs of CPU per connection" in report.scenario_table(s_time, "t", "c", 1, 5)


def test_load_average_and_negotiated_tls_are_shown() -> None:
    r = result("tls-keepalive-small", {"haproxy": [(10_000, 1.0)]})
    r.loadavg_start, r.loadavg_end = "0.50 0.40 0.30", "1.10 0.60 0.35"
    cmd = "printf ... | openssl s_client -connect 127.0.0.1:1 -tls1_3 -ign_eof"
    r.seen["haproxy"] = VariantRun(
        "haproxy -db -f h.cfg",
        "global",
        "wrk ...",
        probes=[
            (cmd, "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519, 2 tickets"),
            ("printf ... -tls1_2", "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 X25519"),
        ],
    )
    text = report.scenario_table(r, "t", "c", 1, 5)
    assert (
        "Load average (1, 5, 15 min) 0.50 0.40 0.30 at the start, 1.10 0.60 0.35 at the end."
        in text
    )
    assert (
        "| `haproxy` | TLSv1.3 TLS_AES_128_GCM_SHA256 X25519, 2 tickets "
        "| TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 X25519 |" in text
    )
    assert f"{cmd}   # TLSv1.3 TLS_AES_128_GCM_SHA256 X25519, 2 tickets" in text


def test_h2load_table_has_no_resumed_column() -> None:
    r = result("h2-small", {"haproxy": [(100_000, 4.8)]})
    r.failures["l7lb-httptools"] = "ALPN http/1.1 selected, h2 needed"
    text = report.scenario_table(r, "t", "c", 1, 5)
    assert "resumed" not in text
    assert "| `haproxy` | 20,000 | 48.0 | 96% | yes | 0 |" in text
    assert "- **N/A** `l7lb-httptools` CPU/request <= 2.5x haproxy: measured -" in text
    assert "- `l7lb-httptools`: ALPN http/1.1 selected, h2 needed" in text


def test_throughput_table_has_mb_per_s() -> None:
    r = result("large-1mib", {"haproxy": [(5_000, 4.0)]})
    text = report.scenario_table(r, "t", "c", 1, 5)
    assert "| proxy | req/s | MB/s |" in text
    assert "| `haproxy` | 1,000 | 0.2 |" in text  # 5000 * 200 bytes / 5 s = 0.2 MB/s
    assert "- **N/A** `l7lb-httptools` MB/s >= 1x haproxy" in text
    assert "**N/A**" in text  # l7lb not measured: no verdict either way


def test_skipped_scenario_says_why() -> None:
    r = ScenarioResult(
        SCENARIOS["tls-keepalive-small"], skipped="TLS settings are not supported yet"
    )
    text = report.scenario_table(r, "t", "c", 3, 5)
    assert "**Skipped:** TLS settings are not supported yet" in text
    assert "| proxy |" not in text


def test_failures_are_listed() -> None:
    r = keepalive()
    r.failures["nginx"] = "nginx exited with status 1"
    assert "- `nginx`: nginx exited with status 1" in report.scenario_table(r, "t", "c", 3, 5)


def test_speedup_table_pairs_by_speedup_of() -> None:
    # tls-resume-ticket.toml says speedup_of = "tls-full-ecdsa-p256"
    full = result("tls-full-ecdsa-p256", {"haproxy": [(5_000, 3.5)]})
    resumed = result("tls-resume-ticket", {"haproxy": [(10_000, 3.0)]})
    assert report.speedup_tables([full]) == {}
    assert report.speedup_tables([resumed]) == {}
    tables = report.speedup_tables([full, resumed])
    assert list(tables) == ["tls-resume-ticket-speedup"]
    # CPU per connection 700 us full, 300 us resumed: 2.33 times cheaper
    row = "| `haproxy` | 1,000 | 2,000 | 700.0 | 300.0 | 2.33 |"
    assert row in tables["tls-resume-ticket-speedup"]


def test_bench_table_has_resumed_and_sticky_columns() -> None:
    r = ScenarioResult(SCENARIOS["cookie-persistence-1000-clients"])
    r.runs["haproxy-cookie"] = [Measurement(5_000, 5.0, 0, 1.0, 0, sticky_violations=2)]
    text = report.scenario_table(r, "t", "c", 1, 5)
    assert "| errors | load CPU woken/req | sticky violations |" in text
    assert (
        "| `haproxy-cookie` | 1,000 | 200.0 | 20% | **no** (1/1 runs < 90%) | 0 | - | 2 |" in text
    )
    t = ScenarioResult(SCENARIOS["tls-resume-id"])
    t.runs["haproxy"] = [Measurement(500, 5.0, 0, 1.0, 0, resumed=450, handshakes=500)]
    text = report.scenario_table(t, "t", "c", 1, 5)
    assert "| `haproxy` | 100 | 2,000.0 | 20% | **no** (1/1 runs < 90%) | 0 | - | 90% |" in text


def section(date: str, blocks: dict[str, str]) -> report.RunSection:
    return report.RunSection(date, report.run_header(date, MACHINE, "cmd", "pins"), blocks)


ORDER = list(SCENARIOS)


def test_merge_into_empty_file_and_round_trip() -> None:
    text = report.merge("", section("2026-11-26", {"keepalive-small": "### k\nA\n"}), ORDER)
    assert text.startswith(report.TITLE)
    assert "- machine: 2 CPUs, Test CPU, Linux 6.0" in text
    parsed = report.parse(text)
    assert [s.date for s in parsed] == ["2026-11-26"]
    assert parsed[0].scenarios["keepalive-small"].strip() == "### k\nA"
    assert report.render(parsed) == text


def test_same_date_replaces_rerun_scenarios_and_keeps_the_others() -> None:
    first = report.merge(
        "",
        section("2026-11-26", {"keepalive-small": "### k\nold\n", "new-conn": "### c\nold\n"}),
        ORDER,
    )
    second = report.merge(first, section("2026-11-26", {"keepalive-small": "### k\nnew\n"}), ORDER)
    (sec,) = report.parse(second)
    assert sec.scenarios["keepalive-small"].strip() == "### k\nnew"
    assert sec.scenarios["new-conn"].strip() == "### c\nold"
    assert list(sec.scenarios) == ["keepalive-small", "new-conn"]  # display order kept


def test_keep_header_adds_a_block_without_rewriting_the_day() -> None:
    first = report.merge("", section("2026-11-26", {"keepalive-small": "### k\nA\n"}), ORDER)
    other = report.RunSection("2026-11-26", "## 2026-11-26\n\n- validate\n", {"v": "### v\n"})
    merged = report.merge(first, other, ORDER, keep_header=True)
    (sec,) = report.parse(merged)
    assert "- command: `cmd`" in sec.header and "- validate" not in sec.header
    assert list(sec.scenarios) == ["keepalive-small", "v"]


def test_new_date_goes_on_top_and_history_stays() -> None:
    old = report.merge("", section("2026-11-20", {"keepalive-small": "### k\nweek ago\n"}), ORDER)
    new = report.merge(old, section("2026-11-26", {"new-conn": "### c\ntoday\n"}), ORDER)
    parsed = report.parse(new)
    assert [s.date for s in parsed] == ["2026-11-26", "2026-11-20"]
    assert parsed[1].scenarios["keepalive-small"].strip() == "### k\nweek ago"
    assert new.index("## 2026-11-26") < new.index("## 2026-11-20")


def test_the_header_names_the_l7lb_build_measured() -> None:
    built = {**MACHINE.versions, "l7lb build": "compiled, profile-guided: gcc -fprofile-use"}
    machine = Machine(**{**MACHINE.__dict__, "versions": built})
    header = report.run_header("2026-12-02", machine, "cmd", "pins")
    assert "- l7lb's hot path: compiled, profile-guided: gcc -fprofile-use\n" in header
    assert "- l7lb's hot path: not recorded\n" in report.run_header("d", MACHINE, "cmd", "pins")
