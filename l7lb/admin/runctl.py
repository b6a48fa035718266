"""``l7lb reload -c FILE`` and ``l7lb stop -c FILE``: what ``nginx -s`` does.

Both find the running supervisor of FILE (``locate``) and try, in order:

1. the admin socket (``admin_socket``): the ``reload`` / ``stop`` commands;
2. the admin listener (``[admin] listen``): ``POST /api/reload`` / ``/api/stop``
   with the bearer token from ``token_file``;
3. the pid file (``pid_file``): SIGHUP / SIGTERM; a reload's verdict is read
   from ``<pid_file>.reload``, which the supervisor writes after each reload.

The verdict printed is the supervisor's own: it validates the file (and
builds the certificates, binds new addresses, starts the new workers) before
it swaps, and says accepted or rejected with every error. ``stop`` waits
until the supervisor has exited.

Exit status: 0 done (reload accepted, l7lb stopped); 1 the reload was
rejected, or l7lb did not stop in time; 2 usage, or no running l7lb found.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from l7lb.admin import pidfile
from l7lb.admin.client import send_command
from l7lb.admin.commands import ReloadVerdict
from l7lb.admin.locate import Ways, locate
from l7lb.config.model import Address

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_UNREACHABLE = 2
RELOAD_TIMEOUT = 90.0  # new workers get 15 s to be ready; certificates and the store come first


@dataclass(frozen=True, slots=True)
class Outcome:
    """One way's result: ``reached`` False means try the next way."""

    reached: bool
    status: int = EXIT_OK
    message: str = ""  # printed to stdout (status 0) or stderr
    pid: int = 0  # stop: the pid to wait for


def _fail(why: str) -> Outcome:
    return Outcome(False, EXIT_UNREACHABLE, why)


# ---------------------------------------------------------------- the ways in


def _via_socket(path: str, command: str, timeout: float) -> Outcome:
    try:
        answer = send_command(path, command, timeout=timeout)
    except OSError as exc:
        return _fail(f"admin socket {path}: {exc.strerror or exc}")
    if not answer:
        return _fail(f"admin socket {path}: closed without an answer")
    if answer.startswith("error:"):
        return Outcome(True, EXIT_REFUSED, answer)
    pid = 0
    if command == "stop" and answer.startswith("stopping: pid "):
        text = answer.split()[-1]
        pid = int(text) if text.isdigit() else 0
    return Outcome(True, EXIT_OK, answer, pid)


def _connect_host(address: Address) -> str:
    # a wildcard listener is reached on this host's loopback
    if address.host == "0.0.0.0":
        return "127.0.0.1"
    if address.host == "::":
        return "::1"
    return address.host


def _via_http(address: Address, token: bytes, path: str, timeout: float) -> Outcome:
    where = f"admin listener http://{address}"
    headers = {"Content-Length": "0"}
    if token:
        headers["Authorization"] = "Bearer " + token.decode("ascii", "replace")
    conn = http.client.HTTPConnection(_connect_host(address), address.port, timeout=timeout)
    try:
        conn.request("POST", path, headers=headers)
        response = conn.getresponse()
        body = response.read(1 << 20)
    except (OSError, http.client.HTTPException) as exc:
        return _fail(f"{where}: {getattr(exc, 'strerror', None) or exc}")
    finally:
        conn.close()
    if response.status in (401, 403):
        reason = body.decode("utf-8", "replace").strip()
        return _fail(f"{where}: {reason} (is token_file the running l7lb's?)")
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return _fail(f"{where}: unexpected answer {response.status} {body[:200]!r}")
    if path == "/api/stop":
        pid = data.get("pid")
        return Outcome(True, EXIT_OK, f"stopping: pid {pid}\n", pid if isinstance(pid, int) else 0)
    verdict = _verdict(data)
    if verdict is None:
        return _fail(f"{where}: unexpected answer {response.status} {body[:200]!r}")
    return Outcome(True, EXIT_OK if verdict.accepted else EXIT_REFUSED, verdict.text())


