"""Playbooks for the sans-IO HTTP/2 engine: exact frames in, exact frames and backend bytes out.

``Play`` stands where the asyncio glue (``l7lb.proxy.client``) stands: it builds a
``WorkerRuntime`` from a configuration, feeds an ``H2Connection`` client bytes and time,
carries out the commands it queues the way the glue does (a ``Connect`` gets a
``BackendLink`` at once, whose writes are recorded), and lets a test answer as the backend.
No socket, no event loop, no clock but the one the test moves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from h2wire import Client, Frame, preface, split

from l7lb.accesslog import AccessRecord
from l7lb.config.load import parse_config
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
from l7lb.proxy.h2 import H2Connection
from l7lb.proxy.link import BackendLink
from l7lb.proxy.runtime import WorkerRuntime

BASE = """
[log]
access = "-"
[[vip]]
name = "v"
listen = ["127.0.0.1:1"]
tls = {{ certificates = [{{ cert = "x.pem", key = "x.key" }}] }}
  [[vip.route]]
  path_prefix = "/local"
  respond = {{ status = 200, body = "local\\n" }}
  [[vip.route]]
  path_prefix = "/"
  pool = "p"
[pool.p]
  [[pool.p.server]]
  name = "s1"
  address = "10.0.0.1:80"
{extra}
"""


class FakeTransport:
    """A backend connection's transport: records what the engine wrote and did."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False
        self.aborted = False
        self.reading = True

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


@dataclass
class Play:
    extra: str = ""
    now: float = 1000.0
    conn: H2Connection = field(init=False)
    rt: WorkerRuntime = field(init=False)
    client: Client = field(default_factory=Client)
    to_client: bytearray = field(default_factory=bytearray)
    links: list[BackendLink] = field(default_factory=list)
    released: list[tuple[BackendLink, bool]] = field(default_factory=list)
    logs: list[AccessRecord] = field(default_factory=list)
    closed: bool | None = None  # None: open; False: closed cleanly; True: reset
    client_paused: set[str] = field(default_factory=set)
    commands: list[Command] = field(default_factory=list)

    def __post_init__(self) -> None:
        cfg = parse_config(BASE.format(extra=self.extra))
        self.rt = WorkerRuntime(cfg, defer=lambda f: None)
        self.conn = H2Connection(self.rt, self.rt.vips["v"], "192.0.2.1", self.now)
        self.run()

    # ---- the glue ---------------------------------------------------------------------------

    def run(self) -> None:
        out = self.conn.out
        i = 0
        while i < len(out):
            cmd = out[i]
            i += 1
            self.commands.append(cmd)
            if isinstance(cmd, ToClient):
                self.to_client += cmd.data
            elif isinstance(cmd, ToBackend):
                assert not cmd.link.closed, "bytes for a closed backend connection"
                t = cmd.link.transport
                assert isinstance(t, FakeTransport)
                t.write(cmd.data)
            elif isinstance(cmd, Connect):
                link = BackendLink(cmd.pool.name, cmd.server, self.rt.response_parser())
                link.transport = FakeTransport()
                self.links.append(link)
                cmd.exchange.attached(link, self.now)
            elif isinstance(cmd, ReleaseBackend):
                self.released.append((cmd.link, cmd.reuse))
                cmd.link.exchange = None
                if not cmd.reuse:
                    cmd.link.closed = True
            elif isinstance(cmd, Log):
                self.logs.append(cmd.record)
            elif isinstance(cmd, CloseClient):
                self.closed = cmd.abort
            elif isinstance(cmd, PauseClient):
                self.client_paused.add(cmd.reason.name)
            elif isinstance(cmd, ResumeClient):
                self.client_paused.discard(cmd.reason.name)
            elif isinstance(cmd, PauseBackend):
                t = cmd.link.transport
                assert isinstance(t, FakeTransport)
                t.pause_reading()
            elif isinstance(cmd, ResumeBackend):
                t = cmd.link.transport
                assert isinstance(t, FakeTransport)
                t.resume_reading()
            elif isinstance(cmd, (Announce, Claim, Enqueue, Tunnel)):
                pass
            else:  # pragma: no cover
                raise AssertionError(f"unexpected command {cmd!r}")
        out.clear()

    # ---- what a test does ---------------------------------------------------------------------

    def send(self, data: bytes, dt: float = 0.0) -> None:
        """Client bytes, ``dt`` seconds after the last event."""
        self.now += dt
        self.conn.receive(data, self.now)
        self.run()

    def start(self, **settings: int) -> list[Frame]:
        """The client preface; returns l7lb's first frames (its SETTINGS, ...)."""
        self.send(preface(**settings))
        return self.frames()

    def backend(self, link: BackendLink, data: bytes) -> None:
        ex = link.exchange
        assert ex is not None, "the backend connection serves no exchange"
        ex.backend_received(link, data, self.now)
        self.run()

    def backend_full(self, link: BackendLink, full: bool) -> None:
        ex = link.exchange
        assert ex is not None
        ex.backend_full(full)
        self.run()

    def tick(self, dt: float) -> None:
        """Move the clock by ``dt``; the timer fires at each deadline on the way, as the
        glue's one timer does."""
        target = self.now + dt
        for _ in range(10000):
            when = self.conn.next_deadline()
            if when > target:
                break
            self.now = max(self.now, when)
            self.conn.on_timer(self.now)
            self.run()
        else:
            raise AssertionError("the timer would spin: a deadline in the past stays")
        self.now = target

    def drain(self) -> None:
        self.conn.drain(self.now)
        self.run()

    def frames(self) -> list[Frame]:
        """The frames l7lb wrote since the last call."""
        data = bytes(self.to_client)
        self.to_client.clear()
        return split(data)

    def written(self, link: BackendLink) -> bytes:
        t = link.transport
        assert isinstance(t, FakeTransport)
        data = bytes(t.written)
        t.written.clear()
        return data
