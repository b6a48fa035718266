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
            "timeout": 0.2,  # generous: a loaded CI machine must not turn hits into misses
            "write_timeout": 0.5,
        }
        kw.update(overrides)
        return StoreSettings(**kw)  # type: ignore[arg-type]


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
