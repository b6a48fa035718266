"""Command lines for the load generators (wrk, openssl s_time, l7lb bench, h2load), and parsers
for what they print.

wrk reports binary units (its "MB" is 1024 * 1024 bytes, see wrk's units.c); we convert to bytes
and report MB/s in decimal megabytes (10**6 bytes) so figures compare with ``openssl speed`` and
HAProxy's documentation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WRK = "/usr/bin/wrk"
OPENSSL = "openssl"
H2LOAD = "/usr/bin/h2load"  # Debian nghttp2-client
# wrk script: a distinct application cookie on every request (benchmarks/wrk/)
DISTINCT_COOKIES_LUA = Path(__file__).resolve().parent.parent / "wrk" / "distinct_cookies.lua"

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
    cookie_prefix: str | None = None,
) -> list[str]:
    """wrk keeps connections alive unless a ``Connection: close`` header is given; then it
    opens a new connection per request (and, over TLS, silently RESUMES the session).

    ``cookie_prefix`` (``""`` or ``"SRV=value"``) runs ``distinct_cookies.lua``: every request
    carries a ``Cookie`` header of the prefix and an application cookie no other request has.
    ``headers`` must then not hold a Cookie of their own."""
    argv = [WRK, f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "5s"]
    for h in headers:
        argv += ["-H", h]
    if cookie_prefix is not None:
        if any(h.lower().startswith("cookie:") for h in headers):
            raise ValueError("distinct cookies replace the Cookie header: give the prefix only")
        argv += ["-s", str(DISTINCT_COOKIES_LUA)]
    argv.append(url)
    if cookie_prefix is not None:
        argv += ["--", cookie_prefix]
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


_H2_FINISHED = re.compile(r"^finished in ([\d.]+)(us|ms|s|m|h), ([\d.]+) req/s", re.M)
_H2_REQUESTS = re.compile(
    r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
    r"(\d+) errored, (\d+) timeout",
    re.M,
)
_H2_STATUS = re.compile(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", re.M)
_H2_TRAFFIC = re.compile(r"^traffic: \S+ \((\d+)\) total", re.M)
_H2_PROTOCOL = re.compile(r"^Application protocol: (\S+)", re.M)
_H2_TLS = re.compile(
    r"^TLS Protocol: (\S+)\s*\nCipher: (\S+)(?:\s*\nServer Temp Key: (\S+))?", re.M
)


@dataclass(frozen=True)
class H2loadResult:
    """h2load's summary. ``succeeded`` is what it counts as a good response (status below 400)
    and the figure compare.py uses as requests (validate_bench.py holds it against the server's
    own log); ``failed`` includes ``errored`` and HTTP failures; ``done - succeeded`` were
    answered badly or cut off."""

    seconds: float
    total: int
    started: int
    done: int
    succeeded: int
    failed: int
    errored: int
    timeout: int
    status_4xx_5xx: int
    bytes_read: int  # all traffic on the wire, headers and frames included, like wrk's
    protocol: str  # ALPN result of the first connection: "h2" is what was asked for
    tls: str  # "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519", as h2load printed it; "" for h2c

    @property
    def errors(self) -> int:
        return self.failed + self.timeout


def parse_h2load(text: str) -> H2loadResult:
    f = _H2_FINISHED.search(text)
    r = _H2_REQUESTS.search(text)
    if f is None or r is None:
        raise ParseError(f"no 'finished in' / 'requests:' lines in h2load output: {text[-300:]!r}")
    st = _H2_STATUS.search(text)
    tr = _H2_TRAFFIC.search(text)
    proto = _H2_PROTOCOL.search(text)
    tls = _H2_TLS.search(text)
    total, started, done, ok, failed, errored, timeout = (int(g) for g in r.groups())
    return H2loadResult(
        seconds=float(f.group(1)) * _TIME_UNITS[f.group(2)],
        total=total,
        started=started,
        done=done,
        succeeded=ok,
        failed=failed,
        errored=errored,
        timeout=timeout,
        status_4xx_5xx=int(st.group(3)) + int(st.group(4)) if st else 0,
        bytes_read=int(tr.group(1)) if tr else 0,
        protocol=proto.group(1) if proto else "",
        tls=" ".join(g for g in tls.groups() if g) if tls else "",
    )


def h2load_command(
    url: str, duration: float, connections: int, streams: int, threads: int = 1
) -> list[str]:
    """``h2load`` for ``duration`` seconds (``-D``) with ``connections`` clients of ``streams``
    concurrent streams each (``-m``). ALPN offers h2 only (``--npn-list h2``): h2load otherwise
    falls back to HTTP/1.1 when a server selects it, and would silently measure that."""
    return [
        H2LOAD,
        f"--clients={connections}",
        f"--max-concurrent-streams={streams}",
        f"--threads={threads}",
        f"--duration={max(1, round(duration * 1000))}ms",  # a bare number must be whole seconds
        "--npn-list=h2",
        url,
    ]
