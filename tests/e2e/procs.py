"""Start real processes for end-to-end tests: test realservers and l7lb itself.

Everything listens on 127.0.0.1 on free ports and is stopped by PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


# Every process started here, so a test that fails half-way through its set-up
# still leaves nothing running: conftest.py kills what is left at the end.
STARTED: list[subprocess.Popen[bytes]] = []


def stop_leftovers() -> None:
    for proc in STARTED:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
            proc.wait()
    STARTED.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@dataclass
class Backend:
    name: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start_backend(name: str, port: int | None = None) -> Backend:
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "backend_app.py"), str(port), name],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    STARTED.append(proc)
    wait_port(port)
    return Backend(name, port, proc)


@dataclass
class Proxy:
    config_path: Path
    proc: subprocess.Popen[bytes]
    port: int
    stdout_path: Path
    stderr_path: Path
    extra_ports: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def access_log(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def error_log(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def reload(self, text: str | None = None) -> None:
        if text is not None:
            self.config_path.write_text(text)
        os.kill(self.proc.pid, signal.SIGHUP)

    def worker_pids(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True
        ).stdout
        return [int(x) for x in out.split()]

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return int(self.proc.returncode)


def start_proxy(tmp: Path, config: str, port: int, workers: int = 1, wait: bool = True) -> Proxy:
    cfg = tmp / "l7lb.toml"
    cfg.write_text(config)
    out = tmp / "access.log"
    err = tmp / "error.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "l7lb", "run", "-c", str(cfg), "--workers", str(workers)],
        stdout=out.open("wb"),
        stderr=err.open("wb"),
        start_new_session=True,
        cwd=ROOT,
    )
    STARTED.append(proc)
    proxy = Proxy(cfg, proc, port, out, err)
    if wait:
        deadline = time.monotonic() + 20
        while "serving" not in err.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)  # never leave a half-started l7lb
                    proc.wait()
                raise RuntimeError("l7lb did not start:\n" + err.read_text(errors="replace"))
            time.sleep(0.05)
    return proxy


def basic_config(
    port: int,
    servers: list[Backend],
    *,
    extra: str = "",
    pool_extra: str = "",
    scheduler: str = "rr",
) -> str:
    lines = [
        extra,
        "[[vip]]",
        'name = "test"',
        f'listen = ["127.0.0.1:{port}"]',
        "[[vip.route]]",
        'pool = "web"',
        "[pool.web]",
        f'scheduler = "{scheduler}"',
        pool_extra,
    ]
    for b in servers:
        lines += ["[[pool.web.server]]", f'name = "{b.name}"', f'address = "{b.address}"']
    return "\n".join(lines) + "\n"
