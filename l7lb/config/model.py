"""The typed, immutable configuration the data path reads.

``l7lb.config.load`` turns a TOML file into these objects (or a list of
errors naming each key path). Nothing on the per-request path reads raw
config dicts: regexes are compiled, CIDRs parsed and durations converted to
seconds here, once. A reload builds a new ``Config`` and swaps it.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from l7lb.config.http2 import Http2Settings
from l7lb.http.events import Limits

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Scheduler(enum.Enum):
    RR = "rr"  # round robin, weights ignored except 0
    WRR = "wrr"  # weighted round robin (smooth, nginx style)
    LC = "lc"  # least connections
    WLC = "wlc"  # weighted least connections
    SH = "sh"  # source-address hash
    CHASH = "chash"  # consistent hash on ``Pool.hash_key``


@dataclass(frozen=True, slots=True)
class Address:
    host: str  # literal IP or name
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def authority(self) -> bytes:
        """``host:port`` as a Host header value (IPv6 bracketed)."""
        return str(self).encode("ascii", "replace")


@dataclass(frozen=True, slots=True)
class Server:
    name: str  # unique within its pool; appears in logs and admin output
    address: Address
    weight: int = 1  # 0..256; 0 takes no new traffic
    max_conn: int = 0  # 0 = unlimited
    backup: bool = False
    # jsessionid route suffix this server owns (Tomcat jvmRoute); "" = none
    route: str = ""
    # PROXY protocol header first on each new connection: "v1", "v2", or "" (none); the
    # loader fills in the pool's send_proxy when the server gives none
    send_proxy: str = ""


@dataclass(frozen=True, slots=True)
class StaticResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


class PersistenceMode(enum.Enum):
    NONE = "none"
    COOKIE = "cookie"  # l7lb inserts its own signed cookie
    PREFIX = "prefix"  # l7lb prefixes the application's cookie with a server id
    JSESSIONID = "jsessionid"  # application session id: route suffix and/or learned
    SOURCE = "source"  # client address under a netmask, in a stick table


@dataclass(frozen=True, slots=True)
class Persistence:
    """``[pool.NAME.persistence]``, with every default resolved by the loader
    (the cookie name, the table name and timeout depend on the mode)."""

    mode: PersistenceMode = PersistenceMode.NONE
    name: str = ""  # cookie name: "L7LB" (cookie) or "JSESSIONID" (prefix, jsessionid)
    # cookie mode
    indirect: bool = True
    nocache: bool = True
    path: str = "/"
    domain: str = ""
    httponly: bool = True
    samesite: str = ""  # "" | "Lax" | "Strict" | "None"
    max_age: float = 0.0  # 0 = session cookie
    max_idle: float = 0.0  # 0 = no idle limit enforced by l7lb
    max_life: float = 0.0  # 0 = no life limit enforced by l7lb
    # cookie and prefix modes: key of the server ids and cookie tags (>= 16 bytes)
    secret: bytes = field(default=b"", repr=False)
    # jsessionid mode
    path_param: str = "jsessionid"  # lower case; "" = not read from the path
    query_param: str = ""  # "" = not read from the query
    learn: bool = True
    # jsessionid (learned) and source modes: the stick table
    timeout: float = 0.0  # idle expiry: 30 min (jsessionid), 360 s (source)
    max_entries: int = 100_000
    table: str = ""  # table name, shared by pools that give the same one
    # source mode
    mask: int = 32
    mask6: int = 128

    @property
    def enabled(self) -> bool:
        return self.mode is not PersistenceMode.NONE

    @property
    def uses_table(self) -> bool:
        """Whether this mode keeps a stick table (entries learned at run time)."""
        return self.mode is PersistenceMode.SOURCE or (
            self.mode is PersistenceMode.JSESSIONID and self.learn
        )


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """``[pool.NAME.health]``: active checks (run by the supervisor) and
    passive failure tracking (in each worker)."""

    check: str = "none"  # "none" | "tcp" | "http"
    method: str = "GET"
    path: str = "/"
    host: str = ""  # Host header; "" = the server's address
    expect: str = "200-399"  # status ranges, e.g. "200,204,300-302"
    body: str = ""  # required substring of the response body; "" = any
    tls: bool = False
    port: int = 0  # 0 = the server's port
    interval: float = 2.0
    timeout: float = 1.0
    rise: int = 2
    fall: int = 3
    log: bool = True  # log transitions (never individual checks)
    passive_failures: int = 3  # consecutive connect failures/resets; 0 = off
    passive_backoff: float = 10.0


@dataclass(frozen=True, slots=True)
class Pool:
    name: str
    servers: tuple[Server, ...]
    scheduler: Scheduler = Scheduler.WRR
    # chash key: "path", "host", "source", "uri" or "header:<name>"
    hash_key: str = "path"
    max_idle: int = 32  # idle keep-alive connections kept per server
    idle_timeout: float = 10.0  # seconds an idle backend connection is kept
    # answers when no server can take the request: a pool name or a response
    fallback_pool: str | None = None
    fallback_response: StaticResponse | None = None
    # the stuck server is down or in maintenance: pick another (True) or 503
    redispatch: bool = True
    queue_timeout: float = 0.0  # wait for a free slot when all are full; 0 = 503 at once
    persistence: Persistence = field(default_factory=Persistence)
    health: HealthSettings = field(default_factory=HealthSettings)
    send_proxy: str = ""  # the servers' default ("v1", "v2", "" = none); each server's wins


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    name: bytes  # lower-cased
    value: str | None = None  # exact (case-sensitive) value, or None = present
    regex: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """All present conditions must hold (AND); a list inside one is an OR."""

    hosts: tuple[str, ...] = ()  # lower-case; "*.example.com" wildcards
    path_prefix: str | None = None
    path_regex: re.Pattern[str] | None = None
    methods: tuple[str, ...] = ()  # upper-case
    headers: tuple[HeaderMatch, ...] = ()
    sources: tuple[IPNetwork, ...] = ()


@dataclass(frozen=True, slots=True)
class Redirect:
    location: str  # absolute URL or path; "{host}", "{path}" substituted
    status: int = 302


@dataclass(frozen=True, slots=True)
class Route:
    name: str  # for logs; defaults to "route N"
    match: Match
    pool: str | None = None
    redirect: Redirect | None = None
    respond: StaticResponse | None = None


@dataclass(frozen=True, slots=True)
class VipLimits:
    """``[vip.limits]``: limits per client address (``l7lb.config.limits`` parses it).
    A client address is the peer's address under ``mask`` (IPv4) or ``mask6`` (IPv6)."""

    max_conn_per_source: int = 0  # concurrent connections per address; 0 = no limit
    rate_per_source: float = 0.0  # requests per second, averaged over rate_window; 0 = none
    rate_window: float = 10.0  # the sliding window, seconds
    mask: int = 32
    mask6: int = 64
    max_sources: int = 100_000  # addresses tracked per worker (and in the supervisor)

    @property
    def window_limit(self) -> float:
        """Requests allowed in one window: ``rate_per_source * rate_window``."""
        return self.rate_per_source * self.rate_window


