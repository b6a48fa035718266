import math

import pytest
from harness.stats import (
    SATURATED,
    Check,
    Measurement,
    Summary,
    evaluate,
    median,
    ratio,
    summarise,
)
from hypothesis import given, settings
from hypothesis import strategies as st


def m(requests: int, seconds: float = 5.0, cpu: float = 1.0, bytes_read: int = 0) -> Measurement:
    return Measurement(requests, seconds, bytes_read, cpu, errors=0)


def test_measurement_derived_figures() -> None:
    x = Measurement(100_000, 5.0, 50_000_000, 2.5, errors=3)
    assert x.rps == 20_000
    assert x.mbps == 10.0
    assert x.cpu_us_per_request == pytest.approx(25.0)
    assert x.cpu_utilisation == 0.5
    assert math.isnan(x.resumed_share)
    assert Measurement(10, 1, 0, 0, 0, resumed=9).resumed_share == 0.9


def test_zero_requests_gives_nan_cpu_not_a_crash() -> None:
    assert math.isnan(m(0).cpu_us_per_request)


def test_median_odd_even_and_empty() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    with pytest.raises(ValueError):
        median([])


def test_summarise_takes_medians_and_sums_errors() -> None:
    runs = [
        Measurement(50_000, 5, 0, 1.0, errors=1),
        Measurement(60_000, 5, 0, 1.5, errors=0),
        Measurement(55_000, 5, 0, 0.5, errors=2),
    ]
    s = summarise("haproxy", runs)
    assert s.runs == 3
    assert s.rps == 11_000
    assert s.cpu_us == pytest.approx(20.0)  # medians of 20, 25, 9.09
    assert s.errors == 3


def test_ratio_without_reference() -> None:
    assert ratio(10, 4) == 2.5
    assert math.isnan(ratio(10, 0))
    assert math.isnan(ratio(10, float("nan")))


RPS = Check("req/s >= 40% of HAProxy", "rps", "l7lb", "haproxy", ">=", 0.40)
CPU = Check("CPU <= 2.5x HAProxy", "cpu_us", "l7lb", "haproxy", "<=", 2.5)


def summaries(l7lb_rps: int, l7lb_cpu: float) -> dict[str, Summary]:
    return {
        "l7lb": summarise("l7lb", [m(l7lb_rps * 5, cpu=l7lb_cpu * l7lb_rps * 5 / 1e6)]),
        "haproxy": summarise("haproxy", [m(100_000 * 5, cpu=10 * 100_000 * 5 / 1e6)]),
    }


def test_pass_and_miss() -> None:
    ok = summaries(45_000, 20.0)
    assert evaluate(RPS, ok).status == "PASS"
    assert evaluate(RPS, ok).value == pytest.approx(0.45)
    assert evaluate(CPU, ok).status == "PASS"
    bad = summaries(30_000, 30.0)
    assert evaluate(RPS, bad).status == "MISS"
    assert evaluate(CPU, bad).status == "MISS"
    assert evaluate(CPU, bad).value == pytest.approx(3.0)


def test_exact_threshold_passes() -> None:
    assert evaluate(RPS, summaries(40_000, 25.0)).status == "PASS"
    assert evaluate(CPU, summaries(40_000, 25.0)).status == "PASS"


def test_missing_side_is_not_applicable() -> None:
    only = {"haproxy": summaries(1, 1)["haproxy"]}
    v = evaluate(RPS, only)
    assert v.status == "N/A" and math.isnan(v.value)


def test_bad_check_definitions_are_refused() -> None:
    with pytest.raises(ValueError):
        Check("x", "latency", "a", "b", ">=", 1)
    with pytest.raises(ValueError):
        Check("x", "rps", "a", "b", ">", 1)


@settings(max_examples=60)
@given(st.lists(st.floats(min_value=0, max_value=1e7), min_size=1, max_size=9))
def test_median_lies_within_the_values(values: list[float]) -> None:
    assert min(values) <= median(values) <= max(values)
    assert median(values) == median(list(reversed(values)))


@settings(max_examples=60)
@given(
    st.floats(min_value=1, max_value=1e6),
    st.floats(min_value=1, max_value=1e6),
    st.floats(min_value=0.01, max_value=10),
)
def test_verdict_agrees_with_the_ratio(a: float, b: float, threshold: float) -> None:
    check = Check("t", "rps", "a", "b", ">=", threshold)
    s = {
        "a": summarise("a", [Measurement(round(a * 10), 10, 0, 1, 0)]),
        "b": summarise("b", [Measurement(round(b * 10), 10, 0, 1, 0)]),
    }
    v = evaluate(check, s)
    assert v.status == ("PASS" if v.value >= threshold else "MISS")


def test_summary_keeps_every_runs_cpu_and_counts_unsaturated_runs() -> None:
    runs = [
        Measurement(100_000, 5, 0, 4.9, 0),  # 49 us, 98 % of a core
        Measurement(100_000, 5, 0, 4.45, 0),  # 44.5 us, 89 %: below the line
        Measurement(100_000, 5, 0, 4.5, 0),  # 45 us, exactly 90 %: saturated
    ]
    s = summarise("l7lb", runs)
    assert s.cpu_us_runs == pytest.approx((49.0, 44.5, 45.0))
    assert s.cpu_util_runs == pytest.approx((0.98, 0.89, 0.90))
    assert s.unsaturated_runs == 1
    assert SATURATED == 0.90


def test_verdict_names_each_unsaturated_side_and_keeps_its_status() -> None:
    busy = summarise("l7lb", [Measurement(100_000, 5, 0, 4.9, 0)] * 2)
    idle = summarise("haproxy", [Measurement(400_000, 5, 0, 3.6, 0), m(400_000, cpu=4.75)])
    check = Check("CPU <= 1.5x", "cpu_us", "l7lb", "haproxy", "<=", 1.5)
    v = evaluate(check, {"l7lb": busy, "haproxy": idle})
    assert v.status == "MISS"  # 49 us against 10.4 us: the flag never turns a miss into a pass
    assert v.unsaturated == (("haproxy", 1, 2),)
    assert v.flag == "not saturated: `haproxy` below 90% CPU in 1 of 2 runs"
    idle_l7lb = summarise("l7lb", [Measurement(400_000, 5, 0, 3.6, 0)] * 3)
    both = evaluate(check, {"l7lb": idle_l7lb, "haproxy": idle})
    assert both.status == "PASS"
    assert both.unsaturated == (("l7lb", 3, 3), ("haproxy", 1, 2))
    fine = evaluate(check, {"l7lb": busy, "haproxy": busy})
    assert fine.unsaturated == () and fine.flag == ""
