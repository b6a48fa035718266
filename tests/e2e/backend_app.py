"""A realserver for end-to-end tests, built on h11 (independent of l7lb's codec).

    python backend_app.py PORT NAME

Routes (the query string carries parameters):
  /                 200, body "NAME\n", header x-backend: NAME
  /headers          200, JSON of the request line and headers as received
  /echo             streams the request body back (chunked response)
  /upload           reads the body without keeping it, answers its length
  /big?size=N       N bytes of "x" (Content-Length), streamed in 64 KiB pieces
  /chunked?n=K      K chunks of "chunk i\n" (chunked response)
  /close            HTTP/1.0-style close-delimited response
  /slow?delay=S     sleeps S seconds before answering
  /status?code=N    answers N
  /redirect         302 with Location http://127.0.0.1:PORT/target
  /conn             the number of TCP connections this server has accepted
  /garbage          answers bytes that are not HTTP
  /smuggle          a response whose body is a second, complete response (sent even to
                    HEAD, as buggy servers do), then closes
  /reset            closes the connection without answering
  /ws               101 Switching Protocols, then echoes raw bytes
  /login            sets JSESSIONID=<random> (with ?suffix=1: <random>.NAME, a Tomcat jvmRoute)
  /stats            JSON: requests per path and the cookies of the last request
  anything else     like /
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from urllib.parse import parse_qs, urlsplit

import h11

CONNECTIONS = 0
PATHS: dict[str, int] = {}
LAST_COOKIE = [""]


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str, port: int):
    global CONNECTIONS
    CONNECTIONS += 1
    conn = h11.Connection(h11.SERVER)

    async def next_event():
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA:
                if conn.they_are_waiting_for_100_continue:
                    writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
                data = await reader.read(65536)
                conn.receive_data(data)
                continue
            return ev

    async def send(ev):
        data = conn.send(ev)
        if data:
            writer.write(data)
            await writer.drain()

    try:
        while True:
            ev = await next_event()
            if isinstance(ev, h11.ConnectionClosed) or ev is h11.PAUSED:
                break
            if not isinstance(ev, h11.Request):
                break
            req = ev
            url = urlsplit(req.target.decode())
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            path = url.path
            PATHS[path] = PATHS.get(path, 0) + 1
            LAST_COOKIE[0] = ", ".join(v.decode() for k, v in req.headers if k == b"cookie")
            hdrs = [(b"x-backend", name.encode())]
            if path == "/ws":
                writer.write(
                    b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\n"
                    b"upgrade: websocket\r\nx-backend: " + name.encode() + b"\r\n\r\n"
                )
                trailing, _ = conn.trailing_data
                if trailing:
                    writer.write(trailing)
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    writer.write(data)
                    await writer.drain()
                break
            if path == "/reset":
                writer.transport.abort()
                return
            if path == "/garbage":
                writer.write(b"this is not http\r\n\r\n")
                await writer.drain()
                writer.close()
                return
            if path == "/smuggle":
                injected = (
                    b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-Injected: yes\r\n\r\nINJECTED"
                )
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(injected) + injected
                )
                await writer.drain()
                writer.close()
                return
            if path == "/slow":
                await asyncio.sleep(float(q.get("delay", "1")))
            if path in ("/echo", "/upload"):
                if path == "/echo":
                    await send(
                        h11.Response(
                            status_code=200, headers=[*hdrs, (b"transfer-encoding", b"chunked")]
                        )
                    )
                total = 0
                while True:
                    ev = await next_event()
                    if isinstance(ev, h11.Data):
                        total += len(ev.data)
                        if path == "/echo":
                            await send(h11.Data(data=ev.data))
                    else:
                        break
                if path == "/upload":
                    body = b"%d\n" % total
                    await send(
                        h11.Response(
                            status_code=200, headers=[*hdrs, (b"content-length", b"%d" % len(body))]
                        )
                    )
                    await send(h11.Data(data=body))
                await send(h11.EndOfMessage())
            else:
                while not isinstance(await next_event(), h11.EndOfMessage):
                    pass
                if path == "/headers":
                    body = json.dumps(
                        {
                            "method": req.method.decode(),
                            "target": req.target.decode(),
                            "headers": [[k.decode(), v.decode()] for k, v in req.headers],
                        }
                    ).encode()
                    await send(
                        h11.Response(
                            status_code=200,
                            headers=[
                                *hdrs,
                                (b"content-length", b"%d" % len(body)),
                                (b"content-type", b"application/json"),
                            ],
                        )
                    )
                    await send(h11.Data(data=body))
                elif path == "/big":
                    size = int(q.get("size", "1048576"))
                    await send(
                        h11.Response(
                            status_code=200, headers=[*hdrs, (b"content-length", b"%d" % size)]
                        )
                    )
                    piece = b"x" * 65536
                    left = size
                    while left > 0:
                        n = min(left, len(piece))
                        await send(h11.Data(data=piece[:n]))
                        left -= n
                elif path == "/chunked":
                    await send(
                        h11.Response(
                            status_code=200, headers=[*hdrs, (b"transfer-encoding", b"chunked")]
                        )
                    )
                    for i in range(int(q.get("n", "3"))):
                        await send(h11.Data(data=b"chunk %d\n" % i))
                elif path == "/close":
                    writer.write(
                        b"HTTP/1.0 200 OK\r\nx-backend: "
                        + name.encode()
                        + b"\r\n\r\nclose-delimited body\n"
                    )
                    await writer.drain()
                    writer.close()
                    return
                elif path in ("/login", "/stats"):
                    if path == "/login":
                        sid = os.urandom(8).hex() + ("." + name if q.get("suffix") else "")
                        hdrs.append((b"set-cookie", f"JSESSIONID={sid}; Path=/".encode()))
                        body = f"{name}\n".encode()
                    else:
                        body = json.dumps({"paths": PATHS, "cookie": LAST_COOKIE[0]}).encode()
                    await send(
                        h11.Response(
                            status_code=200, headers=[*hdrs, (b"content-length", b"%d" % len(body))]
                        )
                    )
                    await send(h11.Data(data=body))
                elif path == "/redirect":
                    loc = f"http://127.0.0.1:{port}/target".encode()
                    await send(
                        h11.Response(
                            status_code=302,
                            headers=[*hdrs, (b"location", loc), (b"content-length", b"0")],
                        )
                    )
                elif path == "/status":
                    code = int(q.get("code", "200"))
                    body = b"" if code in (204, 304) else b"status\n"
                    extra = [] if code in (204, 304) else [(b"content-length", b"%d" % len(body))]
                    await send(h11.Response(status_code=code, headers=hdrs + extra))
                    if body:
                        await send(h11.Data(data=body))
                else:
                    body = (name + "\n").encode() if path != "/conn" else b"%d\n" % CONNECTIONS
                    if req.method == b"HEAD":
                        body_len = len(body)
                        await send(
                            h11.Response(
                                status_code=200,
                                headers=[*hdrs, (b"content-length", b"%d" % body_len)],
                            )
                        )
                        body = b""
                    else:
                        await send(
                            h11.Response(
                                status_code=200,
                                headers=[*hdrs, (b"content-length", b"%d" % len(body))],
                            )
                        )
                    if body:
                        await send(h11.Data(data=body))
                await send(h11.EndOfMessage())
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                break
            conn.start_next_cycle()
    except (h11.RemoteProtocolError, ConnectionError, h11.LocalProtocolError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def main() -> None:
    port = int(sys.argv[1])
    name = sys.argv[2]
    server = await asyncio.start_server(lambda r, w: handle(r, w, name, port), "127.0.0.1", port)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