@dataclass(frozen=True, slots=True)
class Vip:
    name: str
    listen: tuple[Address, ...]
    routes: tuple[Route, ...]
    # filled in by the TLS issue: an ``l7lb.tls`` settings object or None
    tls: object | None = None
    # a PROXY protocol header (v1 or v2) starts every connection, from these peers only
    accept_proxy: bool = False
    proxy_trusted: tuple[IPNetwork, ...] = ()
    limits: VipLimits | None = None  # None: no [vip.limits], nothing counted
    # "prior-knowledge": a plain VIP also takes HTTP/2 without Upgrade (h2c); "off"
    http2: str = "off"


@dataclass(frozen=True, slots=True)
class Timeouts:
    request_head: float = 10.0  # total deadline for a request head (slowloris)
    keepalive: float = 2.0  # idle client connection between requests
    backend_connect: float = 3.0
    backend_response: float = 60.0  # wait for the response head / between body reads
    client_idle: float = 60.0  # no progress from the client while mid-request
    drain: float = 30.0  # SIGTERM / reload: time for in-flight requests
    # SIGTERM: /healthz answers 503 this long, still serving, before draining (HAProxy grace)
    drain_grace: float = 0.0
    # request bodies: at least body_min_rate bytes/s over each body_rate_window once the
    # first window has passed (0 = no minimum), and the whole body within body_deadline
    # of its head (0 = no total deadline); see l7lb.proxy.deadlines.BodyWatch
    body_min_rate: int = 1024
    body_rate_window: float = 10.0
    body_deadline: float = 0.0


@dataclass(frozen=True, slots=True)
class HttpSettings:
    parser: str = "auto"  # "auto" | "h11" | "httptools"
    limits: Limits = field(default_factory=Limits)
    forwarded: bool = False  # also add an RFC 7239 Forwarded header
    via: str = "l7lb"  # pseudonym in Via; "" disables Via
    server_header: str = ""  # unused unless set: Server on l7lb's own responses


@dataclass(frozen=True, slots=True)
class LogSettings:
    access: str = "-"  # "-" = stdout, "off", or a file path
    format: str = "combined"  # "combined" | "json"
    exclude_paths: tuple[str, ...] = ()
    level: str = "info"  # error log level (to stderr)


@dataclass(frozen=True, slots=True)
class AdminSettings:
    """``[admin]``: the admin HTTP listener (``l7lb.config.admin`` parses it)."""

    listen: Address | None = None  # None = no admin HTTP listener
    token_file: str = ""  # as written in the file; "" = actions refused
    token: bytes = field(default=b"", repr=False)  # the bearer token read from it
    max_connections: int = 32
    timeout: float = 10.0  # a request must arrive whole within this; idle connections end


@dataclass(frozen=True, slots=True)
class Config:
    vips: tuple[Vip, ...]
    pools: dict[str, Pool]  # read-only by convention
    workers: int = 0  # 0 = CPU count
    timeouts: Timeouts = field(default_factory=Timeouts)
    http: HttpSettings = field(default_factory=HttpSettings)
    http2: Http2Settings = field(default_factory=Http2Settings)
    log: LogSettings = field(default_factory=LogSettings)
    admin_socket: str = ""  # Unix socket path for `l7lb admin`; "" = off
    admin: AdminSettings = field(default_factory=AdminSettings)
    pid_file: str = ""  # written at start, removed at exit; "" = none
    # the shared store ([store]): an ``l7lb.store.settings.StoreSettings``; None = memory
    store: Any = None
    # the L4 tier ([ipvs]) for `l7lb ipvs`: an ``l7lb.config.ipvs.IpvsSettings``; None = absent
    ipvs: Any = None
    # [metrics]: an ``l7lb.config.metrics.MetricsSettings``; None = the defaults
    metrics: Any = None
    # default cookie/prefix secret for pools that give none (same on every director)
    persistence_secret: bytes = field(default=b"", repr=False)
    source: str = ""  # the TOML text this was built from (for reload/workers)
