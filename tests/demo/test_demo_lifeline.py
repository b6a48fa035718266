"""The demo's children never outlive it, whatever stops it (issue 16, section 6): Ctrl-C,
SIGTERM (also in the first moments, before the proxy has its signal handlers), SIGKILL, and a
start that fails. Each tie (parent-death signal, lifeline pipe) is also shown to work alone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from demoproc import alive, command_line

pytestmark = pytest.mark.timeout(120)

HERE = Path(__file__).parent


@pytest.mark.parametrize("ties", ["signal", "pipe", "both"])
def test_each_tie_alone_ends_the_child(ties: str) -> None:
    """A parent killed with SIGKILL cleans nothing up: its child still ends."""
    parent = subprocess.Popen(
        [sys.executable, str(HERE / "lifeline_parent.py"), ties],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert alive(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(5)
        deadline = time.monotonic() + 10
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child), command_line(child)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_without_a_tie_the_child_would_stay() -> None:
    """The control: with neither tie, the same child outlives its killed parent (so the
    test above can fail)."""
    parent = subprocess.Popen(
        [sys.executable, str(HERE / "lifeline_parent.py"), "none"],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(5)
        time.sleep(1.0)
        assert alive(child)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


def ctrl_c(demo: Any) -> None:
    os.killpg(demo.proc.pid, signal.SIGINT)  # what a terminal does: the demo's whole group


def sigterm(demo: Any) -> None:
    os.kill(demo.proc.pid, signal.SIGTERM)


def sigkill(demo: Any) -> None:
    os.kill(demo.proc.pid, signal.SIGKILL)


@pytest.mark.parametrize("stop", [ctrl_c, sigterm, sigkill], ids=["ctrl-c", "sigterm", "sigkill"])
def test_one_director_children_end_with_the_demo(demo: Any, stop: Any) -> None:
    d = demo("--workers", "1")
    d.wait_for("serving")
    d.wait_listening(9001)
    lines = list(d.note_children().values())
    # the realservers, and the proxy's worker (the demo process is the supervisor)
    assert any("l7lb.demo.backends" in c for c in lines), lines
    assert any("l7lb.worker" in c for c in lines), lines
    stop(d)
    d.proc.wait(60)
    d.assert_all_gone()


def test_stopped_in_its_first_moments(demo: Any) -> None:
    """SIGTERM as soon as the realservers listen: the proxy is still starting and has no
    signal handler yet (the case that left realservers running)."""
    d = demo("--workers", "1")
    d.wait_listening(9001)
    d.note_children()
    sigterm(d)
    d.proc.wait(60)
    d.assert_all_gone()


def test_a_failed_start_leaves_nothing(demo: Any) -> None:
    """The HTTPS port is taken: the proxy cannot start, the demo exits non-zero, and the
    realservers it had started are gone too."""
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    d = demo("--workers", "1")
    try:
        blocker.bind(("127.0.0.1", 8443 + d.offset))
        blocker.listen(1)
        assert d.watch_until_exit() != 0
        assert any("l7lb.demo.backends" in c for c in d.seen.values()), d.seen
        d.assert_all_gone()
    finally:
        blocker.close()


@pytest.mark.parametrize("stop", [ctrl_c, sigterm, sigkill], ids=["ctrl-c", "sigterm", "sigkill"])
def test_two_directors_children_end_with_the_demo(demo: Any, stop: Any) -> None:
    if not _have_redis():
        pytest.skip("redis-server is not installed (CI installs it with apt)")
    d = demo("--directors", "2", "--workers", "1")
    d.wait_for("Ctrl-C stops everything")
    lines = list(d.note_children().values())
    assert any("redis-server" in c for c in lines), lines
    assert sum("l7lb.demo.director" in c for c in lines) == 2, lines
    assert sum("l7lb.worker" in c for c in lines) == 2, lines
    assert any("l7lb.demo.backends" in c for c in lines), lines
    stop(d)
    d.proc.wait(60)
    d.assert_all_gone()


def test_two_directors_a_failed_start_leaves_nothing(demo: Any) -> None:
    """Director 2's HTTPS port is taken: it cannot start; the demo says so and stops the
    rest."""
    if not _have_redis():
        pytest.skip("redis-server is not installed (CI installs it with apt)")
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    d = demo("--directors", "2", "--workers", "1")
    try:
        blocker.bind(("127.0.0.1", 8444 + d.offset))
        blocker.listen(1)
        assert d.watch_until_exit() == 1
        assert "director 2 did not start" in d.output()
        lines = d.seen.values()
        assert any("redis-server" in c for c in lines), lines
        assert any("l7lb.demo.backends" in c for c in lines), lines
        d.assert_all_gone()
    finally:
        blocker.close()


def _have_redis() -> bool:
    import shutil

    return shutil.which("redis-server") is not None
