"""Playbooks: the request engine driven with exact bytes, no sockets, no event loop.

A ``Play`` holds one client connection's engine (``H1Connection``) on a ``WorkerRuntime``
built from a TOML configuration, a clock that only moves when the test says so, and plays
the part of the asyncio glue: it carries out the commands the engine queues, the way
``l7lb/proxy/client.py`` does, and records what each side would see.

    play = Play(CONFIG)
    play.client(b"GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n")
    assert play.backend_got() == b"GET / HTTP/1.1\\r\\nHost: a\\r\\n..."
    play.backend(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
    assert play.client_got() == b"HTTP/1.1 200 OK\\r\\n..."
    assert play.records[0].status == 200

New backend connections are made at once unless a test queues a failure with
``fail_next_connect``; a connection the engine releases for reuse goes back to its pool's
idle stock, and the next request to that server takes it, as in a worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from l7lb.accesslog import AccessRecord
from l7lb.config.load import parse_config
from l7lb.persistence.shared import StickUpdate
from l7lb.proxy.commands import (
    Announce,
    Claim,
    CloseClient,
    Command,
    Connect,
    Enqueue,
    Log,
    PauseBackend,
    PauseClient,
    ReleaseBackend,
    ResumeBackend,
    ResumeClient,
    ToBackend,
    ToClient,
    Tunnel,
)
from l7lb.proxy.flow import Pause
from l7lb.proxy.h1 import H1Connection
from l7lb.proxy.link import BackendLink, Requester
from l7lb.proxy.runtime import WorkerRuntime

PEER = "192.0.2.7"
T0 = 1000.0  # the loop clock at the start of every play
WALL0 = 1_800_000_000.0  # the wall clock then (cookie dates)


class FakeTransport:
    """What a backend link's transport needs to be for the idle stock: open or not."""

    def __init__(self) -> None:
        self.closing = False
        self.aborted = False
        self.paused = False

    def write(self, data: bytes) -> None:  # the play records ToBackend itself
        pass

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = self.aborted = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


@dataclass
class Backend:
    """One backend connection as the realserver would see it."""

    link: BackendLink
    server: str
    got: bytearray = field(default_factory=bytearray)
    released: str = ""  # "", "reused", "closed" or "aborted"

    @property
    def transport(self) -> FakeTransport:
        t = self.link.transport
        assert isinstance(t, FakeTransport)
        return t


