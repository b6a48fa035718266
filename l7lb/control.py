"""The control channel between the supervisor and each worker.

One socketpair per worker carries JSON objects, one per line. The supervisor
pushes what must be the same in every worker (health states, admin weights
and states, persistence-table entries learned by another worker, TLS ticket
keys); workers report what they learn and answer statistics requests.

Messages (``t`` is the type):

  worker -> supervisor   {"t": "ready", "pid": N}
                         {"t": "stick", "u": [[table, key_b64, server], ...]}
                         {"t": "stats", "id": N, "servers": [[pool, server, active, requests]],
                          "tables": {name: entries}}
  supervisor -> worker   {"t": "health", "pool": P, "server": S, "up": bool}
                         {"t": "admin", "pool": P, "server": S, "weight": N | null,
                          "state": "ready" | "drain" | "maint" | null}
                         {"t": "stick", "u": [...]}
                         {"t": "stats?", "id": N}
                         {"t": "ticket_keys", "keys": [hex, ...]}
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger("l7lb.control")

MAX_LINE = 8 * 1024 * 1024  # a stats answer or a table snapshot can be large, not unbounded


def encode(msg: dict[str, Any]) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode() + b"\n"


class LineDecoder:
    """Bytes in, messages out; a malformed line is logged and skipped."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buf += data
        if b"\n" not in self._buf:
            if len(self._buf) > MAX_LINE:
                log.error("control channel: line over %d bytes dropped", MAX_LINE)
                self._buf = b""
            return []
        *lines, self._buf = self._buf.split(b"\n")
        out = []
        for line in lines:
            if not line.strip():
                continue
            try:
                msg = json.loads(line)
            except ValueError:
                log.error("control channel: malformed message %r", line[:80])
                continue
            if isinstance(msg, dict) and isinstance(msg.get("t"), str):
                out.append(msg)
            else:
                log.error("control channel: message without a type %r", line[:80])
        return out
