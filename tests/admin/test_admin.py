"""The admin socket with a fake supervisor, over a real Unix socket."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_supervisor import FakeSupervisor
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.admin import AdminError, AdminServer, format_servers, parse_command
from l7lb.admin.client import admin_main, send_command
from l7lb.admin.commands import MAX_LINE, state_label
from l7lb.balancing.pool_state import PoolState
from l7lb.config.model import Address, Pool, Server


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[str, FakeSupervisor]]:
    """An AdminServer on its own event loop thread, so blocking clients
    (and subprocesses) can talk to it from the test."""
    path = str(tmp_path / "admin.sock")
    handler = FakeSupervisor()
    loop = asyncio.new_event_loop()
    server = AdminServer(path, handler, timeout=2.0)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(5)
    try:
        yield path, handler
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
    assert not os.path.exists(path)


def test_socket_is_private(running: tuple[str, FakeSupervisor]) -> None:
    path, _ = running
    mode = os.stat(path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_show_servers_table(running: tuple[str, FakeSupervisor]) -> None:
    path, _ = running
    answer = send_command(path, "show servers")
    lines = answer.splitlines()
    assert lines[0] == "Pool"
    assert lines[1].split() == [
        "->",
        "Server",
        "Address",
        "Weight",
        "State",
        "Active",
        "Requests",
        "Persist",
        "Sticky",
        "Left",
    ]
    assert lines[2] == "pool web"
    assert lines[3].split() == ["->", "s1", "10.0.0.1:80", "1", "up", "0", "0", "0", "-", "-"]
    assert lines[4].split() == ["->", "s2", "10.0.0.2:80", "3", "up", "0", "0", "2", "-", "-"]
    assert lines[5].split()[4] == "up,backup"


def test_drain_with_a_deadline_shows_time_left(running: tuple[str, FakeSupervisor]) -> None:
    path, handler = running
    assert send_command(path, "drain web s1 --deadline 10m") == (
        "web/s1: drain, sticky clients move in 600s\n"
    )
    assert handler.calls == [("drain", "web", "s1", "deadline 600")]
    # the fake's rows are taken at loop time 0: the whole deadline is left
    line = send_command(path, "show servers").splitlines()[3].split()
    assert line[4] == "drain" and line[8:] == ["0", "10m00s"]


def test_drain_maint_ready_and_weight_change_state(running: tuple[str, FakeSupervisor]) -> None:
    path, handler = running
    assert send_command(path, "drain web s1") == "web/s1: drain\n"
    assert handler.pools["web"].by_name["s1"].admin == "drain"
    assert "drain" in send_command(path, "show servers").splitlines()[3]
    assert send_command(path, "maint web s2") == "web/s2: maint\n"
    assert send_command(path, "ready web s1") == "web/s1: ready\n"
    assert send_command(path, "set-weight web s1 7") == "web/s1: weight 7\n"
    assert handler.pools["web"].by_name["s1"].weight == 7
    assert handler.calls == [
        ("drain", "web", "s1"),
        ("maint", "web", "s2"),
        ("ready", "web", "s1"),
        ("set-weight", "web", "s1", "7"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("drain nosuch s1", "no pool named 'nosuch'"),
        ("drain web s9", "has no server 's9'"),
        ("set-weight web s1 x", "weight must be an integer"),
        ("set-weight web s1 257", "weight must be an integer"),
        ("set-weight web s1 -1", "weight must be an integer"),
        ("drain web s1 --deadline", "usage: drain POOL SERVER [--deadline 10m]"),
        ("drain web s1 --deadline soon", '"soon" is not a duration'),
        ("drain web s1 --deadline 0s", "deadline must be more than 0s"),
        ("drain web s1 --deadline 200h", "at most 7 days"),
        ("maint web s1 --deadline 5m", "usage: maint POOL SERVER"),
        ("fly away", "unknown command"),
        ("", "empty command"),
        ("show", "usage: show servers"),
    ],
)
def test_errors_are_error_lines(
    running: tuple[str, FakeSupervisor], line: str, message: str
) -> None:
    path, handler = running
    answer = send_command(path, line)
    assert answer.startswith("error: ") and message in answer and answer.endswith("\n")
    assert handler.calls == []


def test_hostile_input_is_bounded(running: tuple[str, FakeSupervisor]) -> None:
    path, handler = running
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        # the server may answer and close before we finish sending
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"drain web s1" + b" " * (MAX_LINE * 64) + b"\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"error: command longer than")
    assert handler.calls == []
    # a client that sends nothing is dropped after the timeout, the server lives on
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as idle:
        idle.settimeout(5)
        idle.connect(path)
        assert idle.recv(100) == b"error: timed out\n"
    assert send_command(path, "help").startswith("commands:")
    # no newline before EOF still works
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(path)
        sock.sendall(b"ready web s1")
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(100) == b"web/s1: ready\n"
    bad = send_command(path, "drain web s\x01")
    assert bad.startswith("error: command contains control")


def test_stale_socket_is_replaced_and_live_one_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "a.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens: a dead supervisor's

    async def scenario() -> None:
        async with AdminServer(path, FakeSupervisor()):
            with pytest.raises(OSError, match="in use"):
                await AdminServer(path, FakeSupervisor()).start()

    asyncio.run(scenario())
    Path(path).write_text("not a socket")
    with pytest.raises(OSError, match="not a socket"):
        asyncio.run(AdminServer(path, FakeSupervisor()).start())
    assert Path(path).read_text() == "not a socket"


def test_admin_main_exit_codes(
    running: tuple[str, FakeSupervisor],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, handler = running
    assert admin_main(["-s", path, "drain", "web", "s2"]) == 0
    assert capsys.readouterr().out == "web/s2: drain\n"
    assert admin_main(["-s", path, "drain", "web", "zz"]) == 1
    assert "has no server" in capsys.readouterr().err
    assert admin_main(["-s", path, "set-weight", "web", "s1", "many"]) == 2  # refused locally
    assert admin_main(["-s", path]) == 2
    assert admin_main(["show", "servers"]) == 2  # neither -s nor -c
    assert admin_main(["-s", str(tmp_path / "nobody.sock"), "show", "servers"]) == 2
    assert "cannot reach" in capsys.readouterr().err
    config = tmp_path / "l7lb.toml"
    body = textwrap.dedent(
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
    config.write_text(f'admin_socket = "{path}"\n' + body)
    assert admin_main(["-c", str(config), "show", "servers"]) == 0
    assert "pool web" in capsys.readouterr().out
    config.write_text(body)
    assert admin_main(["-c", str(config), "show", "servers"]) == 2
    assert "sets no admin_socket" in capsys.readouterr().err
    assert handler.calls == [("drain", "web", "s2")]


def test_admin_main_in_a_subprocess(running: tuple[str, FakeSupervisor]) -> None:
    path, _ = running
    code = (
        "import sys; from l7lb.admin.client import admin_main; sys.exit(admin_main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "-s", path, "maint", "web", "s1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0 and done.stdout == "web/s1: maint\n"


def test_state_label_priorities() -> None:
    pool = PoolState(Pool("p", (Server("a", Address("10.0.0.1", 80)),)))
    s = pool.servers[0]
    assert state_label(s, 0.0) == "up"
    pool.set_weight("a", 0)
    assert state_label(s, 0.0) == "drain"
    pool.mark_down("a", until=5.0)
    assert state_label(s, 1.0) == "down" and state_label(s, 6.0) == "drain"
    pool.set_admin("a", "maint")
    assert state_label(s, 6.0) == "maint"
    assert format_servers([]) == "no pools\n"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=MAX_LINE + 50))
def test_parse_command_total(line: bytes) -> None:
    try:
        cmd = parse_command(line)
    except AdminError as exc:
        assert str(exc)
        return
    verbs = ("help", "show-servers", "show-tls", "show-limits", "set-weight", "drain")
    verbs += ("maint", "ready")
    assert cmd.verb in (*verbs, "reload", "stop")
    assert 0 <= cmd.weight <= 256


def test_show_tls_parses_and_sums_workers() -> None:
    from l7lb.admin.commands import format_tls, merge_tls

    assert parse_command("show tls").verb == "show-tls"
    w1 = {"web": {"full": 3, "resumed": {"ticket": 2}, "failures": {"plain_http": 1}}}
    w2 = {"web": {"full": 1, "resumed": {"ticket": 1, "session_id": 4}, "failures": {}}}
    merged = merge_tls([w1, w2])
    assert merged["web"] == {
        "full": 4,
        "resumed": {"ticket": 3, "session_id": 4},
        "failures": {"plain_http": 1},
    }
    text = format_tls(merged)
    assert text.splitlines()[0] == "vip web: 4 full, 7 resumed (63.6 %)"
    assert "  resumed session_id: 4" in text and "  failed plain_http: 1" in text
    assert format_tls({}) == "no TLS VIP\n"


def test_reload_and_stop_over_the_socket(running: tuple[str, FakeSupervisor]) -> None:
    path, handler = running
    assert send_command(path, "reload") == "reload accepted: /etc/l7lb.toml (generation 2)\n"
    handler.reload_errors = ('pool "web" scheduler: unknown value "fastest"', "second problem")
    assert send_command(path, "reload") == (
        "error: reload of /etc/l7lb.toml rejected; the running configuration (generation 2)"
        " keeps serving:\n"
        'error:   pool "web" scheduler: unknown value "fastest"\n'
        "error:   second problem\n"
    )
    assert send_command(path, "reload now").startswith("error: usage: reload")
    assert send_command(path, "stop") == "stopping: pid 4242\n"
    assert handler.calls == [("reload",), ("reload",), ("stop",)]
    assert handler.draining


def test_show_limits_over_the_socket(running: tuple[str, FakeSupervisor]) -> None:
    path, _ = running
    assert parse_command("show limits").verb == "show-limits"
    assert send_command(path, "show limits") == (
        "  -> Source     Conns  Req/s  InWindow  Refused  429s\n"
        "vip www\n"
        "  -> 192.0.2.7  3      12.5   125       4        17\n"
    )
    assert "show limits" in send_command(path, "help")
    with pytest.raises(AdminError, match="show limits"):
        parse_command("show limit")


def test_format_limits_groups_by_vip() -> None:
    from l7lb.admin.commands import format_limits
    from l7lb.limits.board import LimitRow

    rows = [
        LimitRow("www", "192.0.2.7", 0, 40.0, 400.0, 0, 120),
        LimitRow("www", "2001:db8::/64", 12, 0.5, 5.0, 3, 0),
        LimitRow("api", "192.0.2.9", 1, 1.0, 10.0, 0, 0),
    ]
    lines = format_limits(rows).splitlines()
    assert lines[1] == "vip www"
    assert lines[2].split() == ["->", "192.0.2.7", "0", "40.0", "400", "0", "120"]
    assert lines[3].split() == ["->", "2001:db8::/64", "12", "0.5", "5", "3", "0"]
    assert lines[4] == "vip api"
    assert "no client address counted" in format_limits([])
