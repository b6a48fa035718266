"""A worker process: one uvloop event loop serving the supervisor's listeners.

Started by the supervisor as ``python -m l7lb.worker`` with the listening
sockets passed as inherited file descriptors, the configuration text on
stdin (so every worker of a generation runs exactly the configuration the
supervisor validated) and a control socket. The worker writes ``ready`` on the
control socket once it accepts; SIGTERM (or the control socket closing)
makes it stop accepting, finish in-flight exchanges within the drain timeout
and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import socket
import sys

import uvloop

from l7lb.config.load import parse_config
from l7lb.config.model import Config
from l7lb.control import LineDecoder, Ready, encode
from l7lb.logsetup import setup_logging
from l7lb.proxy.client import ClientConnection
from l7lb.proxy.runtime import VipRuntime, WorkerRuntime
from l7lb.proxy.services import WorkerServices
from l7lb.proxyproto.arrival import Arrival
from l7lb.proxyproto.listener import ProxyServer, serve_proxy
from l7lb.proxyproto.trust import TrustedSources
from l7lb.store.backend import SharedStore, open_store
from l7lb.store.sessions import SealedSessionStore
from l7lb.tls.context import Resumption, build_vip_tls
from l7lb.tls.listener import TlsServer, serve_tls
from l7lb.tls.session_server import SessionServerClient, follow_ticket_ring
from l7lb.tls.settings import TlsSettings
from l7lb.tls.ticketkeys import TicketKeyRing, TicketRingHolder

log = logging.getLogger("l7lb.worker")


class Worker:
    def __init__(
        self,
        config: Config,
        listeners: dict[str, int],
        control_fd: int,
        index: int,
        session_server: str = "",
    ):
        self.config = config
        self.listeners = listeners
        self.control_fd = control_fd
        self.index = index
        self.servers: list[asyncio.AbstractServer | TlsServer | ProxyServer] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.session_server = session_server
        self.shared_store: SharedStore | None = None
        self.stopping: asyncio.Event | None = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        rt = WorkerRuntime(self.config, loop.call_soon)
        services = WorkerServices(rt, loop)
        resumption = await self._resumption(loop)
        services.store = self.shared_store  # metrics: the store and session cache counters
        services.session_cache = resumption.cache if resumption is not None else None
        for vip in self.config.vips:
            vr = rt.vips[vip.name]

            def factory(arrival: Arrival | None = None, vr: VipRuntime = vr) -> ClientConnection:
                return ClientConnection(services, vr, arrival)

            # accept_proxy: a PROXY header from a trusted peer comes first, within request_head
            trusted = TrustedSources(vip.proxy_trusted) if vip.accept_proxy else None
            header_timeout = rt.timeouts.request_head

            vip_tls = None
            if isinstance(vip.tls, TlsSettings):
                # the supervisor built these contexts once already: errors here are unexpected
                vip_tls = build_vip_tls(vip.name, vip.tls, resumption=resumption)
                services.tls[vip.name] = vip_tls
            for addr in vip.listen:
                fd = self.listeners[str(addr)]
                sock = socket.socket(fileno=fd)
                sock.setblocking(False)
                if vip_tls is not None:
                    self.servers.append(
                        await serve_tls(
                            loop,
                            sock,
                            vip_tls,
                            factory,
                            proxy_trusted=trusted,
                            proxy_timeout=header_timeout,
                        )
                    )
                elif trusted is not None:
                    self.servers.append(
                        await serve_proxy(loop, sock, vip.name, trusted, header_timeout, factory)
                    )
                else:
                    self.servers.append(await loop.create_server(factory, sock=sock, backlog=1024))
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: None)  # reloads are the supervisor's job
        # Ctrl-C reaches the supervisor, which stops us
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        control = socket.socket(fileno=self.control_fd)
        reader, writer = await asyncio.open_unix_connection(sock=control)
        services.control_sender = lambda msg: writer.write(encode(msg))
        writer.write(encode(Ready(os.getpid())))
        watch = loop.create_task(self._watch_control(reader, services))
        # Everything made so far (modules, config, contexts) lives as long as the
        # worker: out of the collector's sight, its collections only walk objects
        # made since, which keeps them short under load.
        gc.freeze()
        await self.stopping.wait()
        watch.cancel()
        await self._drain(services)
        writer.close()
        return 0

    async def _resumption(self, loop: asyncio.AbstractEventLoop) -> Resumption | None:
        """TLS resumption shared with the other workers through the supervisor's
        session server (session-ID cache and ticket keys)."""
        if not self.session_server:
            return None
        client = SessionServerClient(self.session_server)
        holder = None
        try:
            ring = await asyncio.wait_for(client.ticket_ring(), 5.0)
        except (OSError, TimeoutError, ValueError) as exc:
            log.warning("worker %d: no ticket keys from the supervisor: %s", self.index, exc)
            ring = None
        if ring is not None:
            holder = TicketRingHolder(ring)
            rotation = min(
                (v.tls.ticket_rotation for v in self.config.vips if isinstance(v.tls, TlsSettings)),
                default=3600.0,
            )

            def apply(r: TicketKeyRing, holder: TicketRingHolder = holder) -> None:
                holder.ring = r

            self.tasks.append(
                loop.create_task(follow_ticket_ring(client, apply, min(30.0, rotation / 4)))
            )
        st = self.config.store
        if st is not None and st.shared:
            # several directors: sessions go to the shared store, sealed; the
            # supervisor's session server still hands out the cluster's ticket keys
            self.shared_store = open_store(st)
            sealed = SealedSessionStore(self.shared_store, st.session_keys)
            res = Resumption(store=sealed, ticket_ring=holder, prefetch_deadline=st.timeout)
            res.cache.publish = sealed.publish
            return res
        res = Resumption(store=client, ticket_ring=holder)
        res.cache.publish = client.publish
        return res

    async def _watch_control(self, reader: asyncio.StreamReader, services: WorkerServices) -> None:
        assert self.stopping is not None
        decoder = LineDecoder()
        while True:
            data = await reader.read(65536)
            if not data:
                log.warning("worker %d: supervisor went away; stopping", self.index)
                self.stopping.set()
                return
            for msg in decoder.feed(data):
                try:
                    services.control_message(msg)
                except (KeyError, ValueError) as exc:
                    log.error("worker %d: control message %r refused: %s", self.index, msg, exc)

    async def _drain(self, services: WorkerServices) -> None:
        rt = services.rt
        loop = asyncio.get_running_loop()
        for s in self.servers:
            if isinstance(s, TlsServer | ProxyServer):
                s.stop_accepting()
            else:
                s.close()
        services.start_draining()
        for c in list(rt.connections):
            if isinstance(c, ClientConnection):
                c.drain()  # HTTP/2: GOAWAY now (HTTP/1.1 closes after its response)
        deadline = loop.time() + rt.timeouts.drain
        # uvloop accepts in C and calls connection_made from the next loop
        # iteration: a connection accepted just before the close is not yet in
        # rt.connections (nor among the TLS gates). Let those callbacks run
        # before deciding nothing is left, or the client sees its connection
        # closed with no response (seen in the reload-under-load test). They are
        # queued already; one turn of the loop runs them.
        await asyncio.sleep(0)

        def busy() -> bool:
            handshaking = any(
                s.pending for s in self.servers if isinstance(s, TlsServer | ProxyServer)
            )
            return bool(rt.connections) or handshaking

        while busy() and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for s in self.servers:
            if isinstance(s, TlsServer | ProxyServer):
                s.close()
        for t in self.tasks:
            t.cancel()
        if rt.connections:
            log.warning(
                "worker %d: drain timeout: closing %d connections", self.index, len(rt.connections)
            )
            for c in list(rt.connections):
                transport = getattr(c, "transport", None)
                if transport is not None:
                    transport.abort()
        if self.shared_store is not None:
            await self.shared_store.drain()
            await self.shared_store.close()
        services.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="l7lb-worker")
    ap.add_argument("--listen", action="append", default=[], help="ADDRESS=FD")
    ap.add_argument("--control", type=int, required=True)
    ap.add_argument("--index", type=int, default=0)
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--session-server", default="", help="Unix socket of the TLS session server")
    ap.add_argument("--origin", default="<supervisor>", help="the configuration file's path")
    args = ap.parse_args(argv)
    setup_logging(args.log_level, f"worker {args.index}")
    text = sys.stdin.read()
    config = parse_config(text, args.origin)
    listeners = {}
    for item in args.listen:
        addr, _, fd = item.rpartition("=")
        listeners[addr] = int(fd)
    worker = Worker(config, listeners, args.control, args.index, args.session_server)
    uvloop.install()
    return asyncio.run(worker.run())


if __name__ == "__main__":
    sys.exit(main())
