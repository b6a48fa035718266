"""The Docker image's default command serves on its own.

There is no Docker engine here, so this runs what the Dockerfile's final stage describes,
on the host: the files it copies from the source tree, at their paths under a temporary
root; its working directory; and ENTRYPOINT + CMD as process 1 of private network and PID
namespaces, as in a container, without any capability (so no port below 1024 and no file it
does not own; the image's user is checked not to be root, but this machine's Python lives
under /root, where another user could not run it). The published ports are reached on an
address other than 127.0.0.1, as Docker's port mapping reaches a container, and the container
is stopped as `docker stop` does: SIGTERM to process 1, SIGKILL after 10 s. The image's build
steps (RUN) are not run here: tests/packaging/test_install.py covers the compiled install
they make.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
DOCKERFILE = ROOT / "Dockerfile"
CONTAINER_IP = "192.0.2.80"  # an address of the "container" that is not its loopback
STOP_GRACE = 10.0  # docker stop's default before SIGKILL


def final_stage(text: str) -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile's last stage, continuations joined."""
    joined = text.replace("\\\n", " ")
    stages: list[list[tuple[str, str]]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            stages.append([])
        elif stages:
            stages[-1].append((word.upper(), rest.strip()))
    return stages[-1]


def _one(stage: list[tuple[str, str]], instruction: str) -> str:
    (value,) = [args for word, args in stage if word == instruction]
    return value


def test_the_parser_reads_this_dockerfile() -> None:
    stage = final_stage('FROM a AS b\nCOPY x /y\nFROM c\n# note\nRUN a \\\n  b\nCMD ["z"]\n')
    assert stage == [("RUN", "a    b"), ("CMD", '["z"]')]


@pytest.fixture
def image_root() -> Iterator[Path]:
    """A temporary root for the final stage's files."""
    root = Path(tempfile.mkdtemp(prefix="l7lb-image-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _namespaces_work() -> bool:
    try:
        probe = subprocess.run(
            ["unshare", "--net", "--pid", "--fork", "true"], capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0 and all(
        shutil.which(tool) for tool in ("ip", "nsenter", "setpriv", "curl")
    )


def _child_pid(parent: int, timeout: float = 10.0) -> int:
    """The host PID of unshare's child: process 1 of the new PID namespace."""
    deadline = time.monotonic() + timeout
    children = Path(f"/proc/{parent}/task/{parent}/children")
    while time.monotonic() < deadline:
        pids = children.read_text().split() if children.exists() else []
        if pids:
            return int(pids[0])
        time.sleep(0.02)
    raise TimeoutError("unshare started no child")


def _curl(pid: int, *args: str) -> subprocess.CompletedProcess[str]:
    """curl from inside the container's network namespace."""
    return subprocess.run(
        ["nsenter", f"--target={pid}", "--net", "curl", "-s", "-m", "5", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(
    not _namespaces_work(),
    reason="needs root for private network and PID namespaces (unshare), and ip, nsenter, "
    "setpriv and curl: the image's demo binds fixed ports, which must not meet the host's",
)
def test_the_default_command_serves_the_demo_on_the_published_ports(image_root: Path) -> None:
    stage = final_stage(DOCKERFILE.read_text())
    user = _one(stage, "USER")
    assert user not in ("root", "0"), "the image must not serve as root"
    entrypoint = json.loads(_one(stage, "ENTRYPOINT"))
    cmd = json.loads(_one(stage, "CMD"))
    exposed = {int(p.split("/")[0]) for p in _one(stage, "EXPOSE").split()}

    for word, args in stage:
        if word == "COPY" and not args.startswith("--from"):
            src, dst = shlex.split(args)
            target = image_root / dst.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / src, target)
    workdir = image_root / _one(stage, "WORKDIR").lstrip("/")
    workdir.mkdir(parents=True, exist_ok=True)

    # the image's paths, under the temporary root; `l7lb`, the one this suite runs
    argv = [str(image_root / a.lstrip("/")) if a.startswith("/") else a for a in entrypoint + cmd]
    assert argv[0] == "l7lb"
    argv[0] = str(Path(sys.executable).with_name("l7lb"))
    config_files = [Path(a) for a in argv if a.endswith(".toml")]
    assert config_files and config_files[0].exists(), argv
    config = tomllib.loads(config_files[0].read_text())
    listen = [addr for vip in config["vip"] for addr in vip["listen"]]
    assert {int(a.rsplit(":", 1)[1]) for a in listen} == exposed, (listen, exposed)
    # Docker's port mapping reaches the container's own address, never its loopback
    assert all(a.rsplit(":", 1)[0] in ("0.0.0.0", "[::]") for a in listen), listen

    setup = (
        f'ip link set lo up && ip addr add {CONTAINER_IP}/32 dev lo && cd "$0" && '
        'exec setpriv --bounding-set=-all --inh-caps=-all --no-new-privs -- "$@"'
    )
    env = {**os.environ, "HOME": str(workdir)}
    namespaces = ["unshare", "--net", "--pid", "--fork", "--kill-child"]
    log = image_root / "container.log"
    with log.open("wb") as out:
        container = subprocess.Popen(
            [*namespaces, "sh", "-c", setup, str(workdir), *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        pid1 = _child_pid(container.pid)
        http = f"http://{CONTAINER_IP}:8080/"
        deadline = time.monotonic() + 90
        while _curl(pid1, "-o", "/dev/null", "-w", "%{http_code}", http).stdout != "200":
            assert container.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.3)

        names = [_curl(pid1, http).stdout for _ in range(4)]
        assert all(n.startswith("realserver_") for n in names), names
        assert len(set(names)) >= 2, names  # wrr over three realservers
        https = _curl(
            pid1, "-k", "--resolve", f"localhost:8443:{CONTAINER_IP}", "https://localhost:8443/"
        )
        assert https.stdout.startswith("realserver_"), (https, log.read_text(errors="replace"))
        # the demo made its certificate in the working directory
        assert (workdir / "certs" / "demo.pem").exists()

        # docker stop: SIGTERM to process 1, which must be gone before the grace period ends
        os.kill(pid1, signal.SIGTERM)
        assert container.wait(STOP_GRACE) == 0, log.read_text(errors="replace")
    finally:
        if container.poll() is None:
            os.killpg(container.pid, signal.SIGKILL)  # --kill-child takes the namespace down
            container.wait()
