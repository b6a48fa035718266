"""A closed connection is freed by reference counting: it leaves nothing of l7lb's for the
cyclic garbage collector, over plain HTTP/1.1, TLS (full and resumed handshakes) and HTTP/2.

Real sockets and a real uvloop loop in this process, serving as a worker does; the clients
are curl processes, so that only the server's objects live here. A reference cycle per
connection (the httptools codec had one: llhttp held the codec's callback and the codec held
llhttp) costs a collector pass every hundred or so connections, several per cent of a
resumed TLS connection's CPU.
"""

from __future__ import annotations

import asyncio
import gc
import shutil
import socket
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import uvloop

from l7lb.config.load import parse_config
from l7lb.proxy.client import ClientConnection
from l7lb.proxy.runtime import WorkerRuntime
from l7lb.proxy.services import WorkerServices
from l7lb.proxyproto.arrival import Arrival
from l7lb.tls.context import build_vip_tls
from l7lb.tls.listener import serve_tls
from l7lb.tls.settings import TlsSettings

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")

CONFIG = """
[log]
access = "off"
[[vip]]
name = "plain"
listen = ["127.0.0.1:{plain}"]
[[vip.route]]
pool = "p"
[[vip]]
name = "tls"
listen = ["127.0.0.1:{tls}"]
[vip.tls]
certificates = [{{cert = "{cert}", key = "{key}"}}]
alpn = ["h2", "http/1.1"]
[[vip.route]]
pool = "p"
[pool.p]
[[pool.p.server]]
address = "127.0.0.1:{backend}"
"""
CONNECTIONS = 12


class Realserver(asyncio.Protocol):
    """Answers every request it reads with a small keep-alive response."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        for _ in range(data.count(b"\r\n\r\n")):
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _ours(garbage: list[Any]) -> Counter[str]:
    """The objects among ``garbage`` that l7lb or its parser made, by type."""
    return Counter(
        f"{type(o).__module__}.{type(o).__qualname__}"
        for o in garbage
        if type(o).__module__.split(".")[0] in ("l7lb", "httptools")
    )


def _free_garbage() -> None:
    """Free what is garbage now: with DEBUG_SAVEALL a collection keeps it in gc.garbage."""
    gc.set_debug(0)
    gc.garbage.clear()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)


@pytest.fixture
def collector_saves_all() -> Iterator[None]:
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield
    finally:
        _free_garbage()
        gc.set_debug(0)
        gc.enable()


@pytest.mark.usefixtures("collector_saves_all")
@pytest.mark.parametrize(
    "client",
    [
        ["--http1.1", "http://127.0.0.1:{plain}/"],
        ["--http1.1", "https://127.0.0.1:{tls}/"],  # curl resumes its session after the first
        ["--http1.1", "--tlsv1.2", "--tls-max", "1.2", "https://127.0.0.1:{tls}/"],
        ["--http2", "https://127.0.0.1:{tls}/"],
    ],
    ids=["http", "tls13", "tls12", "h2"],
)
def test_closed_connections_leave_no_cycles(client: list[str], make_cert: Any) -> None:
    cert, key = make_cert("localhost")
    ports = {"plain": _free_port(), "tls": _free_port(), "backend": _free_port()}
    config = parse_config(CONFIG.format(cert=cert, key=key, **ports))
    argv = ["curl", "-sk", "--max-time", "10", "-H", "Connection: close", "-w", "%{http_code}\\n"]
    argv += [a.format(**ports) for a in client[:-1]]
    url = ["-o", "/dev/null", client[-1].format(**ports)]  # -o: for one URL

    async def serve_and_count() -> tuple[list[str], Counter[str]]:
        loop = asyncio.get_running_loop()
        backend = await loop.create_server(Realserver, "127.0.0.1", ports["backend"])
        rt = WorkerRuntime(config, loop.call_soon)
        services = WorkerServices(rt, loop)
        servers: list[Any] = [backend]
        for vip in config.vips:
            vr = rt.vips[vip.name]

            def factory(arrival: Arrival | None = None, vr: Any = vr) -> ClientConnection:
                return ClientConnection(services, vr, arrival)

            sock = _listening(ports[vip.name])
            if isinstance(vip.tls, TlsSettings):
                vip_tls = build_vip_tls(vip.name, vip.tls)
                services.tls[vip.name] = vip_tls
                servers.append(await serve_tls(loop, sock, vip_tls, factory))
            else:
                servers.append(await loop.create_server(factory, sock=sock))
        codes: list[str] = []
        try:
            # one curl makes every connection in turn (Connection: close), so that a TLS
            # client resumes; the first one warms up what lives as long as the worker
            for n in (1, CONNECTIONS):
                proc = await asyncio.create_subprocess_exec(
                    *argv, *(url * n), stdout=asyncio.subprocess.PIPE
                )
                out, _ = await proc.communicate()
                codes += out.decode().split()
                if n == 1:
                    await asyncio.sleep(0.2)
                    _free_garbage()
            await asyncio.sleep(0.3)  # the server side closes after the client's last read
            gc.collect()
            found = _ours(gc.garbage)
        finally:
            for s in servers:
                s.close()
        return codes, found

    codes, found = uvloop.run(serve_and_count())
    assert codes == ["200"] * (CONNECTIONS + 1), codes
    # (over HTTP/2 curl multiplexes the requests on one connection: its streams, exchanges
    # and heads, and the connection's engine, whose parts keep it as their host until it
    # is gone, H2Connection._let_go)
    assert found == Counter(), f"cycles left by {CONNECTIONS} connections: {dict(found)}"
