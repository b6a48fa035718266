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
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from typing import Any

from l7lb import native
from l7lb.admin import pidfile
from l7lb.admin.api import AdminApi
from l7lb.admin.commands import (
    ReloadVerdict,
    ServerRow,
    UnknownServer,
    format_left,
    merge_tls,
)
from l7lb.admin.http_server import AdminHttpServer
from l7lb.admin.metrics_routes import MetricsRoutes
from l7lb.admin.server import AdminServer
from l7lb.config.health_targets import check_targets
from l7lb.config.load import ConfigError, load_config
from l7lb.config.model import Address, Config
from l7lb.control import (
    Admin,
    Claim,
    Claimed,
    Health,
    LimitDeltas,
    LineDecoder,
    Message,
    Metrics,
    MetricsQuery,
    Ready,
    Stats,
    StatsQuery,
    Stick,
    encode,
)
from l7lb.health.checker import HealthChecker
from l7lb.limits.board import LimitBoard, LimitRow
from l7lb.metrics.aggregate import DirectorMetrics, View
from l7lb.metrics.exposition import Director, ServerInfo
from l7lb.metrics.snapshot import store_snapshot
from l7lb.persistence.shared import StickTables, StickUpdate
from l7lb.store.backend import SharedStore, open_store
from l7lb.store.limits import LimitStore
from l7lb.store.stick import StickStore
from l7lb.store.ticketkeys import fetch_or_rotate
from l7lb.tls.certinfo import CertificateError
from l7lb.tls.context import TlsConfigError, build_vip_tls
from l7lb.tls.session_server import SessionServer
from l7lb.tls.settings import TlsSettings
from l7lb.tls.ticketkeyfile import load_ticket_key_file
from l7lb.tls.ticketkeys import TicketKeyRing

log = logging.getLogger("l7lb.supervisor")

