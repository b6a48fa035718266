"""CPU per new TLS connection of running servers, measured in turns, side by side.

    python benchmarks/stime_cpu.py [--rounds 3] [--seconds 3] [--clients 4] NAME:PORT:PID ...

For each round and each server in turn: ``--clients`` ``openssl s_time -new -www /`` clients
on CPU 0 against 127.0.0.1:PORT for ``--seconds``; the CPU time (user + system, from
``/proc/PID/stat``) the process PID spent meanwhile, divided by the connections the clients
made. Prints the median over rounds per server. Start the servers yourself, pinned to CPU 1
(``taskset -c 1``); PID is the process that does the work (l7lb's worker, not its
supervisor). Used for the A/B comparisons in benchmarks/README.md, where compare.py's full
set-up (one proxy at a time) would let the machine's drift between runs swamp the change.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

_CONNECTIONS = re.compile(r"^(\d+) connections in", re.M)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_turn(port: int, pid: int, seconds: int, clients: int) -> float:
    """CPU microseconds per connection for one turn."""
    before = cpu_seconds(pid)
    command = ["taskset", "-c", "0", "openssl", "s_time", "-connect", f"127.0.0.1:{port}"]
    command += ["-new", "-time", str(seconds), "-www", "/"]
    procs = [
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(clients)
    ]
    made = 0
    for p in procs:
        out, _ = p.communicate(timeout=seconds + 30)
        found = _CONNECTIONS.findall(out)
        made += int(found[-1]) if found else 0
    if not made:
        raise SystemExit(f"no connection completed on port {port}")
    return (cpu_seconds(pid) - before) / made * 1e6


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="benchmarks/stime_cpu.py", description=__doc__)
    ap.add_argument("servers", nargs="+", metavar="NAME:PORT:PID")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=4)
    args = ap.parse_args(argv)
    servers = []
    for spec in args.servers:
        try:
            name, port, pid = spec.split(":")
            servers.append((name, int(port), int(pid)))
        except ValueError:
            ap.error(f"{spec!r}: expected NAME:PORT:PID")
    seen: dict[str, list[float]] = {name: [] for name, _, _ in servers}
    for _ in range(args.rounds):
        for name, port, pid in servers:
            seen[name].append(one_turn(port, pid, args.seconds, args.clients))
            time.sleep(0.3)
    for name, values in seen.items():
        runs = " ".join(f"{v:.0f}" for v in values)
        print(f"{name:12} median {statistics.median(values):7.1f} us/conn  runs {runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
