import os
from pathlib import Path

import pytest
from harness.procstat import CLK_TCK, children, cpu_seconds, descendants, parse_stat, read_stat


def stat_line(pid: int, comm: str, ppid: int, utime: int, stime: int) -> str:
    # Fields 3.. of proc(5): state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime ...
    rest = ["S", str(ppid), "1", "1", "0", "-1", "4194560", "10", "0", "0", "0"]
    rest += [str(utime), str(stime), "7", "9", "20", "0", "1", "0", "12345"]
    return f"{pid} ({comm}) " + " ".join(rest) + "\n"


def test_parse_plain_line() -> None:
    st = parse_stat(stat_line(42, "haproxy", 1, 150, 50))
    assert (st.pid, st.comm, st.state, st.ppid, st.utime, st.stime) == (
        42,
        "haproxy",
        "S",
        1,
        150,
        50,
    )
    assert st.cpu_ticks == 200


@pytest.mark.parametrize("comm", ["python3 -m l7lb", "a) b (c", ")", "x)) 1 2 3"])
def test_comm_with_spaces_and_parentheses(comm: str) -> None:
    # A process may name itself anything: the fields after comm must still line up.
    st = parse_stat(stat_line(7, comm, 3, 11, 22))
    assert st.comm == comm
    assert (st.ppid, st.utime, st.stime) == (3, 11, 22)


def test_real_proc_self() -> None:
    st = read_stat(os.getpid())
    assert st.pid == os.getpid()
    assert st.ppid == os.getppid()
    assert st.utime >= 0 and st.stime >= 0


def fake_proc(tmp_path: Path, table: dict[int, tuple[int, int, int]]) -> Path:
    """pid -> (ppid, utime, stime) as a /proc-like tree, plus noise entries to ignore."""
    for pid, (ppid, ut, stt) in table.items():
        d = tmp_path / str(pid)
        d.mkdir()
        (d / "stat").write_text(stat_line(pid, f"p{pid}", ppid, ut, stt))
    (tmp_path / "self").mkdir()
    (tmp_path / "cpuinfo").write_text("not a process")
    (tmp_path / "999").mkdir()  # exited between listing and reading: no stat file
    return tmp_path


def test_cpu_seconds_sums_ticks(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {10: (1, 100, 50), 11: (10, 30, 20)})
    assert cpu_seconds([10, 11], proc) == pytest.approx(200 / CLK_TCK)
    assert cpu_seconds([11], proc) == pytest.approx(50 / CLK_TCK)


def test_children_and_descendants(tmp_path: Path) -> None:
    # supervisor 10 -> worker 11 -> helper 13; unrelated 12 under init
    proc = fake_proc(tmp_path, {10: (1, 0, 0), 11: (10, 0, 0), 12: (1, 0, 0), 13: (11, 0, 0)})
    assert children(10, proc) == [11]
    assert children(1, proc) == [10, 12]
    assert children(13, proc) == []
    assert sorted(descendants(10, proc)) == [11, 13]
