"""Finding the running supervisor: the pid file rules and reading a (broken) config."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from l7lb.admin import pidfile
from l7lb.admin.locate import locate
from l7lb.admin.runctl import reload_main, stop_main
from l7lb.config.model import Address

BASE = textwrap.dedent(
    """
    [[vip]]
    name = "www"
    listen = ["127.0.0.1:8080"]
      [[vip.route]]
      pool = "web"
    [pool.web]
      [[pool.web.server]]
      address = "10.0.0.1:80"
    """
)


@pytest.fixture
def l7lb_lookalike() -> Iterator[subprocess.Popen[bytes]]:
    """A live process whose command line names l7lb (as a supervisor's does)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "l7lb", "run"])
    yield proc
    proc.kill()
    proc.wait()


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_pid_file_states(tmp_path: Path, l7lb_lookalike: subprocess.Popen[bytes]) -> None:
    path = str(tmp_path / "l7lb.pid")
    assert pidfile.read_pid_file(path) == pidfile.PidFileState(
        path, 0, False, f"no pid file {path}"
    )
    Path(path).write_text("garbage\n")
    assert "holds no pid ('garbage')" in pidfile.read_pid_file(path).reason
    gone = dead_pid()
    Path(path).write_text(f"{gone}\n")
    assert pidfile.read_pid_file(path) == pidfile.PidFileState(
        path, gone, False, f"stale pid file {path}: pid {gone} is not l7lb"
    )
    with subprocess.Popen(["sleep", "30"]) as other:  # alive, but another program
        Path(path).write_text(f"{other.pid}\n")
        assert not pidfile.read_pid_file(path).running
        other.kill()
    Path(path).write_text(f"{l7lb_lookalike.pid}\n")
    assert pidfile.read_pid_file(path).running


def test_acquire_and_release(tmp_path: Path, l7lb_lookalike: subprocess.Popen[bytes]) -> None:
    path = str(tmp_path / "l7lb.pid")
    assert pidfile.acquire(path, 1234) == ""
    assert Path(path).read_text() == "1234\n"
    pidfile.write_reload_status(path, 1234, 1, {"accepted": True})
    assert pidfile.read_reload_status(path) == {"pid": 1234, "seq": 1, "accepted": True}
    pidfile.release(path, 999)  # not ours: left alone
    assert Path(path).exists()
    pidfile.release(path, 1234)
    assert not Path(path).exists() and pidfile.read_reload_status(path) == {}
    gone = dead_pid()
    Path(path).write_text(f"{gone}\n")
    Path(path + ".reload").write_text('{"pid": 1, "seq": 9}')
    note = pidfile.acquire(path, 1234)
    assert note == f"stale pid file {path}: pid {gone} is not l7lb"
    assert not Path(path + ".reload").exists()  # an earlier run's verdict is not ours
    Path(path).write_text(f"{l7lb_lookalike.pid}\n")
    with pytest.raises(
        pidfile.PidFileError, match=f"already running with pid {l7lb_lookalike.pid}"
    ):
        pidfile.acquire(path, 1234)
    with pytest.raises(pidfile.PidFileError, match="cannot write pid file"):
        pidfile.acquire(str(tmp_path / "no" / "such" / "dir.pid"), 1234)


def test_locate_a_valid_file(tmp_path: Path) -> None:
    token = tmp_path / "t"
    token.write_text("0123456789abcdef0123\n")
    token.chmod(0o600)
    cfg = tmp_path / "l7lb.toml"
    cfg.write_text(
        'admin_socket = "/run/a.sock"\npid_file = "l7lb.pid"\n'
        '[admin]\nlisten = "0.0.0.0:9100"\ntoken_file = "t"\n'
        '[timeouts]\ndrain = "5s"\ndrain_grace = "3s"\n' + BASE
    )
    ways = locate(str(cfg))
    assert ways.admin_socket == "/run/a.sock"
    assert ways.admin_listen == Address("0.0.0.0", 9100)
    assert ways.token == b"0123456789abcdef0123"
    assert ways.pid_file == str(tmp_path / "l7lb.pid")
    assert ways.stop_wait == 3 + 5 + 10
    assert ways.note == ""


def test_locate_a_file_the_loader_refuses(tmp_path: Path) -> None:
    cfg = tmp_path / "l7lb.toml"
    cfg.write_text(
        'admin_socket = "/run/a.sock"\npid_file = "l7lb.pid"\n[admin]\nlisten = "127.0.0.1:9100"\n'
        + BASE.replace('pool = "web"', 'pool = "nosuch"')
    )
    ways = locate(str(cfg))
    assert (ways.admin_socket, ways.pid_file) == ("/run/a.sock", str(tmp_path / "l7lb.pid"))
    assert ways.admin_listen == Address("127.0.0.1", 9100)
    assert "read as written" in ways.note


def test_locate_a_file_that_is_not_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "l7lb.toml"
    cfg.write_text(
        'pid_file = "l7lb.pid"  # here\nadmin_socket = "/run/a.sock"\n'
        '[pool.web\nlisten = "10.0.0.1:1"\n'  # broken, and a listen outside [admin]
        '[admin]\nlisten = "127.0.0.1:9100"\n'
    )
    ways = locate(str(cfg))
    assert ways.admin_socket == "/run/a.sock" and ways.pid_file == str(tmp_path / "l7lb.pid")
    assert ways.admin_listen == Address("127.0.0.1", 9100)
    assert "read line by line" in ways.note
    assert not locate(str(tmp_path / "missing.toml")).any()


def test_reload_and_stop_with_nothing_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "l7lb.toml"
    cfg.write_text(f'admin_socket = "{tmp_path}/a.sock"\npid_file = "l7lb.pid"\n' + BASE)
    assert reload_main(["-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("l7lb reload: no running l7lb found: admin socket ")
    assert f"no pid file {tmp_path}/l7lb.pid" in err
    assert stop_main(["-c", str(cfg)]) == 2
    assert reload_main([]) == 2  # -c is required


def test_a_zombie_is_not_running() -> None:
    """An exited child its parent has not waited for yet (as a supervisor started
    by a test or a shell script is) has stopped: l7lb stop must not wait on it."""
    proc = subprocess.Popen([sys.executable, "-c", "pass", "l7lb"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{proc.pid}/stat", "rb") as f:
            if f.read().rpartition(b")")[2].split()[0] == b"Z":
                break
        time.sleep(0.02)
    try:
        assert not pidfile.process_is_l7lb(proc.pid)
    finally:
        proc.wait()
