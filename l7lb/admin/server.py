"""The admin socket: one command per connection, a text answer, close.

Owned by the supervisor, which implements ``AdminHandler`` (apply a change
to every worker, gather the rows of ``show servers``, reload, stop); the
admin HTTP listener (``http_server``) serves the same handler. The socket file is
created with mode 0600: whoever can write to it can take servers out of
rotation. Input is bounded: one line of at most ``MAX_LINE`` bytes, read
within ``timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat

from l7lb.admin.commands import MAX_LINE, AdminError, parse_command
from l7lb.admin.handler import AdminHandler, execute

log = logging.getLogger("l7lb.admin")


class AdminServer:
    """``await start()`` / ``await close()``, or ``async with``."""

    def __init__(
        self,
        path: str,
        handler: AdminHandler,
        *,
        timeout: float = 5.0,
        answer_timeout: float = 60.0,
    ) -> None:
        self.path = path
        self.handler = handler
        self.timeout = timeout  # to read the command, and to write the answer
        # a reload waits for a new generation of workers (up to 15 s), and more
        self.answer_timeout = answer_timeout
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        _remove_stale(self.path)
        # umask first, so the socket is never reachable with wider permissions
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, self.path, limit=MAX_LINE + 1
            )
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    async def __aenter__(self) -> AdminServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                line = await asyncio.wait_for(_read_line(reader), self.timeout)
                answer = await asyncio.wait_for(self.answer(line), self.answer_timeout)
            except TimeoutError:
                answer = "error: timed out\n"
            writer.write(answer.encode("utf-8"))
            await asyncio.wait_for(writer.drain(), self.timeout)
        except (TimeoutError, OSError):
            pass  # the client went away; nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def answer(self, line: bytes) -> str:
        """The text answered to one command line (always ends in a newline)."""
        try:
            text = await execute(self.handler, parse_command(line))
        except AdminError as exc:
            return f"error: {exc}\n"
        except Exception:  # a handler bug must not kill the supervisor
            log.exception("admin command failed: %r", line[:MAX_LINE])
            return "error: internal error (see the l7lb log)\n"
        log.info("admin: %s", line.decode("utf-8", "replace").strip())
        return text


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial  # no newline before EOF (printf 'show servers' | socat ...)
    except asyncio.LimitOverrunError:
        return b"x" * (MAX_LINE + 1)  # parse_command answers "too long"


def _remove_stale(path: str) -> None:
    """Remove a socket file left by a dead supervisor; refuse to take over a
    live one or to delete anything that is not a socket."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(f"admin socket path {path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        os.unlink(path)
        return
    finally:
        probe.close()
    raise OSError(f"admin socket {path} is in use by another l7lb")
