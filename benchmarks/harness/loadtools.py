"""Command lines for the load generators (wrk, openssl s_time, l7lb bench), and parsers for what
they print.

wrk reports binary units (its "MB" is 1024 * 1024 bytes, see wrk's units.c); we convert to bytes
and report MB/s in decimal megabytes (10**6 bytes) so figures compare with ``openssl speed`` and
HAProxy's documentation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

WRK = "/usr/bin/wrk"
OPENSSL = "openssl"

_BINARY_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}

_WRK_TOTAL = re.compile(
    r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h), ([\d.]+)(B|KB|MB|GB|TB) read", re.M
)
_WRK_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)
_WRK_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_STIME_REAL = re.compile(r"^(\d+) connections in (\d+) real seconds", re.M)


class ParseError(ValueError):
    """A load tool printed something we do not understand: the run is not usable."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    bytes_read: int
    socket_errors: int  # connect + read + write + timeout
    non_2xx: int

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non_2xx


def parse_wrk(text: str) -> WrkResult:
    m = _WRK_TOTAL.search(text)
    if m is None:
        raise ParseError(f"no 'N requests in T' line in wrk output: {text[-300:]!r}")
    requests = int(m.group(1))
    seconds = float(m.group(2)) * _TIME_UNITS[m.group(3)]
    bytes_read = round(float(m.group(4)) * _BINARY_UNITS[m.group(5)])
    socket_errors = 0
    if (e := _WRK_SOCKET_ERRORS.search(text)) is not None:
        socket_errors = sum(int(g) for g in e.groups())
    non_2xx = 0
    if (n := _WRK_NON_2XX.search(text)) is not None:
        non_2xx = int(n.group(1))
    return WrkResult(requests, seconds, bytes_read, socket_errors, non_2xx)


def wrk_command(
    url: str,
    duration: float,
    connections: int = 50,
    threads: int = 1,
    headers: tuple[str, ...] = (),
) -> list[str]:
    """wrk keeps connections alive unless a ``Connection: close`` header is given; then it
    opens a new connection per request (and, over TLS, silently RESUMES the session)."""
    argv = [WRK, f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "5s"]
    for h in headers:
        argv += ["-H", h]
    argv.append(url)
    return argv


@dataclass(frozen=True)
class STimeResult:
    connections: int
    resumed: int  # connections s_time marked "r" (session reused) rather than "*" (new)


def parse_s_time(text: str) -> STimeResult:
    """Count of connections from ``openssl s_time``'s "N connections in T real seconds" line.

    Only the count is taken: the seconds there are rounded to whole seconds, so the caller uses
    its own wall clock for the rate. With ``-reuse`` s_time first makes one full handshake and
    prints its own block, then the resumed loop; its last "real seconds" line is the loop's.
    """
    found = _STIME_REAL.findall(text)
    if not found:
        raise ParseError(f"no 'N connections in T real seconds' line: {text[-300:]!r}")
    # s_time prints one progress character per connection: "*" new session, "r" reused.
    marks = "".join(ln for ln in text.splitlines() if ln and set(ln) <= {"*", "r"})
    return STimeResult(connections=int(found[-1][0]), resumed=marks.count("r"))


def s_time_command(host_port: str, duration: float, reuse: bool, path: str = "/") -> list[str]:
    """``-new`` makes a full handshake for every connection; ``-reuse`` resumes one session
    for every connection after the first. ``-www`` sends ``GET path HTTP/1.0`` and reads the
    whole response, so each connection is one real proxied request."""
    return [
        OPENSSL,
        "s_time",
        "-connect",
        host_port,
        "-reuse" if reuse else "-new",
        "-time",
        f"{max(1, round(duration))}",
        "-www",
        path,
    ]


BENCH_MODULE = "l7lb.bench"


@dataclass(frozen=True)
class BenchResult:
    """The figures compare.py takes from ``l7lb bench --json``, summed over its runs."""

    requests: int  # every finished attempt, errors included (as bench counts them)
    seconds: float
    bytes_read: int  # on the wire: headers and TLS records included, like wrk's
    errors: int
    handshakes_full: int
    handshakes_resumed: int
    sticky_clients: int
    sticky_violations: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def resumed_ratio(self) -> float:
        total = self.handshakes_full + self.handshakes_resumed
        return self.handshakes_resumed / total if total else float("nan")


def parse_bench_json(document: dict[str, Any]) -> BenchResult:
    """``l7lb bench --json`` output (l7lb/bench/report.py ``json_document``)."""
    try:
        summaries = [run["summary"] for run in document["runs"]]
        if not summaries:
            raise ParseError("l7lb bench wrote no runs")
        return BenchResult(
            requests=sum(int(s["requests"]) for s in summaries),
            seconds=sum(float(s["elapsed_s"]) for s in summaries),
            bytes_read=sum(int(s["bytes_in"]) for s in summaries),
            errors=sum(int(s["error_count"]) for s in summaries),
            handshakes_full=sum(int(s["handshakes"]["full"]) for s in summaries),
            handshakes_resumed=sum(int(s["handshakes"]["resumed"]) for s in summaries),
            sticky_clients=max(int(s["stickiness"]["clients"]) for s in summaries),
            sticky_violations=sum(int(s["stickiness"]["violations"]) for s in summaries),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"unexpected l7lb bench JSON: {exc!r}") from exc


def bench_command(python: str, args: list[str], json_file: str) -> list[str]:
    """``python -m l7lb.bench ARGS --json FILE``: ``args`` from ``Scenario.argv`` (URL first).
    No ticker: stderr is captured, and the live line would only fill it."""
    return [python, "-m", BENCH_MODULE, *args, "--json", json_file]
