"""Real redis-server and memcached processes on 127.0.0.1 (shared by tests/store and
tests/e2e): ``ServerProc`` starts, stops and restarts one engine on a fixed port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from l7lb.store.settings import StoreSettings

SESSION_KEY = bytes(range(32))
# The store deadline (seconds) of tests whose subject is not a deadline: long enough that a
# busy machine never turns an answer into "nothing", short enough to end a hung test.
GENEROUS = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, deadline: float = 5.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with socket.socket() as s, contextlib.suppress(OSError):
            s.settimeout(0.2)
            s.connect(("127.0.0.1", port))
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {deadline}s")


class ServerProc:
    """One engine process; ``stop`` and ``start`` keep the same port."""

    def __init__(self, engine: str, workdir: Path) -> None:
        self.engine = engine
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.extra_args: list[str] = []

    @property
    def url(self) -> str:
        return f"{self.engine}://127.0.0.1:{self.port}" + ("/0" if self.engine == "redis" else "")

    def argv(self) -> list[str]:
        if self.engine == "redis":
            return [
                "redis-server",
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
                "--protected-mode", "no",
                *self.extra_args,
            ]  # fmt: skip
        argv = ["memcached", "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "16"]
        if os.geteuid() == 0:
            argv += ["-u", "root"]  # memcached refuses to run as root without -u
        return argv

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.workdir
        )
        wait_listening(self.port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def settings(self, namespace: str = "", **overrides: object) -> StoreSettings:
        kw: dict[str, object] = {
            "url": self.url,
            "engine": self.engine,
            "host": "127.0.0.1",
            "port": self.port,
            "namespace": namespace or "t" + uuid.uuid4().hex[:12],
            "session_keys": (SESSION_KEY,),
            # Generous: on a loaded machine a 200 ms deadline turned hits into misses (issue
            # 15, section 8). Tests about deadlines set their own tight ones.
            "timeout": GENEROUS,
            "write_timeout": GENEROUS,
        }
        kw.update(overrides)
        return StoreSettings(**kw)  # type: ignore[arg-type]


def ip_certificate(workdir: Path, name: str = "redis") -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (an IP SAN, which hostname checks need), made
    by the openssl command: (certificate, key) paths. It is its own CA."""
    cert, key = workdir / f"{name}.pem", workdir / f"{name}.key"
    argv = [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    subprocess.run(
        argv,
        check=True,
        capture_output=True,
        timeout=30,
    )
    return str(cert), str(key)


class TlsRedisProc(ServerProc):
    """redis-server speaking TLS only (``tls-port``; Debian's build has it), with a
    self-signed certificate for 127.0.0.1: ``url`` is ``rediss://`` naming it as the CA."""

    def __init__(self, workdir: Path) -> None:
        super().__init__("redis", workdir)
        self.cert, self.key = ip_certificate(workdir)
        self.extra_args = [
            "--port", "0", "--tls-port", str(self.port),
            "--tls-cert-file", self.cert, "--tls-key-file", self.key,
            "--tls-ca-cert-file", self.cert, "--tls-auth-clients", "no",
        ]  # fmt: skip

    @property
    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.cert}"

    def settings(self, namespace: str = "", **overrides: object) -> StoreSettings:
        tls: dict[str, object] = {"tls": True, "tls_ca_file": self.cert}
        return super().settings(namespace, **{**tls, **overrides})


def redis_client(port: int, timeout: float = 1.0):  # type: ignore[no-untyped-def]
    """redis-py's sync client for a redis-server or sentinel on 127.0.0.1 (close it)."""
    import redis

    return redis.Redis(
        host="127.0.0.1", port=port, socket_timeout=timeout, socket_connect_timeout=timeout
    )


