"""A small threaded HTTP/1.1 (optionally TLS) server the bench tests aim at.

Run as a separate process so the bench's forked client processes never share its sockets. It
prints its port on stdout, then logs one JSON line per connection, handshake and request to
--log, written before the response so the log is complete when the client has its answers.

Behaviour, all chosen on the command line:
  --reset-every N  close every Nth connection with a TCP RST right after accept
  --stall          read requests but never answer (timeouts)
  --sticky         give each new client a `cid` cookie and a backend b(cid % 2), sent back in the
                   X-Backend header and an `srv` cookie; client 1 flips between b0 and b1
  --two-ports      listen on a second port too (both printed, one line each) with the same TLS
                   context, so one session cache: two "directors" sharing their sessions
  /status/NNN      answer with that status
  /sleep/MS        answer after MS milliseconds
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import ssl
import struct
import threading
import time
from typing import Any, BinaryIO, TextIO

lock = threading.Lock()
counters = {"conn": 0, "cid": 0}
served: dict[int, int] = {}


def log(out: TextIO, **event: Any) -> None:
    with lock:
        out.write(json.dumps(event) + "\n")
        out.flush()


def read_request(f: BinaryIO) -> tuple[str, str, dict[str, str], bytes] | None:
    line = f.readline()
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = f.read(int(headers.get("content-length", "0") or 0))
    return method, path, headers, body


def respond(
    args: argparse.Namespace, method: str, path: str, headers: dict[str, str]
) -> tuple[int, list[str], bytes]:
    status, extra, body = 200, [], b"ok"
    if path.startswith("/status/"):
        status = int(path.split("/")[2])
    if path.startswith("/sleep/"):
        time.sleep(int(path.split("/")[2]) / 1000)
    if args.sticky:
        cookies = dict(
            c.strip().split("=", 1) for c in headers.get("cookie", "").split(";") if "=" in c
        )
        if "cid" in cookies:
            cid = int(cookies["cid"])
        else:
            with lock:
                counters["cid"] += 1
                cid = counters["cid"]
            extra.append(f"Set-Cookie: cid={cid}; Path=/; HttpOnly")
        with lock:
            served[cid] = served.get(cid, 0) + 1
            n = served[cid]
        backend = f"b{cid % 2}" if cid != 1 else f"b{n % 2}"
        extra.append(f"X-Backend: {backend}")
        if "srv" not in cookies or cid == 1:
            extra.append(f"Set-Cookie: srv={backend}; Max-Age=3600")
    return status, extra, body


def handle(
    args: argparse.Namespace,
    ctx: ssl.SSLContext | None,
    out: TextIO,
    conn: socket.socket,
    n: int,
) -> None:
    try:
        if ctx is not None:
            try:
                tls = ctx.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log(out, ev="handshake_failed", conn=n, error=str(exc))
                return
            session = tls.session
            log(
                out,
                ev="handshake",
                conn=n,
                port=tls.getsockname()[1],
                reused=tls.session_reused,
                version=tls.version(),
                session=session.id.hex() if session is not None else "",
            )
            conn = tls
        f = conn.makefile("rb")
        while True:
            req = read_request(f)
            if req is None:
                break
            method, path, headers, body = req
            log(
                out, ev="request", conn=n, method=method, path=path, headers=headers, body=len(body)
            )
            if args.stall:
                continue
            status, extra, payload = respond(args, method, path, headers)
            close = headers.get("connection", "").lower() == "close"
            head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(payload)}", *extra]
            if close:
                head.append("Connection: close")
            if method == "HEAD":
                payload = b""
            conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
            if close:
                break
    except OSError:
        pass
    finally:
        if isinstance(conn, ssl.SSLSocket):
            # Send close_notify: OpenSSL drops a cached session whose connection ended without.
            with contextlib.suppress(ssl.SSLError, OSError, ValueError):
                conn.unwrap()
        conn.close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--log", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--reset-every", type=int, default=0)
    p.add_argument("--stall", action="store_true")
    p.add_argument("--sticky", action="store_true")
    p.add_argument("--two-ports", action="store_true")
    args = p.parse_args()
    ctx = None
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
    out = open(args.log, "a", encoding="utf-8")  # noqa: SIM115 (open for the process' life)
    socks = []
    for _ in range(2 if args.two_ports else 1):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        print(sock.getsockname()[1], flush=True)
        socks.append(sock)
    for sock in socks[1:]:
        threading.Thread(target=serve, args=(args, ctx, out, sock), daemon=True).start()
    serve(args, ctx, out, socks[0])


def serve(
    args: argparse.Namespace, ctx: ssl.SSLContext | None, out: TextIO, sock: socket.socket
) -> None:
    while True:
        conn, _ = sock.accept()
        with lock:
            counters["conn"] += 1
            n = counters["conn"]
        log(out, ev="connection", conn=n)
        # Without NODELAY, TLS 1.3 tickets + response hit Nagle / delayed ACK (40 ms stalls).
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if args.reset_every and n % args.reset_every == 0:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            continue
        threading.Thread(target=handle, args=(args, ctx, out, conn, n), daemon=True).start()


if __name__ == "__main__":
    main()
