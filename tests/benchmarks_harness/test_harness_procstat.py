import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness.procstat import (
    CLK_TCK,
    children,
    cpu_seconds,
    descendants,
    parse_stat,
    read_stat,
    tree_cpu_seconds,
)


def stat_line(
    pid: int, comm: str, ppid: int, utime: int, stime: int, cutime: int = 7, cstime: int = 9
) -> str:
    # Fields 3.. of proc(5): state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime ...
    rest = ["S", str(ppid), "1", "1", "0", "-1", "4194560", "10", "0", "0", "0"]
    rest += [str(utime), str(stime), str(cutime), str(cstime), "20", "0", "1", "0", "12345"]
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
    assert (st.cutime, st.cstime) == (7, 9)


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


def fake_proc(tmp_path: Path, table: dict[int, tuple[int, ...]]) -> Path:
    """pid -> (ppid, utime, stime[, cutime, cstime]) as a /proc-like tree, plus noise entries
    to ignore. Called again on the same directory, it rewrites the table (a later reading)."""
    for old in tmp_path.iterdir():
        if old.name.isdigit() and old.name != "999":
            (old / "stat").unlink()
            old.rmdir()
    for pid, (ppid, ut, stt, *reaped) in table.items():
        d = tmp_path / str(pid)
        d.mkdir()
        (d / "stat").write_text(stat_line(pid, f"p{pid}", ppid, ut, stt, *reaped))
    (tmp_path / "self").mkdir(exist_ok=True)
    (tmp_path / "cpuinfo").write_text("not a process")
    (tmp_path / "999").mkdir(exist_ok=True)  # exited between listing and reading: no stat file
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


def test_tree_cpu_counts_the_whole_tree_and_reaped_children(tmp_path: Path) -> None:
    # supervisor 10 (which has reaped earlier children: 5 + 5 ticks) -> worker 11 -> helper 13;
    # 12 is not ours
    table = {
        10: (1, 20, 10, 5, 5),
        11: (10, 300, 100, 0, 0),
        12: (1, 1000, 1000, 0, 0),
        13: (11, 40, 20, 0, 0),
    }
    proc = fake_proc(tmp_path, table)
    before = tree_cpu_seconds(10, proc)
    assert before == pytest.approx((40 + 400 + 60) / CLK_TCK)
    assert tree_cpu_seconds(11, proc) == pytest.approx(460 / CLK_TCK)
    # Then helper 13 exits and worker 11 reaps it: its 60 ticks, plus 6 more it used before
    # exiting, move into 11's cutime and cstime; the supervisor used 2 ticks, the worker 50.
    fake_proc(tmp_path, {10: (1, 21, 11, 5, 5), 11: (10, 330, 120, 46, 20), 12: (1, 0, 0, 0, 0)})
    used = tree_cpu_seconds(10, proc) - before
    assert used == pytest.approx((2 + 50 + 6) / CLK_TCK)


def test_tree_cpu_of_a_gone_root_is_zero(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {10: (1, 5, 5)})
    assert tree_cpu_seconds(77, proc) == 0.0


BURN = """
import subprocess, sys, time
child = subprocess.Popen(
    [sys.executable, "-c", "import sys, time\\nsys.stdin.readline()\\nt = time.process_time()\\n"
     "while time.process_time() - t < 0.3: pass"],
    stdin=subprocess.PIPE,
)
print("child up", flush=True)
sys.stdin.readline()  # the test has taken its first reading
child.stdin.write(b"go\\n")
child.stdin.flush()
child.wait()  # reaped: its CPU time moves into our cutime
print("reaped", flush=True)
time.sleep(30)
"""


def test_tree_cpu_of_real_processes_keeps_a_reaped_child() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", BURN], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert parent.stdin is not None and parent.stdout is not None
    try:
        assert parent.stdout.readline() == b"child up\n"
        assert len(descendants(parent.pid)) == 1
        tree0, own0 = tree_cpu_seconds(parent.pid), cpu_seconds([parent.pid])
        parent.stdin.write(b"go\n")
        parent.stdin.flush()
        assert parent.stdout.readline() == b"reaped\n"
        assert descendants(parent.pid) == []
        # the child burned 0.3 s and is gone, yet the tree's reading has it
        assert 0.29 <= tree_cpu_seconds(parent.pid) - tree0 <= 2.0
        assert cpu_seconds([parent.pid]) - own0 < 0.2  # the parent alone did not use it
    finally:
        parent.kill()
        parent.wait(5)
