"""``_nothing_unread``: when closing a TLS connection may skip the client's close_notify.

Closing a socket whose receive queue holds unread bytes makes the kernel send a
RST, which can destroy the response still in flight to the client; l7lb then
waits for the client instead."""

from __future__ import annotations

import asyncio
import socket

import uvloop

from l7lb.proxy.client import _nothing_unread, _socket_of


def test_unread_bytes_and_unsent_bytes_forbid_the_quick_close() -> None:
    async def main() -> list[bool]:
        loop = asyncio.get_running_loop()
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(4)
        client = socket.create_connection(lsock.getsockname())
        conn, _ = lsock.accept()
        conn.setblocking(False)
        transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, conn)
        transport.pause_reading()  # bytes the client sends now stay in the kernel's queue
        sock = _socket_of(transport)
        assert sock is not None
        seen = [_nothing_unread(transport, sock)]  # nothing either way
        client.sendall(b"GET / HTTP/1.1\r\n\r\n")  # a pipelined request we never read
        await asyncio.sleep(0.05)
        seen.append(_nothing_unread(transport, sock))
        transport.resume_reading()  # read (and drop) them
        await asyncio.sleep(0.05)
        transport.pause_reading()
        seen.append(_nothing_unread(transport, sock))
        # a write the kernel cannot take at once stays in uvloop's buffer
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        transport.write(b"x" * (8 << 20))
        seen.append(_nothing_unread(transport, sock))
        sock.detach()
        transport.abort()
        client.close()
        lsock.close()
        return seen

    assert uvloop.run(main()) == [True, False, True, False]
