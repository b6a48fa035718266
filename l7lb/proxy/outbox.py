"""Bytes for the worker's transports, held until the end of the event loop's pass.

A worker reads what every ready connection sent, then writes what each of those reads
produced. Before this module, each write left the moment the engine made it, while the
worker went on to the next ready connection. On one host that costs the receiving side
a wake-up per write: the client and the backend get one small write, act on it and go
back to sleep before the next arrives, and each write to a sleeper wakes it on its CPU
with an inter-processor interrupt, which a virtual machine pays for with an exit.
Measured on the benchmark's layout (l7lb on CPU 1, wrk and nginx on CPU 0, keep-alive,
50 connections; ``perf stat -e irq_vectors:call_function_single_entry`` on CPU 0):
1.17 such interrupts per plain request and 1.41 per TLS one with immediate writes, 0.01
to 0.07 with writes held to the end of the pass, where HAProxy, which also sends after it
has processed a pass's events, measured 0.12 to 0.19. ``compare.py``'s own count (its
"load CPU woken" column, rescheduling interrupts included) then gave l7lb 0.06 to 0.08
and HAProxy 0.05 to 0.11 (benchmarks/RESULTS.md, late morning of 2026-12-03).

The contract:

- ``send(transport, data)`` queues the bytes. The first ``send`` of a pass asks the loop
  for one callback (``schedule``, the loop's ``call_soon``), which runs before the loop
  next waits for events, so nothing is held across a wait.
- ``flush()`` writes everything queued, in the order it was queued, and skips a
  transport that is closing by then (its peer went away, or l7lb reset it).
- A connection calls ``flush()`` before it closes or resets a transport, so a close
  never overtakes bytes queued before it.
- ``flush()`` may run inside a write it made (a transport that passes its high-water
  mark calls ``pause_writing``, and the engine may then close a connection). The
  nested call goes on from the same cursor, so each write is made once and in order.
- At ``HELD_MAX`` queued writes, or ``HELD_BYTES`` queued bytes, the outbox flushes at
  once. The first bounds the delay a pass with many ready connections adds to its first
  answer. The second keeps a large body flowing as it did with immediate writes: a
  backend read of 64 KiB or more leaves at once, so the client's transport says
  ``pause_writing`` (and the engine pauses the backend) within the same read, before the
  loop reads that backend again. Without it, l7lb read whole 1 MiB responses before
  writing any of them: 1,563 µs of CPU per response against 730 µs with it
  (``compare.py --scenario large-1mib``, 3 runs each, an hour apart; benchmarks/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Protocol

# Queued writes, and queued bytes, that make the outbox flush without waiting for the end
# of the pass.
HELD_MAX: Final = 64
HELD_BYTES: Final = 65536


class Writable(Protocol):
    def write(self, data: bytes) -> None: ...

    def is_closing(self) -> bool: ...


class Outbox:
    """One worker's held writes; see the module docstring."""

    __slots__ = ("armed", "data", "done", "schedule", "size", "targets")

    def __init__(self, schedule: Callable[[Callable[[], None]], Any]) -> None:
        self.schedule = schedule
        self.targets: list[Writable] = []
        self.data: list[bytes] = []
        self.done = 0  # writes made of those queued (the cursor)
        self.size = 0  # bytes queued since the lists last started again
        self.armed = False  # the end-of-pass callback is asked for

    def send(self, target: Writable, data: bytes) -> None:
        self.targets.append(target)
        self.data.append(data)
        self.size += len(data)
        if not self.armed:
            self.armed = True
            self.schedule(self._end_of_pass)
        if self.size >= HELD_BYTES or len(self.data) - self.done >= HELD_MAX:
            self.flush()

    def flush(self) -> None:
        # attributes read afresh each turn: a write may flush (nested) or queue more
        while self.done < len(self.data):
            i = self.done
            self.done = i + 1
            target = self.targets[i]
            if not target.is_closing():
                target.write(self.data[i])
        if self.done:  # everything is written: start the lists again
            self.targets = []
            self.data = []
            self.done = 0
            self.size = 0

    def _end_of_pass(self) -> None:
        self.armed = False
        self.flush()
