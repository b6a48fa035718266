"""A TLS test server process: one or more VIPs served by ``l7lb.tls.listener``.

Run as ``python tls_server_proc.py CONFIG_JSON``. CONFIG: {"vips": [{"name",
"port", "tls": {<[vip.tls] table>}}], "session_server": path|null,
"ring": hex|null, "follow_ring": bool}. Each VIP answers every HTTP request
head with a JSON body describing the connection and the process (pid,
session reuse, TLS version, counters, open fds). Prints READY when listening.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from typing import Any

import uvloop

from l7lb.tls.context import Resumption, build_vip_tls
from l7lb.tls.listener import serve_tls
from l7lb.tls.session_server import SessionServerClient, follow_ticket_ring
from l7lb.tls.settings import parse_tls_table
from l7lb.tls.ticketkeys import TicketKeyRing, TicketRingHolder


class Http(asyncio.Protocol):
    def __init__(self, info: dict[str, object]) -> None:
        self.info = info
        self.buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport  # uvloop's SSL transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            _, self.buf = self.buf.split(b"\r\n\r\n", 1)
            so = self.transport.get_extra_info("ssl_object")
            body = json.dumps(
                {
                    **self.info,
                    "pid": os.getpid(),
                    "reused": so.session_reused,
                    "version": so.version(),
                    "alpn": so.selected_alpn_protocol(),
                    "fds": len(os.listdir("/proc/self/fd")),
                    "counters": {name: rt.counters.snapshot() for name, rt in RUNTIMES.items()},
                }
            ).encode()
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )


RUNTIMES: dict[str, Any] = {}
TASKS: list[asyncio.Task[None]] = []


async def main(cfg: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    client = SessionServerClient(cfg["session_server"]) if cfg.get("session_server") else None
    holder = None
    if cfg.get("ring"):
        holder = TicketRingHolder(TicketKeyRing.from_bytes(bytes.fromhex(cfg["ring"])))
    if client is not None and cfg.get("follow_ring"):
        ring = await client.ticket_ring()
        assert ring is not None
        holder = TicketRingHolder(ring)

        def apply(r: TicketKeyRing) -> None:
            assert holder is not None
            holder.ring = r

        TASKS.append(loop.create_task(follow_ticket_ring(client, apply, 0.2)))
    resumption = Resumption(store=client, ticket_ring=holder, prefetch_deadline=0.5)
    if client is not None:
        resumption.cache.publish = client.publish
    servers = []
    for vip in cfg["vips"]:
        settings, issues = parse_tls_table(vip["tls"], f"vip.{vip['name']}.tls")
        assert settings is not None, issues
        rt = build_vip_tls(vip["name"], settings, resumption=resumption)
        RUNTIMES[vip["name"]] = rt
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", vip["port"]))
        sock.listen(512)
        info = {"vip": vip["name"], "shared": rt.shared}

        def factory(arrival: object, info: dict[str, object] = info) -> asyncio.Protocol:
            return Http(info)

        servers.append(await serve_tls(loop, sock, rt, factory))
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("READY", flush=True)
    await stop.wait()
    for s in servers:
        s.close()


if __name__ == "__main__":
    uvloop.run(main(json.loads(sys.argv[1])))
