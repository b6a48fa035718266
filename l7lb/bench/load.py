"""The load one client process generates: its share of connections, requests, rate and
virtual clients, run on one event loop.

Usually against one URL. With ``--share-sessions`` against several (directors): each
connection slot opens its connections on the URLs in turn and offers each the TLS session of
its previous connection, so a session issued by one director is offered to the next one."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .connection import HttpConnection, RequestError, Response
from .cookies import CookieJar
from .options import BenchOptions, Target
from .request import RequestTemplate
from .stats import RunStats
from .tls import client_context


def share(total: int, parts: int, index: int) -> int:
    """Process `index`'s share when `total` is split as evenly as possible over `parts`."""
    return total // parts + (1 if index < total % parts else 0)


@dataclass
class Endpoint:
    """One URL of the run: where to connect, the name to send (SNI), the requests to send."""

    target: Target
    template: RequestTemplate
    server_hostname: str
    address: str  # the host, resolved once when the run starts


class ProcessLoad:
    def __init__(
        self,
        options: BenchOptions,
        targets: Sequence[Target],
        index: int,
        progress: Any = None,
    ) -> None:
        procs = options.procs
        self.options = options
        self.targets = tuple(targets)
        self.index = index
        self.progress = progress  # shared ctypes array: [requests, errors] per process
        self.stats = RunStats()
        self.connections = share(options.connections, procs, index)
        self.budget = share(options.requests, procs, index) if options.requests else 0
        self.rate = options.rate / procs if options.rate else 0.0
        self.issued = 0
        body = b""
        if options.body_file:
            with open(options.body_file, "rb") as f:
                body = f.read()
        self.endpoints = [
            Endpoint(
                target,
                RequestTemplate(
                    options.method,
                    options.host or target.authority,
                    options.paths or ((target.path, 1),),
                    [*options.headers, *([("Host", options.host)] if options.host else [])],
                    body,
                ),
                options.sni or target.host,
                target.host,
            )
            for target in self.targets
        ]
        # One context for every URL: a session can only be offered through the context
        # that made it, and --share-sessions offers one URL's session to the next.
        tls = any(t.tls for t in self.targets)
        self.ssl_context: ssl.SSLContext | None = client_context(options) if tls else None
        spec = options.identity
        self.identity_header = spec.name.encode() if spec and spec.kind == "header" else None
        self.identity_cookie = spec.name if spec and spec.kind == "cookie" else None
        # Virtual clients are numbered globally and dealt round robin to processes, so merged
        # per-client results never collide.
        self.jars: dict[int, CookieJar] = {}
        self.idle: asyncio.Queue[int] | None = None
        if options.clients:
            for client in range(index, options.clients, procs):
                self.jars[client] = CookieJar()
        self.start = 0.0
        self.deadline = 0.0
        self.live: set[HttpConnection] = set()

    # -- scheduling --------------------------------------------------------------------------

    def next_slot(self) -> float | None:
        """The send time of the next request (now, or its open-loop schedule), None when done."""
        now = time.perf_counter()
        if self.budget and self.issued >= self.budget:
            return None
        if self.rate:
            scheduled = self.start + self.issued / self.rate
            if not self.budget and scheduled >= self.deadline:
                return None
        else:
            if not self.budget and now >= self.deadline:
                return None
            scheduled = now
        self.issued += 1
        return scheduled

    # -- one connection slot ------------------------------------------------------------------

    async def open(self, session: ssl.SSLSession | None, endpoint: Endpoint) -> HttpConnection:
        loop = asyncio.get_running_loop()
        opts = self.options
        tls = endpoint.target.tls
        factory: Callable[[], HttpConnection] = lambda: HttpConnection(  # noqa: E731
            self.ssl_context if tls else None,
            endpoint.server_hostname,
            session if opts.tls_resume != "none" and tls else None,
            self.identity_header,
            opts.method == "HEAD",
        )
        started = time.perf_counter()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(factory, endpoint.address, endpoint.target.port),
                opts.timeout,
            )
        except TimeoutError as exc:
            raise RequestError("timeout", "connect") from exc
        except ConnectionResetError as exc:
            # Accepted, then reset before the loop finished setting up: the server's doing.
            raise RequestError("reset", str(exc)) from exc
        except OSError as exc:
            raise RequestError("connect", str(exc)) from exc
        self.live.add(conn)
        try:
            await conn.handshake(opts.timeout)
        except RequestError:
            self.retire(conn)
            raise
        self.stats.record_connection(
            int((time.perf_counter() - started) * 1e6),
            conn.sslobj is not None,
            conn.session_reused,
            int(started - self.start),
            endpoint.target.url if len(self.endpoints) > 1 else "",
        )
        return conn

    def retire(self, conn: HttpConnection) -> ssl.SSLSession | None:
        """Close a connection and keep its byte counts and (for resumption) its session."""
        session = conn.tls_session if conn.lost is None else None
        conn.close()
        self.live.discard(conn)
        self.stats.bytes_in += conn.bytes_in
        self.stats.bytes_out += conn.bytes_out
        conn.bytes_in = conn.bytes_out = 0
        return session

    def record_identity(self, client: int, jar: CookieJar | None, response: Response) -> None:
        backend = response.identity
        if self.identity_cookie is not None:
            backend = jar.get(self.identity_cookie) if jar is not None else None
            if jar is None:
                for value in response.set_cookies:
                    name, _, rest = value.partition("=")
                    if name.strip() == self.identity_cookie:
                        backend = rest.split(";", 1)[0].strip()
        if backend is not None:
            self.stats.record_backend(client, backend)

    async def slot(self, slot_index: int) -> None:
        opts = self.options
        stats = self.stats
        endpoints = self.endpoints
        endpoint = endpoints[slot_index % len(endpoints)]
        opened = slot_index  # slots start on different URLs, then each moves to the next
        progress = self.progress
        pslot = 2 * self.index
        conn: HttpConnection | None = None
        session: ssl.SSLSession | None = None
        served = 0
        cycle = slot_index
        # Without --clients each connection slot is one client (its own jar), numbered globally.
        own_jar = CookieJar() if self.idle is None else None
        own_client = self.index + opts.procs * slot_index
        try:
            while True:
                scheduled = self.next_slot()
                if scheduled is None:
                    break
                delay = scheduled - time.perf_counter()
                if delay > 0.001:
                    # The loop's timers tick in milliseconds (uvloop); a request due sooner
                    # goes now, and its latency counts from when it was really sent.
                    await asyncio.sleep(delay)
                if self.idle is not None:
                    client = await self.idle.get()
                    jar: CookieJar | None = self.jars[client]
                else:
                    client, jar = own_client, own_jar
                # Open loop: latency runs from the scheduled send time, so a request that waited
                # for a free connection is charged for the wait (no coordinated omission).
                start = min(scheduled, time.perf_counter()) if self.rate else time.perf_counter()
                second = int(start - self.start)
                try:
                    if conn is None:
                        endpoint = endpoints[opened % len(endpoints)]
                        opened += 1
                        conn = await self.open(session, endpoint)
                        served = 0
                    served += 1
                    close = opts.keepalive > 0 and served >= opts.keepalive
                    data = endpoint.template.render(cycle, jar.header if jar else "", close)
                    cycle += 1
                    response = await conn.request(data, opts.timeout)
                except RequestError as exc:
                    stats.record_error(exc.kind, second)
                    if conn is not None:
                        self.retire(conn)
                        conn = None
                    if progress is not None:
                        progress[pslot] += 1
                        progress[pslot + 1] += 1
                    continue
                finally:
                    if self.idle is not None:
                        self.idle.put_nowait(client)
                now = time.perf_counter()
                if jar is not None:
                    for value in response.set_cookies:
                        jar.set_cookie(value, time.time())
                failed = stats.record_response(response.status, int((now - start) * 1e6), second)
                if self.identity_header is not None or self.identity_cookie is not None:
                    self.record_identity(client, jar, response)
                if progress is not None:
                    progress[pslot] += 1
                    progress[pslot + 1] += failed
                if close or not response.keep_alive:
                    session = self.retire(conn) or session
                    conn = None
        finally:
            if conn is not None:
                self.retire(conn)

    async def watchdog(self) -> None:
        """Time out handshakes and requests; a coarse tick is enough for a 'timeout' count."""
        tick = min(0.1, self.options.timeout / 10)
        while True:
            await asyncio.sleep(tick)
            now = time.perf_counter()
            for conn in list(self.live):
                conn.check_deadline(now)

    async def run(self) -> RunStats:
        if self.jars:
            self.idle = asyncio.Queue()
            for client in self.jars:
                self.idle.put_nowait(client)
        # Resolve once: a name looked up on every connect would add a resolver round trip to
        # each --new-conn request. SNI and Host keep the name.
        for endpoint in self.endpoints:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    endpoint.target.host, endpoint.target.port, type=socket.SOCK_STREAM
                )
                endpoint.address = str(infos[0][4][0])
            except OSError:
                pass  # leave the name: every connect then fails and is counted as an error
        self.stats.started_at = time.time()
        self.start = time.perf_counter()
        self.deadline = self.start + self.options.duration
        watchdog = asyncio.ensure_future(self.watchdog())
        tasks = [asyncio.ensure_future(self.slot(i)) for i in range(self.connections)]
        if self.budget:
            await asyncio.gather(*tasks)
            self.stats.elapsed = time.perf_counter() - self.start
        else:
            # In-flight requests at the deadline are abandoned, not counted: the run is exactly
            # --duration long and every counted request finished inside it.
            _, pending = await asyncio.wait(tasks, timeout=self.options.duration)
            self.stats.elapsed = time.perf_counter() - self.start
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        watchdog.cancel()
        return self.stats