class Play:
    def __init__(
        self, config: str = "", *, peer: str = PEER, vip: str = "", share: Play | None = None
    ) -> None:
        if share is None:
            cfg = parse_config(config)
            self.deferred: list[Callable[[], None]] = []
            self.rt = WorkerRuntime(cfg, self.deferred.append)
            self.rt.wall_offset = WALL0 - T0
            self.now = T0
        else:  # another client connection of the same worker
            cfg = share.rt.config
            self.deferred = share.deferred
            self.rt = share.rt
            self.now = share.now
        name = vip or cfg.vips[0].name
        self.conn = H1Connection(self.rt, self.rt.vips[name], peer, self.now)
        self.to_client = bytearray()
        # the worker's backend connections (shared with ``another`` connection's play)
        self.backends: list[Backend] = share.backends if share is not None else []
        self.records: list[AccessRecord] = []
        self.announced: list[StickUpdate] = []
        self.claims: list[Claim] = []
        self.queued: list[Enqueue] = []
        self.paused: set[Pause] = set()
        self.closed = ""  # "", "closed" or "reset"
        self.tunnel: Backend | None = None
        self.failures: list[str] = []  # reasons for the next connects to fail
        self.commands: list[str] = []  # every command's type, in order
        self._seen = 0
        self.run()

    # ---- what the test does --------------------------------------------------------------

    def another(self, peer: str = "192.0.2.8") -> Play:
        """A second client connection to the same worker (its pools, tables, stocks)."""
        return Play(peer=peer, share=self)

    def client(self, data: bytes) -> None:
        self.conn.receive(data, self.now)
        self.run()

    def client_eof(self) -> bool:
        keep = self.conn.receive_eof(self.now)
        self.run()
        return keep

    def client_lost(self) -> None:
        self.conn.lost(self.now)
        self.run()

    def backend(self, data: bytes, b: Backend | None = None) -> None:
        b = b or self.current()
        if self.tunnel is b:
            self.to_client += data
            return
        ex = b.link.exchange
        assert ex is not None, "the backend connection serves no exchange"
        ex.backend_received(b.link, data, self.now)
        self.run()

    def backend_closes(self, b: Backend | None = None, error: str = "") -> None:
        b = b or self.current()
        b.link.closed = True
        b.transport.closing = True
        if self.tunnel is b:
            self.conn.tunnel_closed()
        else:
            ex = b.link.exchange
            if ex is not None:
                ex.backend_closed(b.link, error, self.now)
        self.run()

    def fail_next_connect(self, reason: str = "Connection refused") -> None:
        self.failures.append(reason)

    def advance(self, seconds: float) -> None:
        """Let time pass; the engine's deadline fires if it came."""
        self.now += seconds
        while self.conn.next_deadline() <= self.now:
            before = self.conn.next_deadline()
            self.conn.on_timer(self.now)
            self.run()
            if self.conn.next_deadline() == before:
                break

    def answer_claim(self, server: str | None) -> None:
        claim = self.claims.pop(0)
        claim.exchange.claim_answer(server, self.now)
        self.run()

    def run_deferred(self) -> None:
        """Run what the runtime deferred to the next loop turn (a slot's wake-up)."""
        while self.deferred:
            self.deferred.pop(0)()
            self.run()

    # ---- what the sides saw --------------------------------------------------------------

    def client_got(self) -> bytes:
        """The client's bytes since the last call."""
        data = bytes(self.to_client[self._seen :])
        self._seen = len(self.to_client)
        return data

    def current(self) -> Backend:
        """The backend connection this connection's exchange uses (or used last)."""
        assert self.backends, "no backend connection was made"
        ex = self.conn.ex
        for b in reversed(self.backends):
            if ex is not None and b.link.exchange is ex:
                return b
        return self.backends[-1]

    def backend_got(self, b: Backend | None = None) -> bytes:
        b = b or self.current()
        data = bytes(b.got)
        b.got.clear()
        return data

    # ---- the glue's part -------------------------------------------------------------------

    def run(self) -> None:
        out = self.conn.out
        i = 0
        while i < len(out):
            cmd = out[i]
            i += 1
            self.commands.append(type(cmd).__name__)
            self._do(cmd)
        out.clear()

    def _backend_of(self, link: BackendLink) -> Backend:
        for b in self.backends:
            if b.link is link:
                return b
        raise AssertionError(f"unknown link {link!r}")

    def _do(self, cmd: Command) -> None:
        if isinstance(cmd, ToClient):
            assert not self.closed, "bytes for a closed client"
            self.to_client += cmd.data
        elif isinstance(cmd, ToBackend):
            self._backend_of(cmd.link).got += cmd.data
        elif isinstance(cmd, Connect):
            self._connect(cmd)
        elif isinstance(cmd, ReleaseBackend):
            b = self._backend_of(cmd.link)
            if cmd.reuse:
                kept = self.rt.pools[cmd.link.pool_name].stock.put(cmd.link, self.now)
                b.released = "reused" if kept else "closed"
            else:
                cmd.link.closed = True
                b.transport.closing = True
                b.released = "aborted" if cmd.abort else "closed"
        elif isinstance(cmd, Log):
            self.records.append(cmd.record)
        elif isinstance(cmd, CloseClient):
            self.closed = self.closed or ("reset" if cmd.abort else "closed")
        elif isinstance(cmd, PauseClient):
            self.paused.add(cmd.reason)
        elif isinstance(cmd, ResumeClient):
            self.paused.discard(cmd.reason)
        elif isinstance(cmd, PauseBackend | ResumeBackend):
            self._backend_of(cmd.link).transport.paused = isinstance(cmd, PauseBackend)
        elif isinstance(cmd, Tunnel):
            self.tunnel = self._backend_of(cmd.link)
        elif isinstance(cmd, Announce):
            self.announced += cmd.updates
        elif isinstance(cmd, Claim):
            self.claims.append(cmd)
        elif isinstance(cmd, Enqueue):
            self.queued.append(cmd)
            ex = cmd.exchange
            cmd.pool.waiters.append((ex, lambda: self._wake(ex)))
        else:
            raise AssertionError(f"unexpected command {cmd!r}")

    def _wake(self, ex: Requester) -> None:
        ex.slot_free(self.now)

    def _connect(self, cmd: Connect) -> None:
        ex, pool, server = cmd.exchange, cmd.pool, cmd.server
        if not cmd.fresh:
            link = pool.stock.take(server)
            if link is not None:
                ex.attached(link, self.now)
                return
        if self.failures:
            ex.connect_failed(server, self.failures.pop(0), self.now)
            return
        link = BackendLink(pool.name, server, self.rt.response_parser())
        link.transport = FakeTransport()
        self.backends.append(Backend(link, server.name))
        ex.attached(link, self.now)


def pool_config(
    servers: int = 1,
    *,
    pool: str = "",
    persistence: str = "",
    top: str = "",
    vip: str = "",
    routes: str = 'pool = "web"',
) -> str:
    """A VIP on a pool "web" of ``servers`` realservers s1.. (10.0.0.1:80 ...), with extra
    keys for the pool table, a persistence table body, top-level keys and VIP keys."""
    lines = [top, "[log]", 'access = "-"', "", "[[vip]]", 'name = "www"']
    lines += ['listen = ["127.0.0.1:8080"]', vip, "  [[vip.route]]", "  " + routes, ""]
    lines += ["[pool.web]", pool]
    for i in range(1, servers + 1):
        lines += ["  [[pool.web.server]]", f'  name = "s{i}"', f'  address = "10.0.0.{i}:80"']
    if persistence:
        lines += ["  [pool.web.persistence]", persistence]
    return "\n".join(lines) + "\n"
