"""The supervisor: owns the listening sockets, runs and replaces workers.

Listening sockets are bound once here and passed to every worker; they are
never closed during a reload, so the kernel's accept queue carries
connections across a reload and none is refused. A reload validates the new
file first (a bad one is logged and ignored), starts a new generation of
workers on the new configuration, waits until each says ``ready``, and only
then asks the old generation to drain and exit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from l7lb.config.load import ConfigError, load_config
from l7lb.config.model import Address, Config
from l7lb.control import LineDecoder, encode
from l7lb.tls.certinfo import CertificateError
from l7lb.tls.context import TlsConfigError, build_vip_tls
from l7lb.tls.session_server import SessionServer
from l7lb.tls.settings import TlsSettings
from l7lb.tls.ticketkeys import TicketKeyRing

log = logging.getLogger("l7lb.supervisor")

READY_TIMEOUT = 15.0


@dataclass(eq=False)
class WorkerProc:
    index: int
    generation: int
    proc: asyncio.subprocess.Process
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    ready: asyncio.Future[bool]
    retiring: bool = False
    watcher: asyncio.Task[None] | None = field(default=None)


def bind(addr: Address) -> socket.socket:
    family = socket.AF_INET6 if ":" in addr.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((addr.host, addr.port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {addr}: {exc.strerror}") from None
    sock.listen(1024)
    return sock


def certificate_errors(config: Config) -> list[str]:
    """Build every TLS VIP's contexts once: a certificate that cannot serve
    (unreadable, key mismatch, expired, chain out of order) is reported here,
    before any worker is started on it."""
    errors = []
    for vip in config.vips:
        if isinstance(vip.tls, TlsSettings):
            try:
                build_vip_tls(vip.name, vip.tls)
            except (CertificateError, TlsConfigError) as exc:
                errors.append(f'vip "{vip.name}" tls: {exc}')
    return errors


def ticket_rotation(config: Config) -> float | None:
    periods = [v.tls.ticket_rotation for v in config.vips if isinstance(v.tls, TlsSettings)]
    return min(periods) if periods else None


class Supervisor:
    def __init__(self, config_path: str | None, config: Config, workers: int | None = None):
        self.config_path = config_path
        self.config = config
        self.workers_override = workers
        self.sockets: dict[str, socket.socket] = {}
        self.procs: list[WorkerProc] = []
        self.generation = 0
        self.stopping = False
        self.reloading: asyncio.Lock | None = None
        self.exit_code = 0
        self.started: asyncio.Event | None = None
        # state every worker must share, replayed to new workers (see snapshot())
        self.health: dict[tuple[str, str], bool] = {}
        self.admin: dict[tuple[str, str], dict[str, Any]] = {}
        self.stats_waiters: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.session_server: SessionServer | None = None
        self.session_path = ""
        self._tmpdir = ""
        self._stats_id = 0

    def worker_count(self, config: Config) -> int:
        if self.workers_override:
            return self.workers_override
        return config.workers or os.cpu_count() or 1

    def _bind_all(self, config: Config) -> None:
        for vip in config.vips:
            for addr in vip.listen:
                key = str(addr)
                if key not in self.sockets:
                    self.sockets[key] = bind(addr)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.reloading = asyncio.Lock()
        self.started = asyncio.Event()
        self._bind_all(self.config)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload()))
        errors = certificate_errors(self.config)
        if errors:
            for e in errors:
                log.error("%s", e)
            return 2
        await self._ensure_session_server(self.config)
        ok = await self._start_generation(self.config)
        if not ok:
            log.error("workers did not start; exiting")
            await self._stop_all(self.procs)
            return 1
        listen = ", ".join(sorted(self.sockets))
        log.info(
            "serving %s with %d workers (pid %d)", listen, self.worker_count(self.config), os.getpid()
        )
        self.started.set()
        await stop.wait()
        self.stopping = True
        log.info("stopping: draining workers (up to %.0fs)", self.config.timeouts.drain)
        await self._stop_all(self.procs)
        for s in self.sockets.values():
            s.close()
        if self.session_server is not None:
            await self.session_server.close()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
        log.info("stopped")
        return self.exit_code

    async def _ensure_session_server(self, config: Config) -> None:
        """TLS VIPs share sessions and ticket keys across workers through a
        store the supervisor serves on a private Unix socket."""
        rotation = ticket_rotation(config)
        if rotation is None:
            return
        if self.session_server is None:
            self._tmpdir = tempfile.mkdtemp(prefix="l7lb-")  # mode 0700
            self.session_path = os.path.join(self._tmpdir, "sessions.sock")
            self.session_server = SessionServer(
                ring=TicketKeyRing.generate(time.time()), rotation=rotation
            )
            await self.session_server.start(self.session_path)
        self.session_server.rotation = rotation

    async def _spawn(self, config: Config, index: int, generation: int) -> WorkerProc:
        loop = asyncio.get_running_loop()
        parent, child = socket.socketpair()
        fds = [child.fileno()]
        args = [sys.executable, "-m", "l7lb.worker", "--control", str(child.fileno())]
        args += ["--index", str(index), "--log-level", config.log.level]
        if self.session_path:
            args += ["--session-server", self.session_path]
        for vip in config.vips:
            for addr in vip.listen:
                s = self.sockets[str(addr)]
                fds.append(s.fileno())
                args += ["--listen", f"{addr}={s.fileno()}"]
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE, pass_fds=fds
        )
        child.close()
        assert proc.stdin is not None
        proc.stdin.write(config.source.encode())
        await proc.stdin.drain()
        proc.stdin.close()
        reader, writer = await asyncio.open_unix_connection(sock=parent)
        wp = WorkerProc(index, generation, proc, reader, writer, loop.create_future())
        wp.watcher = loop.create_task(self._watch(wp, config))
        return wp

    def send(self, wp: WorkerProc, msg: dict[str, Any]) -> None:
        if not wp.writer.is_closing():
            wp.writer.write(encode(msg))

    def broadcast(self, msg: dict[str, Any], exclude: WorkerProc | None = None) -> None:
        """To every ready worker of the current generation (and the one starting)."""
        for wp in self.procs:
            if wp is not exclude and not wp.retiring and wp.ready.done():
                self.send(wp, msg)

    def snapshot(self) -> list[dict[str, Any]]:
        """What a new worker must be told to behave like the others."""
        msgs: list[dict[str, Any]] = []
        for (pool, server), up in self.health.items():
            msgs.append({"t": "health", "pool": pool, "server": server, "up": up})
        for (pool, server), st in self.admin.items():
            msgs.append({"t": "admin", "pool": pool, "server": server, **st})
        return msgs

    def on_worker_message(self, wp: WorkerProc, msg: dict[str, Any]) -> None:
        t = msg["t"]
        if t == "stats":
            fut = self.stats_waiters.get(msg.get("id", -1))
            if fut is not None and not fut.done():
                fut.set_result(msg)

    async def _watch(self, wp: WorkerProc, config: Config) -> None:
        decoder = LineDecoder()
        try:
            while True:
                data = await wp.reader.read(65536)
                if not data:
                    break
                for msg in decoder.feed(data):
                    if msg["t"] == "ready":
                        if not wp.ready.done():
                            for m in self.snapshot():
                                self.send(wp, m)
                            wp.ready.set_result(True)
                    else:
                        self.on_worker_message(wp, msg)
        except OSError:
            pass
        if not wp.ready.done():
            wp.ready.set_result(False)
        code = await wp.proc.wait()
        wp.writer.close()
        if wp in self.procs:
            self.procs.remove(wp)
        if self.stopping or wp.retiring:
            return
        log.error(
            "worker %d (pid %d) exited with status %s; restarting it",
            wp.index,
            wp.proc.pid,
            code,
        )
        await asyncio.sleep(0.5)  # a worker that dies at start must not spin the CPU
        if self.stopping or wp.generation != self.generation:
            return
        nwp = await self._spawn(config, wp.index, wp.generation)
        self.procs.append(nwp)

    async def _start_generation(self, config: Config) -> bool:
        self.generation += 1
        gen = self.generation
        new = [await self._spawn(config, i, gen) for i in range(self.worker_count(config))]
        self.procs.extend(new)
        try:
            results = await asyncio.wait_for(
                asyncio.gather(*(w.ready for w in new)), READY_TIMEOUT
            )
        except asyncio.TimeoutError:
            results = [False]
        if all(results):
            return True
        log.error("new workers failed to become ready; keeping the previous generation")
        self.generation -= 1
        for w in new:
            w.retiring = True
        await self._stop_all(new)
        return False

    async def reload(self) -> bool:
        assert self.reloading is not None
        async with self.reloading:
            if self.stopping or self.config_path is None:
                return False
            log.info("reload: reading %s", self.config_path)
            try:
                config = load_config(self.config_path)
            except ConfigError as exc:
                for issue in exc.errors:
                    log.error("reload rejected: %s", issue)
                log.error("reload rejected: keeping the running configuration")
                return False
            except OSError as exc:
                log.error("reload rejected: cannot read %s: %s", self.config_path, exc)
                return False
            errors = certificate_errors(config)
            if errors:
                for e in errors:
                    log.error("reload rejected: %s", e)
                log.error("reload rejected: keeping the running configuration")
                return False
            await self._ensure_session_server(config)
            try:
                self._bind_all(config)
            except OSError as exc:
                log.error("reload rejected: %s", exc)
                return False
            old = [w for w in self.procs]
            if not await self._start_generation(config):
                return False
            self.config = config
            for w in old:
                w.retiring = True
            await self._stop_all(old)
            wanted = {str(a) for v in config.vips for a in v.listen}
            for key in list(self.sockets):
                if key not in wanted:
                    self.sockets.pop(key).close()
            log.info("reload: done (generation %d)", self.generation)
            return True

    async def _stop_all(self, procs: list[WorkerProc]) -> None:
        for w in procs:
            w.retiring = True
            if w.proc.returncode is None:
                try:
                    w.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        grace = self.config.timeouts.drain + 5.0
        waits = [w.proc.wait() for w in procs if w.proc.returncode is None]
        if waits:
            done, pending = await asyncio.wait(
                [asyncio.ensure_future(x) for x in waits], timeout=grace
            )
            if pending:
                for w in procs:
                    if w.proc.returncode is None:
                        log.error("worker pid %d did not stop in time; killing it", w.proc.pid)
                        w.proc.kill()
                await asyncio.wait(pending, timeout=5.0)
