"""`pip install .` into a fresh virtualenv: compiled where there is a C compiler, and pure
Python, with a warning that says why, where there is none.

Each install builds from a copy of the checkout without any in-place build, with build
isolation, as a user's `pip install .` does: pip fetches setuptools, mypy and l7lb's
dependencies from PyPI. The two run side by side (one compiles, the other mostly downloads)
to keep the pair within a few minutes.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from l7lb import native

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parent.parent.parent
BACKEND_APP = ROOT / "tests" / "e2e" / "backend_app.py"
SUFFIX = EXTENSION_SUFFIXES[0]
# what a checkout holds besides its sources: nothing of it may reach the package
NOT_SOURCE = shutil.ignore_patterns(
    ".venv",
    ".git",
    "build",
    "dist",
    "__pycache__",
    "*.so",
    native.MANIFEST,
    ".*_cache",
    ".hypothesis",
)
MISSING_CC = "/nonexistent/cc"


def _clean_env(**extra: str) -> dict[str, str]:
    """This suite's environment without what would point the new venv back at the checkout."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "L7LB_PURE", "L7LB_EXPECT_NATIVE", "L7LB_BUILD_OPT")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


@dataclass
class Install:
    home: Path
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def bin(self) -> Path:
        return self.home / "venv" / "bin"

    @property
    def site_packages(self) -> Path:
        (found,) = (self.home / "venv" / "lib").glob("python3.*/site-packages")
        return found

    def wait(self) -> str:
        """pip's verbose output, once it has succeeded."""
        status = self.proc.wait(timeout=1400)
        log = self.log_path.read_text(errors="replace")
        assert status == 0, f"pip install failed ({status}):\n{log[-4000:]}"
        return log

    def run(self, *args: str) -> str:
        return subprocess.run(
            args, cwd=self.home, env=_clean_env(), capture_output=True, text=True, check=True
        ).stdout

    def version(self) -> list[str]:
        return self.run(str(self.bin / "l7lb"), "--version").splitlines()

    def hot_module_files(self) -> list[str]:
        code = (
            "import importlib, l7lb.native as n\n"
            "for m in n.HOT: print(importlib.import_module(m).__file__)\n"
        )
        return self.run(str(self.bin / "python"), "-c", code).splitlines()


def _start_install(home: Path, **env: str) -> Install:
    shutil.copytree(ROOT, home / "src", ignore=NOT_SOURCE)
    subprocess.run([sys.executable, "-m", "venv", str(home / "venv")], check=True)
    log_path = home / "pip.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(home / "venv" / "bin" / "python"), "-m", "pip", "install", "-v", "./src"],
            cwd=home,
            env=_clean_env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Install(home, proc, log_path)


@pytest.fixture(scope="module")
def installs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Install]]:
    started = {
        # gcc -O0: the same build step in about a third of the time; the note it leaves in
        # the manifest is checked below
        "compiled": _start_install(tmp_path_factory.mktemp("compiled"), L7LB_BUILD_OPT="0"),
        "pure": _start_install(tmp_path_factory.mktemp("pure"), CC=MISSING_CC),
    }
    try:
        yield started
    finally:
        for install in started.values():
            if install.proc.poll() is None:
                os.killpg(install.proc.pid, signal.SIGKILL)
                install.proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_one_request(install: Install) -> tuple[str, str]:
    """Run the installed l7lb in front of a test realserver: (the body a client got, the
    supervisor's log)."""
    backend_port, port = _free_port(), _free_port()
    config = install.home / "l7lb.toml"
    config.write_text(
        f'[[vip]]\nname = "www"\nlisten = ["127.0.0.1:{port}"]\n'
        '[[vip.route]]\npool = "web"\n'
        f'[pool.web]\n[[pool.web.server]]\nname = "rs1"\naddress = "127.0.0.1:{backend_port}"\n'
    )
    error_log = install.home / "error.log"
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [sys.executable, str(BACKEND_APP), str(backend_port), "rs1"],
                stdout=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        with error_log.open("wb") as err:
            procs.append(
                subprocess.Popen(
                    [str(install.bin / "l7lb"), "run", "-c", str(config), "--workers", "1"],
                    cwd=install.home,
                    env=_clean_env(),
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + 60
        while "serving" not in error_log.read_text():
            if procs[-1].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"l7lb did not start:\n{error_log.read_text()}")
            time.sleep(0.05)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        body = conn.getresponse().read().decode()
        conn.close()
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
    return body, error_log.read_text()


def _startup_line(log: str) -> str:
    (line,) = [line for line in log.splitlines() if "serving 127.0.0.1:" in line]
    return line


def test_pip_install_compiles_the_hot_path(installs: dict[str, Install]) -> None:
    install = installs["compiled"]
    log = install.wait()
    assert f"build_native: {len(native.HOT)} modules compiled in" in log
    compiled = (
        f"hot path compiled with mypyc ({len(native.HOT)} modules, "
        "gcc -O0 (L7LB_BUILD_OPT), not for serving)"
    )
    assert install.version()[1] == compiled
    files = install.hot_module_files()
    assert len(files) == len(native.HOT)
    assert all(f.endswith(SUFFIX) and f.startswith(str(install.site_packages)) for f in files)

    body, supervisor_log = _serve_one_request(install)
    assert body == "rs1\n"
    assert _startup_line(supervisor_log).endswith(compiled)

    # a stale compiled module never runs in place of the source, in site-packages too
    framing = install.site_packages / "l7lb" / "http" / "framing.py"
    framing.write_text(framing.read_text() + "\n# edited after the install\n")
    assert install.version()[1] == (
        "hot path runs as pure Python: "
        "l7lb.http.framing changed since the build (rebuild: reinstall l7lb)"
    )
    assert all(f.endswith(".py") for f in install.hot_module_files())


def test_without_a_c_compiler_pip_install_warns_and_runs_pure(
    installs: dict[str, Install],
) -> None:
    install = installs["pure"]
    log = install.wait()
    why = f"no C compiler ({MISSING_CC!r} not found)"
    assert f"l7lb: WARNING: the hot path was NOT compiled: {why}." in log
    pure = (
        f"hot path runs as pure Python: the build compiled nothing: {why}; "
        "to compile: apt-get install gcc (Debian), then reinstall l7lb"
    )
    assert install.version()[1] == pure
    assert native.compiled_files(str(install.site_packages)) == {}
    assert all(f.endswith(".py") for f in install.hot_module_files())

    body, supervisor_log = _serve_one_request(install)
    assert body == "rs1\n"
    assert _startup_line(supervisor_log).endswith(pure)
