"""A realserver that expects a PROXY header and says what it saw (for send_proxy tests).

    python proxy_echo_server.py PORT NAME

Every connection must start with a PROXY header, version 1 or 2; one that does not is
recorded as ``{"error": ...}`` and closed, as a real receiver would. The header is parsed
here with its own few lines (struct and split, straight from proxy-protocol.txt), not with
l7lb's codec, so a test that reads this server's report checks l7lb's encoder against an
independent reading. Then HTTP/1.1 with keep-alive (h11):

  /pp        JSON: this connection's header, its number, and requests on it so far
  /stats     JSON: every connection so far: its header (or error) and request count
  anything else: 200 "NAME\\n" (health checks too)
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import sys
from typing import Any

import h11

SIG = b"\r\n\r\n\x00\r\nQUIT\n"
CONNECTIONS: list[dict[str, Any]] = []


async def read_proxy(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes]:
    first = await reader.readexactly(1)
    if first == b"P":
        line = first + await reader.readuntil(b"\r\n")
        parts = line[:-2].decode("ascii").split(" ")
        if parts[0] != "PROXY":
            raise ValueError(f"not a v1 line: {line!r}")
        if parts[1] == "UNKNOWN":
            return {"version": 1, "command": "PROXY", "protocol": "UNKNOWN"}, b""
        return {
            "version": 1,
            "command": "PROXY",
            "protocol": parts[1],
            "src": parts[2],
            "dst": parts[3],
            "src_port": int(parts[4]),
            "dst_port": int(parts[5]),
        }, b""
    rest = await reader.readexactly(15)
    fixed = first + rest
    if fixed[:12] != SIG:
        raise ValueError(f"no PROXY header: {fixed!r}")
    ver_cmd, fam, length = struct.unpack("!BBH", fixed[12:])
    block = await reader.readexactly(length)
    out: dict[str, Any] = {"version": ver_cmd >> 4}
    if ver_cmd & 0x0F == 0:
        out["command"] = "LOCAL"
        return out, b""
    out["command"] = "PROXY"
    out["fam"] = fam
    pos = 0
    if fam in (0x11, 0x21):
        af, size = (socket.AF_INET, 4) if fam == 0x11 else (socket.AF_INET6, 16)
        out["src"] = socket.inet_ntop(af, block[:size])
        out["dst"] = socket.inet_ntop(af, block[size : 2 * size])
        out["src_port"], out["dst_port"] = struct.unpack("!HH", block[2 * size : 2 * size + 4])
        pos = 2 * size + 4
    tlvs = []
    while pos < len(block):
        kind, n = struct.unpack("!BH", block[pos : pos + 3])
        value = block[pos + 3 : pos + 3 + n]
        pos += 3 + n
        tlvs.append({"type": kind, "value": value.hex()})
        if kind == 0x02:
            out["authority"] = value.decode()
        elif kind == 0x01:
            out["alpn"] = value.decode()
        elif kind == 0x20:
            client, verify = struct.unpack("!BI", value[:5])
            out["ssl_client"], out["ssl_verify"] = client, verify
            sub = 5
            while sub < len(value):
                t, m = struct.unpack("!BH", value[sub : sub + 3])
                v = value[sub + 3 : sub + 3 + m]
                sub += 3 + m
                if t == 0x21:
                    out["ssl_version"] = v.decode()
                elif t == 0x23:
                    out["ssl_cipher"] = v.decode()
    out["tlvs"] = tlvs
    return out, b""


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str) -> None:
    record: dict[str, Any] = {"n": len(CONNECTIONS) + 1, "requests": 0, "agents": []}
    CONNECTIONS.append(record)
    try:
        record["header"], _ = await asyncio.wait_for(read_proxy(reader), 5.0)
    except (
        ValueError,
        asyncio.IncompleteReadError,
        asyncio.LimitOverrunError,
        TimeoutError,
    ) as exc:
        record["error"] = repr(exc)
        writer.close()
        return
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                continue
            if not isinstance(ev, h11.Request):
                break
            record["requests"] += 1
            agent = dict(ev.headers).get(b"user-agent", b"").decode()
            record["agents"].append(agent)
            path = ev.target.decode().split("?")[0]
            while not isinstance(conn.next_event(), h11.EndOfMessage):
                pass
            if path == "/pp":
                body = json.dumps(record).encode()
            elif path == "/stats":
                body = json.dumps(CONNECTIONS).encode()
            else:
                body = f"{name}\n".encode()
            headers = [("content-length", str(len(body))), ("x-backend", name)]
            writer.write(conn.send(h11.Response(status_code=200, headers=headers)))
            writer.write(conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
            await writer.drain()
            if conn.our_state is h11.MUST_CLOSE:
                break
            conn.start_next_cycle()
    except (h11.RemoteProtocolError, ConnectionError) as exc:
        record["error"] = repr(exc)
    finally:
        writer.close()


async def main(port: int, name: str) -> None:
    server = await asyncio.start_server(lambda r, w: handle(r, w, name), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
