"""The access log: one line per request, Apache combined or JSON.

Lines are appended to an in-memory buffer and written in batches (at most
every 200 ms or 64 KiB) so a request never waits on a write(2). Each batch is
written with one ``os.write`` on an ``O_APPEND`` descriptor; lines from several
workers may interleave by batch, never inside a line.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from l7lb.config.model import LogSettings
from l7lb.http.events import RequestHead


@dataclass(slots=True)
class AccessRecord:
    """One line of the access log. (A dataclass: built only when the log is on.)"""

    client: str
    method: bytes
    target: bytes
    version: bytes
    status: int
    bytes_sent: int
    referer: bytes
    user_agent: bytes
    host: bytes
    vip: str
    pool: str
    server: str
    backend_ms: float  # -1 when no backend was involved
    total_ms: float

    @classmethod
    def of(
        cls,
        req: RequestHead,
        client: str,
        vip: str,
        pool: str,
        server: str,
        status: int,
        bytes_sent: int,
        backend_ms: float,
        total_ms: float,
    ) -> AccessRecord:
        """The record of a request, its Referer and User-Agent read from its head."""
        # the last of each, read from the head's lines without building its field list
        referers = req.fields(b"referer")
        agents = req.fields(b"user-agent")
        referer = referers[-1][1] if referers else b""
        user_agent = agents[-1][1] if agents else b""
        return cls(
            client,
            req.method,
            req.target,
            req.version,
            status,
            bytes_sent,
            referer,
            user_agent,
            req.host,
            vip,
            pool,
            server,
            backend_ms,
            total_ms,
        )


class AccessLog:
    FLUSH_BYTES = 65536

    def __init__(
        self, settings: LogSettings, schedule: Callable[[float, Callable[[], None]], object]
    ):
        self._fd = -1
        if settings.access == "-":
            self._fd = 1
        elif settings.access not in ("off", ""):
            self._fd = os.open(settings.access, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._owns_fd = self._fd > 2
        self._json = settings.format == "json"
        self._exclude = tuple(p.encode() for p in settings.exclude_paths)
        self._buf: list[bytes] = []
        self._size = 0
        self._schedule = schedule
        self._flush_pending = False
        self._stamp_second = -1
        self._stamp = b""

    @property
    def enabled(self) -> bool:
        return self._fd >= 0

    def excluded(self, target: bytes) -> bool:
        if not self._exclude:
            return False
        path = target.split(b"?", 1)[0]
        return path in self._exclude

    def _timestamp(self) -> bytes:
        now = int(time.time())
        if now != self._stamp_second:
            self._stamp_second = now
            self._stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)).encode()
        return self._stamp

    def write(self, r: AccessRecord) -> None:
        if self._fd < 0 or self.excluded(r.target):
            return
        if self._json:
            line = (
                json.dumps(
                    {
                        "time": self._timestamp().decode(),
                        "client": r.client,
                        "method": r.method.decode("latin-1"),
                        "target": r.target.decode("latin-1"),
                        "version": r.version.decode("latin-1"),
                        "status": r.status,
                        "bytes": r.bytes_sent,
                        "referer": r.referer.decode("latin-1"),
                        "user_agent": r.user_agent.decode("latin-1"),
                        "host": r.host.decode("latin-1"),
                        "vip": r.vip,
                        "pool": r.pool,
                        "server": r.server,
                        "backend_ms": round(r.backend_ms, 3),
                        "total_ms": round(r.total_ms, 3),
                    },
                    separators=(",", ":"),
                ).encode()
                + b"\n"
            )
        else:
            line = (
                b'%s - - [%s] "%s %s HTTP/%s" %d %d "%s" "%s" '
                b"vip=%s pool=%s server=%s backend_ms=%.3f total_ms=%.3f\n"
                % (
                    r.client.encode(),
                    self._timestamp(),
                    r.method,
                    _safe(r.target),
                    r.version,
                    r.status,
                    r.bytes_sent,
                    _safe(r.referer) or b"-",
                    _safe(r.user_agent) or b"-",
                    r.vip.encode(),
                    (r.pool or "-").encode(),
                    (r.server or "-").encode(),
                    r.backend_ms,
                    r.total_ms,
                )
            )
        self._buf.append(line)
        self._size += len(line)
        if self._size >= self.FLUSH_BYTES:
            self.flush()
        elif not self._flush_pending:
            self._flush_pending = True
            self._schedule(0.2, self._timed_flush)

    def _timed_flush(self) -> None:
        self._flush_pending = False
        self.flush()

    def flush(self) -> None:
        if not self._buf:
            return
        data = b"".join(self._buf)
        self._buf.clear()
        self._size = 0
        try:
            while data:
                n = os.write(self._fd, data)
                data = data[n:]
        except BlockingIOError:
            # stdout is a non-blocking pipe that is full: drop rather than stall the loop
            pass
        except OSError:
            pass

    def close(self) -> None:
        self.flush()
        if self._owns_fd:
            os.close(self._fd)
            self._fd = -1


def _safe(value: bytes) -> bytes:
    """Quote-safe: a client must not be able to forge log fields."""
    # ints, not one-byte strings: ``b'"' in value`` first fails as a number, which costs
    # an exception's formatting per test
    if 34 in value or 92 in value:
        return value.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    return value