class SentinelGroup:
    """A Redis master, one replica and three sentinels on 127.0.0.1 (Debian
    ``redis-sentinel``), tuned to fail over in a few seconds.

    ``down_after`` is how long the sentinels wait before they call the master
    down; ``failover_timeout`` bounds one failover attempt (and the wait
    before another sentinel may try again), so a busy machine that misses one
    election still fails over within a few seconds.
    """

    SERVICE = "mymaster"

    def __init__(
        self, workdir: Path, down_after_ms: int = 1000, failover_timeout_ms: int = 3000
    ) -> None:
        self.workdir = workdir
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.master = ServerProc("redis", workdir / "master")
        self.replica = ServerProc("redis", workdir / "replica")
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.SERVICE}"

    def start(self, deadline: float = 30.0) -> None:
        for server in (self.master, self.replica):
            server.workdir.mkdir(parents=True, exist_ok=True)
        self.master.start()
        self.replica.extra_args = ["--replicaof", "127.0.0.1", str(self.master.port)]
        self.replica.start()
        for i, port in enumerate(self.sentinel_ports):
            folder = self.workdir / f"sentinel{i}"
            folder.mkdir(parents=True, exist_ok=True)
            conf = folder / "sentinel.conf"  # sentinels rewrite their file: one each
            conf.write_text(
                f"port {port}\n"
                "bind 127.0.0.1\n"
                "protected-mode no\n"
                f"dir {folder}\n"
                f"sentinel monitor {self.SERVICE} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {self.SERVICE} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.SERVICE} {self.failover_timeout_ms}\n"
                f"sentinel parallel-syncs {self.SERVICE} 1\n"
            )
            proc = subprocess.Popen(
                ["redis-sentinel", str(conf)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=folder,
            )
            self.sentinels.append(proc)
            wait_listening(port)
        self.wait_ready(deadline)

    def wait_ready(self, deadline: float) -> None:
        """Until every sentinel knows the two others and the replica, and the
        replica is in sync: only then can a failover succeed."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self._ready():
                return
            time.sleep(0.2)
        raise RuntimeError("the sentinels did not discover each other and the replica")

    def _ready(self) -> bool:
        try:
            with redis_client(self.replica.port) as r:
                if r.info("replication").get("master_link_status") != "up":
                    return False
            for port in self.sentinel_ports:
                with redis_client(port) as r:
                    state = r.sentinel_master(self.SERVICE)
                if state["num-other-sentinels"] < 2 or state["num-slaves"] < 1:
                    return False
        except Exception:
            return False
        return True

    def master_port(self) -> int | None:
        """The master's port as a majority of the sentinels see it, None if they disagree."""
        seen: dict[int, int] = {}
        for port in self.sentinel_ports:
            try:
                with redis_client(port) as r:
                    _, master = r.sentinel_get_master_addr_by_name(self.SERVICE)
            except Exception:
                continue
            seen[int(master)] = seen.get(int(master), 0) + 1
        best = max(seen.items(), key=lambda kv: kv[1], default=None)
        return best[0] if best and best[1] >= 2 else None

    def stop(self) -> None:
        for proc in self.sentinels:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        self.sentinels.clear()
        self.master.stop()
        self.replica.stop()


class DelayProxy:
    """A TCP proxy on 127.0.0.1 (in a thread) that holds every reply ``delay``
    seconds: a store that answers slowly."""

    def __init__(self, target_port: int, delay: float) -> None:
        import asyncio
        import threading

        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.tasks: set[asyncio.Task[None]] = set()
        ready = threading.Event()

        async def pump(reader, writer, hold: float) -> None:
            try:
                while data := await reader.read(65536):
                    if hold:
                        await asyncio.sleep(hold)
                    writer.write(data)
                    await writer.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        async def handle(reader, writer) -> None:
            try:
                up_r, up_w = await asyncio.open_connection("127.0.0.1", target_port)
            except OSError:
                writer.close()
                return
            for coro in (pump(reader, up_w, 0.0), pump(up_r, writer, delay)):
                task = asyncio.ensure_future(coro)
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

        async def main() -> None:
            self.server = await asyncio.start_server(handle, "127.0.0.1", self.port)
            ready.set()

        def run() -> None:
            self.loop.run_until_complete(main())
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(5)

    def stop(self) -> None:
        import asyncio

        async def shutdown() -> None:
            self.server.close()
            for t in list(self.tasks):
                t.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