def _verdict(data: dict[str, Any]) -> ReloadVerdict | None:
    try:
        return ReloadVerdict(
            accepted=bool(data["accepted"]),
            generation=int(data["generation"]),
            config_path=str(data["config"]),
            errors=tuple(str(e) for e in data["errors"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _via_pid_file(path: str, sig: signal.Signals, timeout: float) -> Outcome:
    state = pidfile.read_pid_file(path)
    if not state.running:
        return _fail(state.reason)
    before = pidfile.read_reload_status(path)
    seq = before.get("seq", 0) if before.get("pid") == state.pid else 0
    try:
        os.kill(state.pid, sig)
    except OSError as exc:
        return _fail(f"pid {state.pid} (from {path}): {exc.strerror or exc}")
    if sig is not signal.SIGHUP:
        return Outcome(True, EXIT_OK, f"stopping: pid {state.pid}\n", state.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = pidfile.read_reload_status(path)
        fresh = isinstance(status.get("seq"), int) and status["seq"] > seq
        verdict = _verdict(status) if fresh and status.get("pid") == state.pid else None
        if verdict is not None:
            return Outcome(True, EXIT_OK if verdict.accepted else EXIT_REFUSED, verdict.text())
        if not pidfile.process_is_l7lb(state.pid):
            return Outcome(True, EXIT_REFUSED, f"error: pid {state.pid} exited during the reload\n")
        time.sleep(0.1)
    return Outcome(
        True,
        EXIT_REFUSED,
        f"error: SIGHUP sent to pid {state.pid}, no verdict in {timeout:g}s: see its log\n",
    )


def _try_ways(ways: Ways, attempts: list[Callable[[], Outcome | None]]) -> Outcome:
    """The first way that reaches the supervisor; else every reason, joined."""
    reasons = []
    for attempt in attempts:
        outcome = attempt()
        if outcome is None:
            continue
        if outcome.reached:
            return outcome
        reasons.append(outcome.message)
    if not ways.any():
        reasons.append(
            f"{ways.config_path} sets none of admin_socket, [admin] listen, pid_file "
            "(add one and restart l7lb)"
        )
    return _fail("; ".join(reasons))


def _print(outcome: Outcome, prog: str) -> None:
    if outcome.status == EXIT_OK:
        sys.stdout.write(outcome.message)
    elif outcome.reached:
        sys.stderr.write(outcome.message)
    else:
        print(f"{prog}: no running l7lb found: {outcome.message}", file=sys.stderr)


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("-c", "--config", required=True, help="the configuration file l7lb runs")
    ap.add_argument("-s", "--socket", help="the admin socket (instead of the file's admin_socket)")
    ap.add_argument("--pid-file", help="the pid file (instead of the file's pid_file)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds to wait")
    return ap


def _ways(args: argparse.Namespace) -> Ways:
    ways = locate(args.config)
    if args.socket or args.pid_file:
        # given on the command line: use only what was given
        ways = Ways(
            config_path=ways.config_path,
            admin_socket=args.socket or "",
            pid_file=os.path.abspath(args.pid_file) if args.pid_file else "",
            stop_wait=ways.stop_wait,
        )
    if ways.note:
        print(f"l7lb: note: {ways.note}", file=sys.stderr)
    return ways


def reload_main(argv: list[str]) -> int:
    ap = _parser("l7lb reload", "Reload a running l7lb and print its verdict.")
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    ways = _ways(args)
    timeout = args.timeout or RELOAD_TIMEOUT
    listen, token = ways.admin_listen, ways.token
    outcome = _try_ways(
        ways,
        [
            lambda: (
                _via_socket(ways.admin_socket, "reload", timeout) if ways.admin_socket else None
            ),
            lambda: _via_http(listen, token, "/api/reload", timeout) if listen else None,
            lambda: _via_pid_file(ways.pid_file, signal.SIGHUP, timeout) if ways.pid_file else None,
        ],
    )
    _print(outcome, "l7lb reload")
    return outcome.status


def stop_main(argv: list[str]) -> int:
    ap = _parser("l7lb stop", "Stop a running l7lb (as SIGTERM does) and wait until it exits.")
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    ways = _ways(args)
    timeout = args.timeout or ways.stop_wait
    listen, token = ways.admin_listen, ways.token
    outcome = _try_ways(
        ways,
        [
            lambda: _via_socket(ways.admin_socket, "stop", 10.0) if ways.admin_socket else None,
            lambda: _via_http(listen, token, "/api/stop", 10.0) if listen else None,
            lambda: _via_pid_file(ways.pid_file, signal.SIGTERM, 10.0) if ways.pid_file else None,
        ],
    )
    if outcome.status != EXIT_OK or not outcome.pid:
        _print(outcome, "l7lb stop")
        return outcome.status
    sys.stdout.write(outcome.message)
    sys.stdout.flush()
    t0 = time.monotonic()
    while pidfile.process_is_l7lb(outcome.pid):
        if time.monotonic() - t0 > timeout:
            print(f"l7lb stop: pid {outcome.pid} still runs after {timeout:g}s", file=sys.stderr)
            return EXIT_REFUSED
        time.sleep(0.1)
    print(f"stopped: pid {outcome.pid} exited after {time.monotonic() - t0:.1f}s")
    return EXIT_OK
