"""End-to-end: the admin HTTP listener, drain_grace, l7lb reload / stop and the pid file,
with a real l7lb, real backends and real clients on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from procs import ROOT, Backend, Proxy, basic_config, free_port, start_proxy, wait_port

TOKEN = "e2e-admin-token-0123456789abcdef"


def admin_config(
    port: int,
    backends: list[Backend],
    tmp_path: Path,
    *,
    admin_port: int | None = None,
    token: bool = False,
    top: str = "",
    admin_extra: str = "",
) -> str:
    lines = [top]
    if admin_port is not None:
        lines += ["[admin]", f'listen = "127.0.0.1:{admin_port}"', admin_extra]
        if token:
            t = tmp_path / "admin.token"
            t.write_text(TOKEN + "\n")
            t.chmod(0o600)
            lines.append(f'token_file = "{t}"')
    return basic_config(port, backends, extra="\n".join(lines))


def get(port: int, path: str = "/", timeout: float = 5.0) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def post(port: int, path: str, token: str | None = None, body: bytes = b"") -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("POST", path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
    finally:
        c.close()
    try:
        return r.status, json.loads(data)
    except ValueError:
        return r.status, {"text": data.decode()}


def l7lb(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "l7lb", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def names(port: int, n: int) -> Counter[str]:
    return Counter(get(port)[1].decode().strip() for _ in range(n))


def wait_exit(p: Proxy, timeout: float = 30) -> int:
    return p.proc.wait(timeout)


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


# ---------------------------------------------------------------- /healthz and drain_grace


def test_healthz_fails_during_drain_grace_while_requests_succeed(tmp_path, backends):
    port, admin = free_port(), free_port()
    cfg = admin_config(
        port, backends, tmp_path, admin_port=admin, top='[timeouts]\ndrain_grace = "3s"'
    )
    p = start_proxy(tmp_path, cfg, port, workers=2)
    wait_port(admin)
    assert get(admin, "/healthz") == (200, b"ok\n")
    assert get(port)[0] == 200
    t0 = time.monotonic()
    p.proc.send_signal(signal.SIGTERM)
    seen: list[tuple[float, int | None, int | None]] = []  # (time, healthz, VIP status)
    while time.monotonic() - t0 < 15 and p.proc.poll() is None:
        try:
            health: int | None = get(admin, "/healthz", timeout=2)[0]
        except OSError:
            health = None
        try:
            vip: int | None = get(port, timeout=2)[0]  # a new connection each time
        except OSError:
            vip = None
        seen.append((time.monotonic() - t0, health, vip))
        if vip is None and refused(port):
            break
        time.sleep(0.1)
    during = [s for s in seen if s[0] < 2.5]
    assert len(during) >= 5, seen
    # from the first poll on: 503 for the L4 checker, while the VIP serves every request
    assert all(h == 503 and v == 200 for _, h, v in during), seen
    assert all(h != 200 for _, h, _v in seen), seen
    # and then the listener closes: refused, not queued, and only after the grace (the
    # director may exit between two polls, so a refused poll is not required to be seen)
    closed = [t for t, _h, v in seen if v is None]
    assert all(t >= 2.5 for t in closed), seen
    assert seen[-1][0] >= 2.5, seen  # still running, and polled, past the grace
    assert refused(port)
    assert wait_exit(p) == 0
    log = p.error_log()
    assert "/healthz fails for 3s (drain_grace) while serving" in log


def test_drain_grace_zero_keeps_the_immediate_stop(tmp_path, backends):
    port, admin = free_port(), free_port()
    p = start_proxy(tmp_path, admin_config(port, backends, tmp_path, admin_port=admin), port)
    wait_port(admin)
    results: list[int] = []
    slow = threading.Thread(target=lambda: results.append(get(port, "/slow?delay=3", 15)[0]))
    slow.start()
    time.sleep(0.5)  # in flight: the worker drains for it
    t0 = time.monotonic()
    p.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while not refused(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    # no grace: new connections are refused at once, not queued until the drain ends
    assert time.monotonic() - t0 < 1.5
    assert slow.is_alive()
    slow.join(15)
    assert results == [200]
    assert wait_exit(p) == 0
    assert "drain_grace" not in p.error_log()


def test_a_second_sigterm_ends_the_grace(tmp_path, backends):
    port, admin = free_port(), free_port()
    cfg = admin_config(
        port, backends, tmp_path, admin_port=admin, top='[timeouts]\ndrain_grace = "60s"'
    )
    p = start_proxy(tmp_path, cfg, port)
    wait_port(admin)
    p.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while get(admin, "/healthz")[0] != 503 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert get(admin, "/healthz") == (503, b"draining\n")
    assert get(port)[0] == 200  # still serving in the grace
    t0 = time.monotonic()
    p.proc.send_signal(signal.SIGTERM)
    assert wait_exit(p, 20) == 0
    assert time.monotonic() - t0 < 10


# ---------------------------------------------------------------- actions


def test_actions_need_the_token_and_change_routing(tmp_path, backends):
    port, admin = free_port(), free_port()
    sock = tmp_path / "admin.sock"
    cfg = admin_config(
        port, backends, tmp_path, admin_port=admin, token=True, top=f'admin_socket = "{sock}"'
    )
    p = start_proxy(tmp_path, cfg, port, workers=2)
    try:
        wait_port(admin)
        assert set(names(port, 9)) == {"b1", "b2", "b3"}
        assert post(admin, "/api/servers/web/b1/drain")[0] == 401
        assert post(admin, "/api/servers/web/b1/drain", TOKEN[:-1] + "x")[0] == 403
        assert set(names(port, 9)) == {"b1", "b2", "b3"}  # refused actions changed nothing
        assert post(admin, "/api/servers/web/b1/drain", TOKEN) == (
            200,
            {"ok": True, "message": "pool web server b1: drain"},
        )
        assert set(names(port, 12)) == {"b2", "b3"}
        assert post(admin, "/api/servers/web/b2/maint", TOKEN)[0] == 200
        assert set(names(port, 6)) == {"b3"}
        status, servers = get(admin, "/api/servers")
        states = {r["server"]: r["state"] for r in json.loads(servers)["servers"]}
        assert (status, states) == (200, {"b1": "drain", "b2": "maint", "b3": "up"})
        # the same state l7lb admin sees through the socket
        shown = l7lb("admin", "-c", str(p.config_path), "show", "servers").stdout
        assert [line.split()[:5] for line in shown.splitlines()[3:]] == [
            ["->", "b1", backends[0].address, "1", "drain"],
            ["->", "b2", backends[1].address, "1", "maint"],
            ["->", "b3", backends[2].address, "1", "up"],
        ]
        assert post(admin, "/api/servers/web/b1/ready", TOKEN)[0] == 200
        assert post(admin, "/api/servers/web/b2/ready", TOKEN)[0] == 200
        assert post(admin, "/api/servers/web/b3/weight", TOKEN, b'{"weight": 0}')[0] == 200
        assert set(names(port, 12)) == {"b1", "b2"}
        assert post(admin, "/api/servers/web/b9/drain", TOKEN) == (
            404,
            {"ok": False, "error": "pool 'web' has no server 'b9' (servers: b1, b2, b3)"},
        )
        log = p.error_log()
        assert "admin http: POST /api/servers/web/b1/drain from 127.0.0.1 refused (401)" in log
        assert "admin: pool web server b1 state drain" in log
    finally:
        p.stop()


def test_reload_moves_the_listener_and_changes_the_token(tmp_path, backends):
    port, admin, moved = free_port(), free_port(), free_port()
    cfg = admin_config(port, backends, tmp_path, admin_port=admin, token=True)
    p = start_proxy(tmp_path, cfg, port)
    try:
        wait_port(admin)
        # a port already taken: the reload is rejected, the listener stays
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", moved))
            taken.listen()
            p.config_path.write_text(cfg.replace(f":{admin}", f":{moved}"))
            status, verdict = post(admin, "/api/reload", TOKEN)
        assert status == 422 and verdict["accepted"] is False
        assert verdict["errors"] == [
            f"cannot listen on admin 127.0.0.1:{moved}: Address already in use"
        ]
        assert get(admin, "/healthz") == (200, b"ok\n")
        # free now: the reload moves it; the new token counts from then on
        (tmp_path / "admin.token").write_text("a-new-token-0123456789abcdef\n")
        status, verdict = post(admin, "/api/reload", TOKEN)
        assert (status, verdict["accepted"]) == (200, True)
        wait_port(moved)
        deadline = time.monotonic() + 5
        while not refused(admin) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert refused(admin)
        assert get(moved, "/healthz") == (200, b"ok\n")
        assert post(moved, "/api/servers/web/b1/drain", TOKEN)[0] == 403
        assert post(moved, "/api/servers/web/b1/drain", "a-new-token-0123456789abcdef")[0] == 200
    finally:
        p.stop()


def test_an_admin_address_in_use_stops_the_start(tmp_path, backends):
    port, admin = free_port(), free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", admin))
        taken.listen()
        cfg = admin_config(port, backends, tmp_path, admin_port=admin)
        with pytest.raises(RuntimeError, match="did not start") as caught:
            start_proxy(tmp_path, cfg, port)
    assert f"cannot listen on admin 127.0.0.1:{admin}: Address already in use" in str(caught.value)


# ---------------------------------------------------------------- l7lb reload / stop


WAYS = ["socket", "listener", "pid-file"]


def way_config(way: str, port: int, backends: list[Backend], tmp_path: Path) -> tuple[str, int]:
    """A configuration that offers exactly one way to reach the supervisor."""
    admin = free_port()
    if way == "socket":
        return admin_config(port, backends, tmp_path, top=f'admin_socket = "{tmp_path}/a.sock"'), 0
    if way == "listener":
        return admin_config(port, backends, tmp_path, admin_port=admin, token=True), admin
    return admin_config(port, backends, tmp_path, top=f'pid_file = "{tmp_path}/l7lb.pid"'), 0


@pytest.mark.parametrize("way", WAYS)
def test_reload_accepted_and_rejected(tmp_path, backends, way):
    port = free_port()
    cfg, admin = way_config(way, port, backends, tmp_path)
    p = start_proxy(tmp_path, cfg, port)
    try:
        if admin:
            wait_port(admin)
        before = p.worker_pids()
        done = l7lb("reload", "-c", str(p.config_path))
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"reload accepted: {p.config_path} (generation 2)\n"
        assert wait_new_workers(p, before)
        # a bad value: the supervisor's verdict, with the key path and the fix
        p.config_path.write_text(cfg.replace('scheduler = "rr"', 'scheduler = "fastest"'))
        pids = p.worker_pids()
        bad = l7lb("reload", "-c", str(p.config_path))
        assert bad.returncode == 1
        assert bad.stdout == ""
        assert (
            f"error: reload of {p.config_path} rejected; the running configuration "
            "(generation 2) keeps serving:\n"
            'error:   pool "web" scheduler: unknown value "fastest"'
        ) in bad.stderr
        assert p.worker_pids() == pids and get(port)[0] == 200
        # not even TOML: still found, still the supervisor's verdict
        p.config_path.write_text(cfg + "\n[pool.web\n")
        broken = l7lb("reload", "-c", str(p.config_path))
        assert broken.returncode == 1, broken.stderr
        assert "not valid TOML" in broken.stderr
        assert "read line by line" in broken.stderr  # says how it found the supervisor
        p.config_path.write_text(cfg)
        again = l7lb("reload", "-c", str(p.config_path))
        assert again.returncode == 0 and "(generation 3)" in again.stdout, again.stderr
    finally:
        p.stop()


def wait_new_workers(p: Proxy, before: list[int]) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not set(p.worker_pids()) & set(before):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("way", WAYS)
def test_stop_waits_until_l7lb_exits(tmp_path, backends, way):
    port = free_port()
    cfg, admin = way_config(way, port, backends, tmp_path)
    p = start_proxy(tmp_path, cfg, port)
    if admin:
        wait_port(admin)
    done = l7lb("stop", "-c", str(p.config_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"stopping: pid {p.pid}"
    assert lines[1].startswith(f"stopped: pid {p.pid} exited after ")
    assert p.proc.poll() == 0  # gone already when l7lb stop returns
    nothing = l7lb("stop", "-c", str(p.config_path))
    assert nothing.returncode == 2 and "no running l7lb found" in nothing.stderr


def test_pid_file_lifecycle(tmp_path, backends):
    port = free_port()
    pid_path = tmp_path / "run" / "l7lb.pid"
    pid_path.parent.mkdir()
    # stale: a pid that has exited, as after a SIGKILL or a reboot
    dead = subprocess.Popen(["true"])
    dead.wait()
    pid_path.write_text(f"{dead.pid}\n")
    cfg = admin_config(port, backends, tmp_path, top='pid_file = "run/l7lb.pid"')
    p = start_proxy(tmp_path, cfg, port)
    try:
        assert pid_path.read_text() == f"{p.pid}\n"
        assert f"stale pid file {pid_path}: pid {dead.pid} is not l7lb: replacing it" in (
            p.error_log()
        )
        # a second l7lb on the same pid file refuses to start, and leaves the file alone
        other = tmp_path / "other"
        other.mkdir()
        other_cfg = admin_config(free_port(), backends, other, top=f'pid_file = "{pid_path}"')
        (other / "l7lb.toml").write_text(other_cfg)
        second = l7lb("run", "-c", str(other / "l7lb.toml"), "--workers", "1", timeout=30)
        assert second.returncode == 1
        assert f"pid file {pid_path}: l7lb is already running with pid {p.pid}" in second.stderr
        assert pid_path.read_text() == f"{p.pid}\n"
        # reload through it, then its verdict file sits beside it
        assert l7lb("reload", "-c", str(p.config_path)).returncode == 0
        status = json.loads((tmp_path / "run" / "l7lb.pid.reload").read_text())
        assert (status["pid"], status["accepted"], status["generation"]) == (p.pid, True, 2)
    finally:
        assert p.stop() == 0
    assert not pid_path.exists()
    assert not (tmp_path / "run" / "l7lb.pid.reload").exists()
    # after a SIGKILL the file stays: the tools call it stale, not running
    p2 = start_proxy(tmp_path, cfg, port)
    os.killpg(p2.pid, signal.SIGKILL)
    p2.proc.wait()
    assert pid_path.read_text() == f"{p2.pid}\n"
    stale = l7lb("reload", "-c", str(p2.config_path))
    assert stale.returncode == 2
    assert f"stale pid file {pid_path}: pid {p2.pid} is not l7lb" in stale.stderr


def test_reload_without_any_way_in_says_what_to_add(tmp_path, backends):
    cfg = tmp_path / "l7lb.toml"
    cfg.write_text(basic_config(free_port(), backends))
    done = l7lb("reload", "-c", str(cfg))
    assert done.returncode == 2
    assert "sets none of admin_socket, [admin] listen, pid_file" in done.stderr
