"""``l7lb demo --directors 2``: two l7lb instances on one shared store, as two LVS directors.

A local redis-server (on a free port, in a temporary directory, nothing saved), the three
demo realservers, and two directors made from the demo policy (``l7lb.demo.policy``): HTTPS
on 8443 and 8444, HTTP on 8080 and 8081, both with ``[store]`` on that Redis. What it shows,
with the commands it prints:

- a TLS session made on one director resumes on the other (``openssl s_client -sess_out`` on
  one, ``-sess_in`` on the other: "New" then "Reused");
- a client stuck to a realserver by its cookie stays there whichever director it reaches;
- ``l7lb bench --share-sessions`` alternating between the two, with the resumed ratio.

This process only starts, watches and stops the others; each director is a child of its own
(``l7lb.demo.director``), and every child ends with this process (``l7lb.demo.lifeline``).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from l7lb.demo.children import (
    free_port,
    program_child,
    python_child,
    realservers_listening,
    start_realservers,
    stop,
    wait_listening,
)
from l7lb.demo.lifeline import Lifeline
from l7lb.demo.policy import (
    HTTP_PORT,
    HTTPS_PORT,
    REALSERVER_PORTS,
    demo_policy_text,
    director_policy,
)

NO_REDIS = """\
l7lb demo --directors 2: the two directors share their state through Redis, and
redis-server is not installed. Install it, then run this again:
    apt-get install redis-server        (Debian, Ubuntu)
(the one-director demo, l7lb demo, does not need it)
"""


@dataclass
class Director:
    number: int
    http_port: int
    https_port: int
    proc: subprocess.Popen[bytes] | None = None
    serving: threading.Event = field(default_factory=threading.Event)


def _relay(director: Director, stream: IO[bytes]) -> None:
    """Copy a director's log to our stderr, each line marked with its number; note when it
    serves."""
    for raw in stream:
        line = raw.decode(errors="replace").rstrip("\n")
        if " supervisor: INFO: serving " in line:
            director.serving.set()
        print(f"[director {director.number}] {line}", file=sys.stderr, flush=True)


def _say(text: str) -> None:
    for line in text.splitlines():
        print(f"l7lb demo: {line}" if line else "l7lb demo:", file=sys.stderr)
    sys.stderr.flush()


def instructions(directors: list[Director], store_url: str, realservers: list[int]) -> str:
    """What the demo shows, and how to see it (printed once both directors serve)."""
    one, two = directors
    program = sys.argv[0] if os.path.basename(sys.argv[0]) == "l7lb" else "l7lb"
    session = shlex.quote(os.path.join(tempfile.gettempdir(), "l7lb-demo.session"))
    jar = shlex.quote(os.path.join(tempfile.gettempdir(), "l7lb-demo.jar"))

    def s_client(port: int, flag: str) -> str:
        return (
            f"openssl s_client -connect 127.0.0.1:{port} -servername localhost -tls1_2"
            f" -no_ticket {flag} {session} </dev/null 2>/dev/null | grep -E '^(New|Reused),'"
        )

    bench = shlex.join(
        [program, "bench", f"https://localhost:{one.https_port}/",
         f"https://localhost:{two.https_port}/", "--share-sessions", "--new-conn",
         "--tls-resume", "id", "--tls-version", "1.2", "-k", "-d", "10"]
    )  # fmt: skip
    first, last = realservers[0], realservers[-1]
    return f"""\
two directors share the store {store_url}; realservers on 127.0.0.1:{first}-{last}
  director 1: http://127.0.0.1:{one.http_port}/  https://localhost:{one.https_port}/
  director 2: http://127.0.0.1:{two.http_port}/  https://localhost:{two.https_port}/

A TLS session made on director 1 resumes on director 2 ("New," then "Reused,"):
  {s_client(one.https_port, "-sess_out")}
  {s_client(two.https_port, "-sess_in")}

A client stuck to its realserver by the cookie stays there on either director:
  curl -s -c {jar} http://127.0.0.1:{one.http_port}/
  curl -s -b {jar} http://127.0.0.1:{two.http_port}/
  curl -s -b {jar} http://127.0.0.1:{one.http_port}/

TLS resumption across the directors under load (the resumed ratio is in the report):
  {bench}

Ctrl-C stops everything.
"""


def run_two_directors(workers: int | None, offset: int) -> int:
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        print(NO_REDIS, end="", file=sys.stderr)
        return 2
    from l7lb.tls.certtool import ensure_demo_certs

    ensure_demo_certs("certs")  # the policy names certs/demo.pem, relative to here
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    workdir = tempfile.mkdtemp(prefix="l7lb-demo-")
    line = Lifeline()
    redis: subprocess.Popen[bytes] | None = None
    realservers: subprocess.Popen[bytes] | None = None
    directors = [
        Director(n, HTTP_PORT + offset + n - 1, HTTPS_PORT + offset + n - 1) for n in (1, 2)
    ]
    try:
        # redis-server first: it is tied to us between fork and exec, before any thread.
        store_port = free_port()
        redis = program_child(
            [redis_server, "--port", str(store_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        if not wait_listening(store_port, 10.0, redis):
            _say(f"redis-server did not start on 127.0.0.1:{store_port}")
            return 1
        store_url = f"redis://127.0.0.1:{store_port}/0"
        ports = [p + offset for p in REALSERVER_PORTS]
        realservers = start_realservers(ports, line)
        if not realservers_listening(ports, realservers):
            _say(f"the realservers did not start on 127.0.0.1:{ports[0]}-{ports[-1]}")
            return 1
        text = demo_policy_text()
        for d in directors:
            path = Path(workdir) / f"director-{d.number}.toml"
            path.write_text(director_policy(text, d.number, store_url, offset=offset))
            args = ["-c", str(path)] + (["--workers", str(workers)] if workers else [])
            d.proc = python_child("l7lb.demo.director", args, line, stderr=subprocess.PIPE)
            assert d.proc.stderr is not None
            threading.Thread(target=_relay, args=(d, d.proc.stderr), daemon=True).start()
        deadline = time.monotonic() + 60
        while not all(d.serving.is_set() for d in directors):
            failed = [d for d in directors if d.proc is not None and d.proc.poll() is not None]
            if failed or stopping.is_set() or time.monotonic() > deadline:
                if failed:
                    _say(f"director {failed[0].number} did not start (its log is above)")
                return 1
            time.sleep(0.1)
        _say(instructions(directors, store_url, ports))
        while not stopping.is_set():
            gone = [
                name
                for name, proc in [("redis-server", redis), ("the realservers", realservers)]
                + [(f"director {d.number}", d.proc) for d in directors]
                if proc is not None and proc.poll() is not None
            ]
            if gone:
                _say(f"{gone[0]} stopped; stopping the demo")
                return 1
            stopping.wait(0.5)
        return 0
    finally:
        for d in directors:  # SIGTERM: they drain, like any director
            stop(d.proc, signal.SIGTERM, wait=15.0)
        stop(realservers, signal.SIGKILL)
        stop(redis, signal.SIGKILL)
        line.close()
        shutil.rmtree(workdir, ignore_errors=True)
