"""Run the load with `--procs` client processes, show the ticker, merge their results.

A run aims at one URL, or at several in turn within each connection slot (--share-sessions)."""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import time
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, TextIO

import uvloop

from .load import ProcessLoad
from .options import BenchOptions, Target
from .stats import RunStats


class ClientProcessError(RuntimeError):
    """A client process crashed; the message carries its traceback."""


def _child(
    options: BenchOptions, targets: Sequence[Target], index: int, progress: Any, pipe: Connection
) -> None:
    try:
        load = ProcessLoad(options, targets, index, progress)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            stats = runner.run(load.run())
        pipe.send(stats.to_wire())
    except BaseException:
        pipe.send({"crash": traceback.format_exc()})
    finally:
        pipe.close()


def ticker_line(elapsed: float, requests: int, errors: int, last: int, interval: float) -> str:
    rate = (requests - last) / interval if interval > 0 else 0.0
    return f"[{elapsed:6.1f}s] {requests:>10,} requests  {rate:>10,.0f} req/s  {errors:,} errors"


def run_target(
    options: BenchOptions, targets: Sequence[Target], ticker: TextIO | None = None
) -> RunStats:
    """Run the load against the URLs and return the merged statistics of every process.

    Processes are forked (not spawned): a child needs no re-import, and starts in milliseconds,
    which matters for short --requests runs."""
    ctx = multiprocessing.get_context("fork")
    procs = options.procs
    progress = ctx.RawArray("q", 2 * procs)
    children = []
    pipes: dict[Connection, int] = {}
    for index in range(procs):
        parent_end, child_end = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_child, args=(options, targets, index, progress, child_end), daemon=True
        )
        proc.start()
        child_end.close()
        children.append(proc)
        pipes[parent_end] = index
    started = time.monotonic()
    results: dict[int, dict[str, Any]] = {}
    last_tick, last_requests = started, 0
    try:
        while pipes:
            for ready in wait(list(pipes), timeout=1.0):
                assert isinstance(ready, Connection)
                index = pipes.pop(ready)
                try:
                    results[index] = ready.recv()
                except EOFError:
                    results[index] = {"crash": "client process exited without a result"}
            now = time.monotonic()
            if ticker is not None and now - last_tick >= 1.0:
                requests = sum(progress[0::2])
                line = ticker_line(
                    now - started, requests, sum(progress[1::2]), last_requests, now - last_tick
                )
                ticker.write("\r" + line)
                ticker.flush()
                last_tick, last_requests = now, requests
    finally:
        for proc in children:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        if ticker is not None:
            ticker.write("\r\033[K")
            ticker.flush()
    merged = RunStats()
    for index in sorted(results):
        wire = results[index]
        if "crash" in wire:
            raise ClientProcessError(f"client process {index} failed:\n{wire['crash']}")
        merged.merge(RunStats.from_wire(wire))
    return merged


def ticker_stream(options: BenchOptions) -> TextIO | None:
    """The ticker goes to stderr when a person is watching it, or when asked for."""
    if options.progress or sys.stderr.isatty():
        return sys.stderr
    return None
