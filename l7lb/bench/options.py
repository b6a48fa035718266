"""Command-line options of `l7lb bench`, parsed once into an immutable `BenchOptions`."""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

TLS_RESUME_MODES = ("none", "id", "ticket")


class OptionError(ValueError):
    """A bad option value; the message names the option and what is expected."""


@dataclass(frozen=True)
class Target:
    """Where one URL points: scheme, address, and the default request path and Host header."""

    url: str
    tls: bool
    host: str
    port: int
    path: str
    authority: str


@dataclass(frozen=True)
class BackendIdSpec:
    """How to read the serving backend's identity from a response: a header or a cookie name."""

    kind: str  # "header" or "cookie"
    name: str

    def describe(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class BenchOptions:
    urls: tuple[str, ...]
    connections: int = 10
    duration: float = 10.0
    requests: int = 0
    procs: int = 1
    rate: float = 0.0
    keepalive: int = 0
    rounds: int = 1
    timeout: float = 10.0
    tls_resume: str = "ticket"
    sni: str | None = None
    insecure: bool = False
    cafile: str | None = None
    tls_version: str | None = None
    share_sessions: bool = False
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body_file: str | None = None
    paths: tuple[tuple[str, int], ...] = ()
    host: str | None = None
    clients: int = 0
    check_sticky: BackendIdSpec | None = None
    backend_id: BackendIdSpec | None = None
    progress: bool = False
    json_file: str | None = None
    plot_file: str | None = None
    self_test: bool = False

    @property
    def identity(self) -> BackendIdSpec | None:
        """The backend identity to record: the stickiness spec, or the distribution-only one."""
        return self.check_sticky or self.backend_id

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for key in ("check_sticky", "backend_id"):
            spec = getattr(self, key)
            data[key] = spec.describe() if spec else None
        data["headers"] = [f"{k}: {v}" for k, v in self.headers]
        data["paths"] = [f"{p}:{w}" for p, w in self.paths]
        return data


def parse_target(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise OptionError(f"URL {url!r}: scheme must be http or https")
    if not parts.hostname:
        raise OptionError(f"URL {url!r}: no host")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(url, tls, parts.hostname, port, path, parts.netloc)


def parse_path_weight(text: str) -> tuple[str, int]:
    """`/a` → ('/a', 1); `/a:3` → ('/a', 3). Only a trailing all-digit part is a weight."""
    path, sep, weight = text.rpartition(":")
    if sep and weight.isdigit() and path:
        if int(weight) < 1:
            raise OptionError(f"--path {text!r}: weight must be at least 1")
        return path, int(weight)
    if not text.startswith("/"):
        raise OptionError(f"--path {text!r}: a path starts with '/'")
    return text, 1


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise OptionError(f"-H {text!r}: expected 'Name: value'")
    return name.strip(), value.strip()


def parse_backend_id(text: str, option: str) -> BackendIdSpec:
    kind, sep, name = text.partition(":")
    if not sep or kind not in ("header", "cookie") or not name:
        raise OptionError(f"{option} {text!r}: expected header:NAME or cookie:NAME")
    return BackendIdSpec(kind, name.lower() if kind == "header" else name)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="l7lb bench",
        description="HTTP/1.1 load tester that controls TLS resumption and checks stickiness.",
    )
    p.add_argument("urls", nargs="*", metavar="URL", help="target URL(s); several run in turn")
    load = p.add_argument_group("load shape")
    load.add_argument("-c", "--connections", type=int, default=10, help="concurrent connections")
    load.add_argument("-d", "--duration", type=float, default=10.0, help="seconds per run")
    load.add_argument("-n", "--requests", type=int, default=0, help="total requests (not -d)")
    load.add_argument("-p", "--procs", type=int, default=0, help="client processes (CPU count)")
    load.add_argument("--rate", type=float, default=0.0, help="open loop: requests/s in total")
    load.add_argument("--rounds", type=int, default=1, help="runs per URL, interleaved A B A B")
    load.add_argument("--timeout", type=float, default=10.0, help="per request/connect seconds")
    conn = p.add_argument_group("connections")
    conn.add_argument("--keepalive", type=int, default=0, help="requests per connection; 0: any")
    conn.add_argument("--new-conn", action="store_true", help="one request per connection")
    tls = p.add_argument_group("TLS")
    tls.add_argument("--tls-resume", choices=TLS_RESUME_MODES, default="ticket")
    tls.add_argument("--sni", help="server name to send (default: the URL host)")
    tls.add_argument("-k", "--insecure", action="store_true", help="do not verify certificates")
    tls.add_argument("--cafile", help="CA bundle to verify the server with")
    tls.add_argument("--tls-version", choices=("1.2", "1.3"), help="pin the TLS version")
    tls.add_argument(
        "--share-sessions",
        action="store_true",
        help="one run over all URLs: each connection goes to the next URL and offers the TLS"
        " session of the previous one, wherever it came from (resumption across directors)",
    )
    req = p.add_argument_group("requests")
    req.add_argument("-m", "--method", default="GET")
    req.add_argument("-H", "--header", action="append", default=[], dest="headers")
    req.add_argument("--body-file", help="request body read from this file")
    req.add_argument("--path", action="append", default=[], dest="paths", help="/p or /p:WEIGHT")
    req.add_argument("--host", help="Host header (default: from the URL)")
    cl = p.add_argument_group("virtual clients and persistence")
    cl.add_argument("--clients", type=int, default=0, help="virtual clients with cookie jars")
    cl.add_argument("--check-sticky", metavar="header:NAME|cookie:NAME")
    cl.add_argument("--backend-id", metavar="header:NAME|cookie:NAME", help="count per backend")
    out = p.add_argument_group("output")
    out.add_argument("--progress", action="store_true", help="ticker even when not a tty")
    out.add_argument("--json", dest="json_file", metavar="FILE")
    out.add_argument("--plot", dest="plot_file", metavar="FILE.png", help="needs matplotlib")
    out.add_argument(
        "--self-test",
        "--ceiling",
        action="store_true",
        dest="self_test",
        help="measure this client's ceiling against a trivial local server",
    )
    return p


def options_from_args(ns: argparse.Namespace) -> BenchOptions:
    urls = tuple(ns.urls)
    if not urls and not ns.self_test:
        raise OptionError("give at least one URL (or --self-test)")
    targets = [parse_target(url) for url in urls]
    shareable = len(targets) >= 2 and all(t.tls for t in targets) and not ns.self_test
    if ns.share_sessions and not shareable:
        raise OptionError("--share-sessions needs two or more https:// URLs (one per director)")
    positive = {"--connections": ns.connections, "--rounds": ns.rounds}
    for name, value in positive.items():
        if value < 1:
            raise OptionError(f"{name} must be at least 1")
    for name, value in {
        "--requests": ns.requests,
        "--keepalive": ns.keepalive,
        "--clients": ns.clients,
        "--procs": ns.procs,
        "--rate": ns.rate,
    }.items():
        if value < 0:
            raise OptionError(f"{name} must not be negative")
    if ns.duration <= 0 or ns.timeout <= 0:
        raise OptionError("--duration and --timeout must be positive")
    procs = ns.procs or os.cpu_count() or 1
    procs = min(procs, ns.connections)
    if ns.requests:
        procs = min(procs, ns.requests)
    if ns.clients:
        procs = min(procs, ns.clients)
    if ns.body_file:
        try:
            with open(ns.body_file, "rb"):
                pass
        except OSError as exc:
            raise OptionError(f"--body-file: {exc}") from exc
    return BenchOptions(
        urls=urls,
        connections=ns.connections,
        duration=ns.duration,
        requests=ns.requests,
        procs=procs,
        rate=ns.rate,
        keepalive=1 if ns.new_conn else ns.keepalive,
        rounds=ns.rounds,
        timeout=ns.timeout,
        tls_resume=ns.tls_resume,
        sni=ns.sni,
        insecure=ns.insecure,
        cafile=ns.cafile,
        tls_version=ns.tls_version,
        share_sessions=ns.share_sessions,
        method=ns.method.upper(),
        headers=tuple(parse_header(h) for h in ns.headers),
        body_file=ns.body_file,
        paths=tuple(parse_path_weight(x) for x in ns.paths),
        host=ns.host,
        clients=ns.clients,
        check_sticky=parse_backend_id(ns.check_sticky, "--check-sticky")
        if ns.check_sticky
        else None,
        backend_id=parse_backend_id(ns.backend_id, "--backend-id") if ns.backend_id else None,
        progress=ns.progress,
        json_file=ns.json_file,
        plot_file=ns.plot_file,
        self_test=ns.self_test,
    )
