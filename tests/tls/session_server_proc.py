"""The supervisor's session server as a test process: ``python session_server_proc.py PATH``."""

from __future__ import annotations

import asyncio
import signal
import sys
import time

import uvloop

from l7lb.tls.session_server import SessionServer
from l7lb.tls.ticketkeys import TicketKeyRing


async def main(path: str) -> None:
    server = SessionServer(ring=TicketKeyRing.generate(time.time()), rotation=3600)
    await server.start(path)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("READY", flush=True)
    await stop.wait()
    await server.close()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1]))
