"""What a run records about the machine: the load average and how idle the CPUs were."""

import math
from pathlib import Path

import pytest
from harness import report
from harness.machine import cpu_times, idle_share, loadavg, read_cpu_times
from harness.results import ScenarioResult
from harness.scenarios import SCENARIOS

# user nice system idle iowait irq softirq steal guest guest_nice
STAT = """\
cpu  955412 14628 135405 124169 642 0 14341 2906 500 0
cpu0 469463 8482 66224 71558 120 0 6382 1386 0 0
intr 1 2 3
"""


def test_cpu_times_from_proc_stat() -> None:
    idle, total = cpu_times(STAT)
    assert idle == 124169 + 642
    # guest time is inside user already: not added twice
    assert total == 955412 + 14628 + 135405 + 124169 + 642 + 0 + 14341 + 2906
    with pytest.raises(ValueError):
        cpu_times("intr 1 2 3\n")


def test_idle_share_between_two_readings() -> None:
    assert idle_share((100, 1000), (250, 1200)) == pytest.approx(0.75)
    assert math.isnan(idle_share((100, 1000), (100, 1000)))


def test_real_readings() -> None:
    idle, total = read_cpu_times()
    assert 0 <= idle <= total
    assert len(loadavg().split()) == 3
    assert loadavg(Path("/nonexistent")) == "?"


def test_idle_shares_are_shown_under_the_heading() -> None:
    r = ScenarioResult(SCENARIOS["keepalive-small"], loadavg_start="0.1 0.2 0.3")
    r.idle = [0.92, 0.455, 0.999]
    text = report.scenario_table(r, "t", "c", 3, 5)
    assert (
        "CPU idle before each round (both CPUs, 1 s, no proxy or client running): "
        "92% / 46% / 100%." in text
    )


def test_quiet_measures_and_gives_up_waiting_after_wait_max(tmp_path: Path) -> None:
    import time

    from harness.runner import Bench, Settings

    logged: list[str] = []
    b = Bench(tmp_path, Settings(wait_idle=1.01, wait_max=0.0, log=logged.append))
    t0 = time.monotonic()
    idle = b._quiet()  # an idle share above 100 % is never reached: one sample, no wait
    assert time.monotonic() - t0 < 3.0
    assert 0.0 <= idle <= 1.0
    assert logged[-1] == f"  machine {idle:.0%} idle before the round"