READY_TIMEOUT = 15.0
# A persistence lookup that misses is answered after this long, once the loop has
# handled what other workers sent meanwhile (workers wait 50 ms at most).
CLAIM_RECHECK = 0.003
# [vip.limits] with a shared store: how often this director adds its counts to the store
# (and learns the others'), and at most how many addresses a time
LIMIT_FLUSH = 1.0
LIMIT_FLUSH_CAP = 256
LIMIT_BATCH = 2000  # source deltas per control message
SHOW_LIMITS_TOP = 20  # addresses per VIP in show limits


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
        self.draining = False  # stopping: /healthz says 503 from here on
        self._stop: asyncio.Event | None = None
        self._skip_grace: asyncio.Event | None = None
        self.reload_seq = 0
        self._background: set[asyncio.Task[ReloadVerdict]] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self.reloading: asyncio.Lock | None = None
        self.exit_code = 0
        self.started: asyncio.Event | None = None
        # state every worker must share, replayed to new workers (see snapshot())
        self.health: dict[tuple[str, str], bool] = {}
        self.admin: dict[tuple[str, str], dict[str, Any]] = {}
        self.stats_waiters: dict[int, asyncio.Future[Stats]] = {}
        self.tables = StickTables()
        self.store: SharedStore | None = None
        self.store_settings: Any = None  # the [store] the open store was built from
        self.stick_store: StickStore | None = None
        self.limit_store: LimitStore | None = None
        self.limit_boards: dict[str, LimitBoard] = {}  # vip name -> [vip.limits] counts
        self.checker: HealthChecker | None = None
        self.admin_server: AdminServer | None = None
        self.admin_http: AdminHttpServer | None = None
        self.admin_api = AdminApi(self, lambda: self.config.admin.token)
        self.pid_file = ""  # the one written at start (pid_file is read at start only)
        self.session_server: SessionServer | None = None
        self.session_path = ""
        self._tmpdir = ""
        self._stats_id = 0
        # /metrics: the workers' reports, summed (l7lb.metrics), and the supervisor's own
        self.metrics = DirectorMetrics()
        self.metrics_waiters: dict[int, asyncio.Future[None]] = {}
        self.reloads = 0
        self.reload_failures = 0
        self.worker_restarts = 0
        self.metrics_routes = MetricsRoutes(self)
        self.metrics_routes.install(self.admin_api.router)

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
        """Serve until stopped; the exit status. The pid file (if any) exists
        exactly while this runs."""
        if self.config.pid_file:
            try:
                note = pidfile.acquire(self.config.pid_file, os.getpid())
            except pidfile.PidFileError as exc:
                log.error("%s", exc)
                return 1
            if note:
                log.warning("%s: replacing it", note)
            self.pid_file = self.config.pid_file
        try:
            return await self._run()
        finally:
            if self.pid_file:
                pidfile.release(self.pid_file, os.getpid())

    def request_stop(self, grace: bool = True) -> int:
        """Stop as on SIGTERM (``grace``: /healthz fails for drain_grace first) or
        on SIGINT (no grace). A second request during the grace ends it."""
        assert self._stop is not None and self._skip_grace is not None
        if self._stop.is_set() or not grace:
            self._skip_grace.set()
        # now, not when the run task next wakes: a /healthz read right after the
        # signal must already fail
        self.draining = True
        self._stop.set()
        return os.getpid()

    def _reload_in_background(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def health_state(self) -> str:
        if self.draining:
            return "draining"
        assert self.started is not None
        return "ok" if self.started.is_set() else "starting"

    async def _run(self) -> int:
        loop = asyncio.get_running_loop()
        self.reloading = asyncio.Lock()
        self.started = asyncio.Event()
        self._stop = stop = asyncio.Event()
        self._skip_grace = asyncio.Event()
        self._bind_all(self.config)
        # bound before the workers start, like a VIP: a listener that cannot be had
        # stops the start, rather than leave the L4 checker without /healthz
        self._install_admin_http(self.config, await self._bind_admin_http(self.config))
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop, False)
        loop.add_signal_handler(signal.SIGHUP, self._reload_in_background)
        errors = certificate_errors(self.config)
        if errors:
            for e in errors:
                log.error("%s", e)
            return 2
        await self._ensure_session_server(self.config)
        await self._open_store(self.config)
        await self._refresh_ring(self.config)
        self._configure_tables(self.config)
        self._configure_limits(self.config)
        ok = await self._start_generation(self.config)
        if not ok:
            log.error("workers did not start; exiting")
            await self._stop_all(self.procs)
            return 1
        listen = ", ".join(sorted(self.sockets))
        log.info(
            "serving %s with %d workers (pid %d); %s",
            listen,
            self.worker_count(self.config),
            os.getpid(),
            native.describe(),
        )
        # checks run here, once per director, whatever the number of workers
        ring_task = loop.create_task(self._ring_loop())
        limits_task = loop.create_task(self._limits_loop())
        self.checker = HealthChecker(check_targets(self.config), self.on_health)
        await self.checker.start()
        await self._start_admin(self.config)
        self.started.set()
        await stop.wait()
        await self._grace()
        self.stopping = True
        log.info("stopping: draining workers (up to %.0fs)", self.config.timeouts.drain)
        # Our copies of the listening sockets go now: once the workers close theirs,
        # a new connection is refused at once instead of waiting in a queue no one reads.
        for s in self.sockets.values():
            s.close()
        await self._stop_all(self.procs)
        ring_task.cancel()
        limits_task.cancel()
        if self.checker is not None:
            await self.checker.stop()
        if self.store is not None:
            await self.store.drain()
            await self.store.close()
        if self.admin_server is not None:
            await self.admin_server.close()
        if self.admin_http is not None:
            await self.admin_http.close()
        if self.session_server is not None:
            await self.session_server.close()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
        log.info("stopped")
        return self.exit_code

    async def _grace(self) -> None:
        """drain_grace (HAProxy's grace): /healthz answers 503 and the workers keep
        accepting and serving, so the L4 checker takes this director out before
        it stops accepting. A second SIGTERM (or SIGINT) cuts it short."""
        assert self._skip_grace is not None
        self.draining = True
        grace = self.config.timeouts.drain_grace
        if grace <= 0 or self._skip_grace.is_set():
            return
        log.info("stopping: /healthz fails for %gs (drain_grace) while serving", grace)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._skip_grace.wait(), grace)

    async def _start_admin(self, config: Config) -> None:
        path = config.admin_socket
        if self.admin_server is not None and self.admin_server.path == path:
            return
        if self.admin_server is not None:
            await self.admin_server.close()
            self.admin_server = None
        if path:
            self.admin_server = AdminServer(path, self)
            try:
                await self.admin_server.start()
            except OSError as exc:
                log.error("admin socket %s: %s", path, exc)
                self.admin_server = None

    async def _bind_admin_http(self, config: Config) -> AdminHttpServer | None:
        """A new admin HTTP listener when ``config`` moves it (or starts it);
        None when it stays where it is or is off. OSError naming the address
        when it cannot be bound."""
        a = config.admin
        cur = self.admin_http
        if a.listen is None or (cur is not None and a.listen == cur.address):
            return None
        server = AdminHttpServer(
            a.listen,
            self.admin_api.respond,
            parser_kind=config.http.parser,
            max_connections=a.max_connections,
            timeout=a.timeout,
        )
        try:
            await server.start()
        except OSError as exc:
            # asyncio's message repeats the address; the errno's text says it all
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise OSError(exc.errno, f"cannot listen on admin {a.listen}: {reason}") from None
        return server

    def _install_admin_http(self, config: Config, new: AdminHttpServer | None) -> None:
        """Make ``new`` (from _bind_admin_http) the listener, or apply ``config``'s
        limits to the one in place; the old one closes in the background."""
        cur = self.admin_http
        if new is not None or config.admin.listen is None:
            if cur is not None:
                task = asyncio.get_running_loop().create_task(cur.close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            self.admin_http = new
            if new is not None:
                log.info("admin listener on http://%s/", new.address)
        elif cur is not None:
            cur.max_connections, cur.timeout = config.admin.max_connections, config.admin.timeout

    async def _open_store(self, config: Config) -> None:
        """The shared store ([store]): persistence entries and the cluster's ticket
        keys go there; workers open their own connection for TLS sessions."""
        st = config.store
        if st is None or not st.shared:
            if self.store is not None:  # a reload went back to the embedded default
                await self.store.drain()
                await self.store.close()
                self.store = self.stick_store = self.store_settings = None
                self.limit_store = None
            return
        if self.store is None or self.store_settings != st:
            if self.store is not None:
                await self.store.close()
            self.store = open_store(st)
            self.store_settings = st
            self.stick_store = StickStore(self.store)
            self.limit_store = LimitStore(self.store)
            log.info("shared store %s (namespace %s)", st.display_url, st.namespace)

    async def _refresh_ring(self, config: Config) -> None:
        """The cluster ring: from the operator's key file, or from the store,
        where whichever director finds it due rotates it (create-if-absent)."""
        st = config.store
        if self.session_server is None or st is None or not st.shared:
            return
        if st.ticket_key_file:
            try:
                ring = load_ticket_key_file(st.ticket_key_file)
            except (OSError, ValueError) as exc:
                log.error(
                    "ticket key file %s: %s (keeping the keys in use)", st.ticket_key_file, exc
                )
                return
        else:
            assert self.store is not None
            ring = await fetch_or_rotate(
                self.store,
                st.namespace,
                time.time(),
                st.ticket_rotation,
                st.ticket_max_age,
                local=self.session_server.ring(),
            )
        self.session_server.set_ring(ring)

    async def _ring_loop(self) -> None:
        while True:
            st = self.config.store
            rotation = st.ticket_rotation if st is not None else 3600.0
            await asyncio.sleep(min(30.0, rotation / 4))
            try:
                await self._refresh_ring(self.config)
            except Exception:  # a bad ring must not end the refreshes
                log.exception("ticket key refresh failed")

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
        if self.config_path:
            args += ["--origin", self.config_path]
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

    def send(self, wp: WorkerProc, msg: Message) -> None:
        if not wp.writer.is_closing():
            wp.writer.write(encode(msg))

    def broadcast(self, msg: Message, exclude: WorkerProc | None = None) -> None:
        """To every ready worker of the current generation (and the one starting)."""
        for wp in self.procs:
            if wp is not exclude and not wp.retiring and wp.ready.done():
                self.send(wp, msg)

    def snapshot(self) -> list[Message]:
        """What a new worker must be told to behave like the others."""
        msgs: list[Message] = []
        for (pool, server), up in self.health.items():
            msgs.append(Health(pool, server, up))
        for (pool, server), st in self.admin.items():
            msgs.append(Admin(pool, server, st.get("weight"), st.get("state"), st.get("deadline")))
        now = time.time()
        batch: list[StickUpdate] = []
        for name in self.tables.names():
            table = self.tables.get(name)
            assert table is not None
            for key, server in table.items(now):
                batch.append(StickUpdate(name, key, server))
                if len(batch) >= 1000:
                    msgs.append(Stick(tuple(batch)))
                    batch = []
        if batch:
            msgs.append(Stick(tuple(batch)))
        wall = time.time()
        for board in self.limit_boards.values():
            msgs += self._limit_messages(board, board.snapshot(wall))
        return msgs

    def _claim(self, wp: WorkerProc, msg: Claim) -> None:
        """A worker met a key its table lacks. Answer the entry we know (asking the
        shared store, if any, with its short deadline); if none, the worker's
        proposal (if any) becomes the entry, for every worker and every director:
        the first claim wins, so no client is stuck to two servers."""
        u = msg.update
        cid = msg.id
        known = self._known(u)
        if known is not None:
            self._settle_claim(wp, cid, u, known)
        elif not u.server:
            # A lookup (a learned session id): the entry may sit in another worker's
            # message that this loop has read but not handled yet, since readiness
            # order is not arrival order (CI saw the race once in ~10 runs). Look
            # again a moment later, then ask the store.
            loop = asyncio.get_running_loop()
            loop.call_later(CLAIM_RECHECK, self._claim_rechecked, wp, cid, u)
        else:
            self._claim_miss(wp, cid, u)

    def _known(self, u: StickUpdate) -> str | None:
        table = self.tables.get(u.table)
        return table.get(u.key, time.time()) if table is not None else None

    def _claim_rechecked(self, wp: WorkerProc, cid: int, u: StickUpdate) -> None:
        known = self._known(u)
        if known is not None:
            self._settle_claim(wp, cid, u, known)
        else:
            self._claim_miss(wp, cid, u)

    def _claim_miss(self, wp: WorkerProc, cid: int, u: StickUpdate) -> None:
        if self.stick_store is None:
            self._settle_claim(wp, cid, u, None)
        else:
            asyncio.get_running_loop().create_task(self._claim_from_store(wp, cid, u))

    async def _claim_from_store(self, wp: WorkerProc, cid: int, u: StickUpdate) -> None:
        assert self.stick_store is not None
        stored = await self.stick_store.get(u.table, u.key)
        known = self._known(u)  # a worker of ours may have told us meanwhile
        if known is None and stored is not None:
            table = self.tables.get(u.table)
            if table is not None:
                # learned by another director: every worker here should know it now
                table.put(u.key, stored, time.time())
                self.broadcast(Stick((StickUpdate(u.table, u.key, stored),)))
            known = stored
        self._settle_claim(wp, cid, u, known)

    def _settle_claim(self, wp: WorkerProc, cid: int, u: StickUpdate, known: str | None) -> None:
        table = self.tables.get(u.table)
        if known is None and u.server and table is not None:
            table.put(u.key, u.server, time.time())
            known = u.server
            self.broadcast(Stick((u,)), exclude=wp)
            self._store_entry(u)
        self.send(wp, Claimed(cid, known))

    def _store_entry(self, u: StickUpdate) -> None:
        """Write a persistence entry to the shared store (fire and forget)."""
        table = self.tables.get(u.table)
        if self.stick_store is not None and table is not None:
            self.stick_store.set(u.table, u.key, u.server, table.idle_timeout)

    def _configure_tables(self, config: Config) -> None:
        names = []
        for pool in config.pools.values():
            p = pool.persistence
            if p.uses_table:
                self.tables.table(p.table, p.max_entries, p.timeout)
                names.append(p.table)
        self.tables.retain(names)

    # ---- [vip.limits]: counts shared by the workers, and by directors through the store ----

    def _configure_limits(self, config: Config) -> None:
        """A board per VIP with limits; one whose settings did not change keeps its counts."""
        boards = {}
        for vip in config.vips:
            if vip.limits is None:
                continue
            board = self.limit_boards.get(vip.name)
            if board is None or board.limits != vip.limits:
                board = LimitBoard(vip.name, vip.limits)
            boards[vip.name] = board
        self.limit_boards = boards

    def _limit_messages(self, board: LimitBoard, deltas: list[Any]) -> list[Message]:
        return [
            LimitDeltas(board.vip, board.length, tuple(deltas[i : i + LIMIT_BATCH]))
            for i in range(0, len(deltas), LIMIT_BATCH)
        ]

    def _on_limits(self, wp: WorkerProc, msg: LimitDeltas) -> None:
        """A worker's counts: summed here, and what it saw relayed to the other workers."""
        board = self.limit_boards.get(msg.vip)
        if board is None:
            return  # a VIP (or its limits) the running configuration no longer has
        relay = board.apply(id(wp), msg.deltas, time.time(), msg.length)
        for m in self._limit_messages(board, relay):
            self.broadcast(m, exclude=wp)

    def _limits_worker_gone(self, wp: WorkerProc) -> None:
        for board in self.limit_boards.values():
            for m in self._limit_messages(board, board.worker_gone(id(wp))):
                self.broadcast(m)

    async def _limits_loop(self) -> None:
        """Once a second: forget quiet addresses, and with a shared store add this
        director's counts to it and tell the workers what the other directors counted. A
        store that is slow or down only delays what the workers learn (its deadlines hold,
        no request waits for it)."""
        while True:
            await asyncio.sleep(LIMIT_FLUSH)
            try:
                await self._flush_limits()
            except Exception:  # a bug here must not end the loop
                log.exception("limits: flush failed")

    async def _flush_limits(self) -> None:
        wall = time.time()
        store = self.limit_store
        for board in list(self.limit_boards.values()):
            board.sweep(wall)
            if store is None:
                continue
            ttl = 2 * board.length + 10
            learned = []
            for source, window, n in board.store_plan(wall, LIMIT_FLUSH_CAP):
                total = await store.add(board.vip, window, source, n, ttl)
                if total is None:
                    break  # the store failed: try again next time, outage rules apply
                delta = board.store_result(source, window, n, total)
                if delta is not None:
                    learned.append(delta)
            for m in self._limit_messages(board, learned):
                self.broadcast(m)

    async def limits(self) -> list[LimitRow]:
        """``show limits``: the busiest client addresses of every VIP with limits."""
        wall = time.time()
        rows: list[LimitRow] = []
        for board in self.limit_boards.values():
            rows += board.top(wall, SHOW_LIMITS_TOP)
        return rows

    def on_health(self, pool: str, server: str, up: bool, reason: str) -> None:
        self.health[(pool, server)] = up
        self.broadcast(Health(pool, server, up))

    # ---- the admin socket (l7lb admin ...) -------------------------------------

    def _find(self, pool: str, server: str) -> None:
        p = self.config.pools.get(pool)
        if p is None:
            raise UnknownServer(f"no pool {pool!r} (pools: {', '.join(self.config.pools)})")
        if all(s.name != server for s in p.servers):
            names = ", ".join(s.name for s in p.servers)
            raise UnknownServer(f"pool {pool!r} has no server {server!r} (servers: {names})")

    async def set_weight(self, pool: str, server: str, weight: int) -> str:
        self._find(pool, server)
        self.admin.setdefault((pool, server), {})["weight"] = weight
        self.broadcast(Admin(pool, server, weight=weight))
        log.info("admin: pool %s server %s weight %d", pool, server, weight)
        return f"pool {pool} server {server}: weight {weight}"

    async def set_state(self, pool: str, server: str, state: str, deadline: float = 0.0) -> str:
        self._find(pool, server)
        entry = self.admin.setdefault((pool, server), {})
        entry["state"] = state
        # the deadline as a date, so workers started later (restart, reload) keep it
        entry["deadline"] = time.time() + deadline if state == "drain" and deadline else None
        self.broadcast(Admin(pool, server, state=state, deadline=entry["deadline"]))
        what = state
        if entry["deadline"] is not None:
            what = f"drain, sticky clients move in {format_left(deadline)}"
        log.info("admin: pool %s server %s state %s", pool, server, what)
        return f"pool {pool} server {server}: {what}"

    async def tls_counters(self) -> dict[str, dict[str, Any]]:
        return merge_tls([reply.tls for reply in await self._collect_stats()])

    async def servers(self) -> list[ServerRow]:
        """Rows summed over the workers of the current generation."""
        rows: dict[tuple[str, str], ServerRow] = {}
        for reply in await self._collect_stats():
            for r in reply.servers:
                try:
                    row = ServerRow(**r)
                except TypeError:
                    log.error("a worker's server row has unexpected fields: %r", r)
                    continue
                key = (row.pool, row.server)
                prev = rows.get(key)
                if prev is None:
                    rows[key] = row
                else:
                    rows[key] = replace(
                        prev,
                        active=prev.active + row.active,
                        requests=prev.requests + row.requests,
                        entries=max(prev.entries, row.entries),  # shared tables: same entries
                        sticky=prev.sticky + row.sticky,
                        state="down" if "down" in (prev.state, row.state) else prev.state,
                    )
        now = time.time()
        for key, row in rows.items():
            deadline = self.admin.get(key, {}).get("deadline")
            if deadline is not None and row.state == "drain":
                rows[key] = replace(row, left=max(0.0, deadline - now))
        order = [(p.name, s.name) for p in self.config.pools.values() for s in p.servers]
        return [rows[k] for k in order if k in rows]

    async def _collect_stats(self) -> list[Stats]:
        """Ask every ready worker of the current generation for its counters."""
        loop = asyncio.get_running_loop()
        self._stats_id += 1
        sid = self._stats_id
        workers = [w for w in self.procs if not w.retiring and w.ready.done()]
        futures = []
        for i, w in enumerate(workers):
            fut: asyncio.Future[Stats] = loop.create_future()
            self.stats_waiters[sid * 1000 + i] = fut
            self.send(w, StatsQuery(sid * 1000 + i))
            futures.append(fut)
        try:
            done, _ = await asyncio.wait(futures, timeout=2.0) if futures else (set(), set())
        finally:
            for i in range(len(workers)):
                self.stats_waiters.pop(sid * 1000 + i, None)
        return [fut.result() for fut in done]

    # ---- metrics (GET /metrics, the stats page) ------------------------------------

    async def metrics_view(self) -> tuple[View, Director]:
        """Fresh numbers: every ready worker is asked for a snapshot (up to 1 s), then
        the sum is taken with what the supervisor knows itself."""
        loop = asyncio.get_running_loop()
        self._stats_id += 1
        sid = self._stats_id
        workers = [w for w in self.procs if not w.retiring and w.ready.done()]
        futures = []
        for i, w in enumerate(workers):
            fut: asyncio.Future[None] = loop.create_future()
            self.metrics_waiters[sid * 1000 + i + 1] = fut
            self.send(w, MetricsQuery(sid * 1000 + i + 1))
            futures.append(fut)
        try:
            if futures:
                await asyncio.wait(futures, timeout=1.0)
        finally:
            for i in range(len(workers)):
                self.metrics_waiters.pop(sid * 1000 + i + 1, None)
        return self.metrics.view(), self.director_metrics()

    def director_metrics(self) -> Director:
        """The supervisor's part of a scrape: health, the admin's say, reloads, its store."""
        status = self.checker.status() if self.checker is not None else {}
        pools: dict[str, dict[str, ServerInfo]] = {}
        for pool in self.config.pools.values():
            servers = pools[pool.name] = {}
            for s in pool.servers:
                admin = self.admin.get((pool.name, s.name), {})
                info = ServerInfo(weight=admin.get("weight", s.weight))
                info.admin = admin.get("state") or "ready"
                health = status.get((pool.name, s.name))
                if health is not None:
                    info.up = health.up
                    info.checks = health.checks
                    info.check_failures = health.failures
                    info.last_check = health.last
                    info.check_reason = health.reason
                servers[s.name] = info
        store = self.store
        return Director(
            vips=[v.name for v in self.config.vips],
            pools=pools,
            reloads=self.reloads,
            reload_failures=self.reload_failures,
            worker_restarts=self.worker_restarts,
            store=store_snapshot(store) if store is not None else None,
            store_up=store.reachable if store is not None else None,
            store_name=store.name if store is not None else "",
        )

    def on_worker_message(self, wp: WorkerProc, msg: Message) -> None:
        if isinstance(msg, Stick):
            # a worker learned persistence entries: every other worker must know them,
            # and a worker started later (restart, reload) gets them from our copy
            now = time.time()
            for u in msg.updates:
                self.tables.apply(u, now)
                self._store_entry(u)
            self.broadcast(msg, exclude=wp)
        elif isinstance(msg, Claim):
            self._claim(wp, msg)
        elif isinstance(msg, LimitDeltas):
            self._on_limits(wp, msg)
        elif isinstance(msg, Stats):
            fut = self.stats_waiters.get(msg.id)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        elif isinstance(msg, Metrics):
            if not self.metrics.report(wp, wp.index, msg.data):
                log.error("worker %d: a metrics report of an unknown shape, ignored", wp.index)
            waiter = self.metrics_waiters.get(msg.id) if msg.id else None
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        else:
            log.error("worker %d: unexpected %s message", wp.index, msg.TYPE)

    async def _watch(self, wp: WorkerProc, config: Config) -> None:
        decoder = LineDecoder()
        try:
            while True:
                data = await wp.reader.read(65536)
                if not data:
                    break
                for msg in decoder.feed(data):
                    if isinstance(msg, Ready):
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
        self.metrics.gone(wp)  # its counters stay in the sums
        code = await wp.proc.wait()
        wp.writer.close()
        if wp in self.procs:
            self.procs.remove(wp)
        self._limits_worker_gone(wp)
        if self.stopping or wp.retiring:
            return
        log.error(
            "worker %d (pid %d) exited with status %s; restarting it",
            wp.index,
            wp.proc.pid,
            code,
        )
        self.worker_restarts += 1
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
            results = await asyncio.wait_for(asyncio.gather(*(w.ready for w in new)), READY_TIMEOUT)
        except TimeoutError:
            results = [False]
        if all(results):
            return True
        log.error("new workers failed to become ready; keeping the previous generation")
        self.generation -= 1
        for w in new:
            w.retiring = True
        await self._stop_all(new)
        return False

    async def reload_config(self) -> ReloadVerdict:
        """Reload as SIGHUP does; the verdict as soon as it is known (the new
        generation serves, or the reload is rejected), while the old generation
        may still be draining."""
        loop = asyncio.get_running_loop()
        verdict: asyncio.Future[ReloadVerdict] = loop.create_future()
        task = loop.create_task(self.reload(verdict))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return await asyncio.shield(verdict)

    async def reload(self, verdict: asyncio.Future[ReloadVerdict] | None = None) -> ReloadVerdict:
        """Validate the file, start a new generation on it, retire the old one.
        ``verdict`` (if given) gets the outcome as soon as it is decided."""
        assert self.reloading is not None
        async with self.reloading:
            try:
                result = await self._reload(verdict)
            except Exception as exc:  # a bug must not leave the caller waiting
                log.exception("reload failed")
                result = self._decide(verdict, [f"internal error: {exc!r} (see the log)"])
            return result

    def _decide(
        self, verdict: asyncio.Future[ReloadVerdict] | None, errors: list[str]
    ) -> ReloadVerdict:
        """Record one reload's outcome: log it, hand it to whoever asked, and
        write it beside the pid file (``l7lb reload`` through the pid file reads it)."""
        result = ReloadVerdict(not errors, self.generation, self.config_path or "", tuple(errors))
        if errors:
            for e in errors:
                log.error("reload rejected: %s", e)
            log.error("reload rejected: keeping the running configuration")
        self.reload_seq += 1
        if errors:
            self.reload_failures += 1
        else:
            self.reloads += 1
        if self.pid_file:
            try:
                pidfile.write_reload_status(
                    self.pid_file, os.getpid(), self.reload_seq, result.to_json()
                )
            except OSError as exc:
                log.error("cannot write %s%s: %s", self.pid_file, pidfile.STATUS_SUFFIX, exc)
        if verdict is not None and not verdict.done():
            verdict.set_result(result)
        return result

    async def _reload(self, verdict: asyncio.Future[ReloadVerdict] | None) -> ReloadVerdict:
        if self.stopping or self.draining:
            return self._decide(verdict, ["l7lb is stopping"])
        if self.config_path is None:
            return self._decide(verdict, ["l7lb runs without a configuration file"])
        log.info("reload: reading %s", self.config_path)
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            return self._decide(verdict, [str(issue) for issue in exc.errors])
        except OSError as exc:
            return self._decide(verdict, [f"cannot read {self.config_path}: {exc}"])
        errors = certificate_errors(config)
        if errors:
            return self._decide(verdict, errors)
        if config.pid_file != self.pid_file:
            log.warning(
                "reload: pid_file changed to %r; it is read at start only (still %r)",
                config.pid_file,
                self.pid_file,
            )
        await self._ensure_session_server(config)
        await self._open_store(config)
        await self._refresh_ring(config)
        try:
            self._bind_all(config)
            admin_http = await self._bind_admin_http(config)
        except OSError as exc:
            return self._decide(verdict, [exc.strerror or str(exc)])
        old = [w for w in self.procs]
        self._configure_tables(config)
        boards = self.limit_boards
        self._configure_limits(config)
        if not await self._start_generation(config):
            self.limit_boards = boards
            if admin_http is not None:
                await admin_http.close()
            return self._decide(verdict, ["the new workers did not become ready (see the log)"])
        self.config = config
        if self.checker is not None:
            await self.checker.update(check_targets(config))
        self._install_admin_http(config, admin_http)
        await self._start_admin(config)
        result = self._decide(verdict, [])
        for w in old:
            w.retiring = True
        await self._stop_all(old)
        wanted = {str(a) for v in config.vips for a in v.listen}
        for key in list(self.sockets):
            if key not in wanted:
                self.sockets.pop(key).close()
        log.info("reload: done (generation %d)", self.generation)
        return result

    async def _stop_all(self, procs: list[WorkerProc]) -> None:
        for w in procs:
            w.retiring = True
            if w.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    w.proc.send_signal(signal.SIGTERM)
        grace = self.config.timeouts.drain + 5.0
        waits = [w.proc.wait() for w in procs if w.proc.returncode is None]
        if waits:
            _done, pending = await asyncio.wait(
                [asyncio.ensure_future(x) for x in waits], timeout=grace
            )
            if pending:
                for w in procs:
                    if w.proc.returncode is None:
                        log.error("worker pid %d did not stop in time; killing it", w.proc.pid)
                        w.proc.kill()
                await asyncio.wait(pending, timeout=5.0)
