"""TOML configuration text → ``Config``, or every problem in it at once.

The loader walks the whole document even after it finds an error, so one run
of ``l7lb check`` lists everything to fix. Each ``ConfigIssue`` names the key
path (``pool "api" server 2``, ``vip "web" route 3 path_regex``), what is
wrong, and how to fix it. docs/configuration.md describes every key; keep the
two in step.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from l7lb.config.address import HOSTNAME as _HOSTNAME
from l7lb.config.address import addresses_overlap as _overlaps
from l7lb.config.address import parse_address
from l7lb.config.admin import parse_admin_table
from l7lb.config.durations import DurationError, parse_duration
from l7lb.config.http2 import parse_http2_table, parse_vip_http2
from l7lb.config.ipvs import IPVS_KEYS, parse_ipvs_table
from l7lb.config.limits import KEYS as LIMIT_KEYS
from l7lb.config.limits import RATE_HINT, RateError, parse_byte_rate, parse_limits_table
from l7lb.config.metrics import parse_metrics_table
from l7lb.config.model import (
    Address,
    Config,
    HeaderMatch,
    HealthSettings,
    HttpSettings,
    IPNetwork,
    LogSettings,
    Match,
    Persistence,
    PersistenceMode,
    Pool,
    Redirect,
    Route,
    Scheduler,
    Server,
    StaticResponse,
    Timeouts,
    Vip,
)
from l7lb.config.proxyproto import VIP_KEYS as VIP_PROXY_KEYS
from l7lb.config.proxyproto import ipvs_conflicts, parse_send_proxy, parse_vip_proxy
from l7lb.config.words import show as _show
from l7lb.config.words import toml_type as _toml_type
from l7lb.health.target import StatusRanges
from l7lb.http.events import Limits
from l7lb.persistence.cookie import MIN_SECRET_BYTES
from l7lb.persistence.setcookie import SameSite, SetCookie
from l7lb.routing.redirect import compile_redirect
from l7lb.store.settings import StoreSettings, parse_store_table
from l7lb.tls.settings import parse_tls_table

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    path: str  # key path, e.g. 'pool "api" server 2'; "" for the file as a whole
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}{self.message}{hint}"

    def format(self, origin: str) -> str:
        """``<origin>: <path>: <message> (hint: ...)``, the form ``l7lb check`` prints."""
        return f"{origin}: {self}"


class ConfigError(Exception):
    """The configuration is invalid; ``errors`` lists every problem found."""

    def __init__(self, errors: list[ConfigIssue], origin: str = "<string>") -> None:
        super().__init__("\n".join(issue.format(origin) for issue in errors))
        self.errors = errors
        self.origin = origin


# Keys each table accepts, in documentation order. Unknown keys are errors:
# a misspelt `keepalive_timeout` silently ignored is a production outage.
TOP_KEYS = (
    "workers",
    "admin_socket",
    "admin",
    "pid_file",
    "persistence_secret",
    "store",
    "metrics",
    "timeouts",
    "http",
    "http2",
    "log",
    "vip",
    "pool",
    "ipvs",
)
TIMEOUT_KEYS = (
    "request_head",
    "keepalive",
    "backend_connect",
    "backend_response",
    "client_idle",
    "drain",
    "drain_grace",
    "body_min_rate",
    "body_rate_window",
    "body_deadline",
)
HTTP_KEYS = (
    "parser",
    "max_head_size",
    "max_headers",
    "max_uri_length",
    "forwarded",
    "via",
    "server_header",
)
LOG_KEYS = ("access", "format", "exclude_paths", "level")
VIP_KEYS = ("name", "listen", "route", "tls", "limits", "http2", *VIP_PROXY_KEYS)
ROUTE_KEYS = (
    "name",
    "host",
    "path_prefix",
    "path_regex",
    "method",
    "header",
    "source",
    "pool",
    "redirect",
    "respond",
)
REDIRECT_KEYS = ("location", "status")
RESPONSE_KEYS = ("status", "body", "content_type", "headers")
POOL_KEYS = (
    "scheduler",
    "hash_key",
    "max_idle",
    "idle_timeout",
    "fallback",
    "redispatch",
    "queue_timeout",
    "persistence",
    "health",
    "send_proxy",
    "server",
)
SERVER_KEYS = ("name", "address", "weight", "max_conn", "backup", "route", "send_proxy")
PERSISTENCE_KEYS = (
    "mode",
    "name",
    "indirect",
    "nocache",
    "path",
    "domain",
    "httponly",
    "samesite",
    "max_age",
    "max_idle",
    "max_life",
    "secret",
    "secret_file",
    "path_param",
    "query_param",
    "learn",
    "timeout",
    "max_entries",
    "mask",
    "mask6",
    "table",
)
# The keys each persistence mode reads; any other key is a mistake worth saying.
_COOKIE_KEYS = ("name", "indirect", "nocache", "path", "domain", "httponly", "samesite")
MODE_KEYS: dict[str, tuple[str, ...]] = {
    "none": (),
    "cookie": (*_COOKIE_KEYS, "max_age", "max_idle", "max_life", "secret", "secret_file"),
    "prefix": ("name", "secret", "secret_file"),
    "jsessionid": ("name", "path_param", "query_param", "learn", "timeout", "max_entries"),
    "source": ("mask", "mask6", "timeout", "max_entries", "table"),
}
HEALTH_KEYS = (
    "check",
    "method",
    "path",
    "host",
    "expect",
    "body",
    "tls",
    "port",
    "interval",
    "timeout",
    "rise",
    "fall",
    "log",
    "passive_failures",
    "passive_backoff",
)
_HTTP_CHECK_KEYS = ("method", "path", "host", "expect", "body")
SAMESITE = ("", "Lax", "Strict", "None")

# Where a key lives, for "this key belongs elsewhere" hints.
_HOMES: dict[str, str] = {}
for _keys, _home in (
    (TIMEOUT_KEYS, "[timeouts]"),
    (HTTP_KEYS, "[http]"),
    (LOG_KEYS, "[log]"),
    (("listen", "route", "tls", "limits", *VIP_PROXY_KEYS), "[[vip]]"),
    (ROUTE_KEYS[1:], "[[vip.route]]"),
    (("location",), "a route's redirect = { ... }"),
    (("body", "content_type", "headers"), "a respond = { ... } or fallback = { ... } table"),
    (POOL_KEYS, "[pool.<name>]"),
    (SERVER_KEYS[1:], "[[pool.<name>.server]]"),
    (PERSISTENCE_KEYS, "[pool.<name>.persistence]"),
    (HEALTH_KEYS, "[pool.<name>.health]"),
    (LIMIT_KEYS, "[vip.limits]"),
    (IPVS_KEYS, "[ipvs]"),
    (TOP_KEYS, "the top level of the file"),
):
    for _key in _keys:
        _HOMES.setdefault(_key, _home)

_DEFAULT_CONTENT_TYPE = StaticResponse().content_type
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
PARSERS = ("auto", "h11", "httptools")
LOG_FORMATS = ("combined", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
HASH_KEYS = ("path", "host", "source", "uri")
MAX_WEIGHT = 256

# RFC 9110 section 5.6.2 token: header names and methods.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_POOL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
# Headers whose values l7lb computes itself from the body it sends.
_FRAMING_HEADERS = ("content-length", "transfer-encoding", "connection")


def _join(path: str, part: str) -> str:
    return f"{path} {part}" if path else part


def _quoted_list(names: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def _suggest(word: str, choices: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def _choice_hint(word: str, choices: Sequence[str]) -> str:
    best = _suggest(word, choices)
    listed = f"one of {_quoted_list(choices)}"
    return f'did you mean "{best}"? ({listed})' if best else listed


class _Issues:
    def __init__(self) -> None:
        self.errors: list[ConfigIssue] = []

    def add(self, path: str, message: str, hint: str = "") -> None:
        self.errors.append(ConfigIssue(path, message, hint))


class _Table:
    """Typed reads from one raw TOML table, reporting into ``issues``.

    Each reader returns the default when the key is absent or invalid, so the
    walk goes on and later problems are found too.
    """

    def __init__(self, raw: dict[str, Any], path: str, keys: Sequence[str], issues: _Issues):
        self.raw = raw
        self.path = path
        self.issues = issues
        for key in raw:
            if key not in keys:
                issues.add(_join(path, key), "unknown key", _unknown_key_hint(key, keys))

    def at(self, key: str) -> str:
        return _join(self.path, key)

    def has(self, key: str) -> bool:
        return key in self.raw

    def error(self, key: str, message: str, hint: str = "") -> None:
        self.issues.add(self.at(key), message, hint)

    def _typed(self, key: str, check: Callable[[object], bool], want: str, default: T) -> T:
        value = self.raw.get(key, default)
        if key in self.raw and not check(value):
            self.error(key, f"expected {want}, got {_toml_type(value)} ({_show(value)})")
            return default
        return value  # type: ignore[no-any-return]

    def string(self, key: str, default: str) -> str:
        return self._typed(key, lambda v: isinstance(v, str), "a string", default)

    def optional_string(self, key: str) -> str | None:
        value: str | None = self._typed(key, lambda v: isinstance(v, str), "a string", None)
        return value

    def boolean(self, key: str, default: bool) -> bool:
        return self._typed(key, lambda v: isinstance(v, bool), "true or false", default)

    def integer(self, key: str, default: int, low: int, high: int | None = None) -> int:
        if key not in self.raw:
            return default
        value = self.raw[key]
        if isinstance(value, str) and value.strip().isdigit():
            self.error(
                key,
                f"expected an integer, got a string ({_show(value)})",
                f"remove the quotes: {key} = {value.strip()}",
            )
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(key, f"expected an integer, got {_toml_type(value)} ({_show(value)})")
            return default
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
            self.error(key, f"{value} is out of range", f"use an integer {bounds}")
            return default
        return value

    def duration(self, key: str, default: float, allow_zero: bool = False) -> float:
        if key not in self.raw:
            return default
        try:
            seconds = parse_duration(self.raw[key])
        except DurationError as exc:
            self.error(key, exc.message, exc.hint)
            return default
        if seconds == 0 and not allow_zero:
            self.error(key, "must be longer than zero", 'use a positive duration such as "1s"')
            return default
        return seconds

    def strings(self, key: str) -> tuple[str, ...]:
        """A string or an array of strings (one value or an OR-list)."""
        if key not in self.raw:
            return ()
        value = self.raw[key]
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            if not value:
                self.error(key, "is an empty list", f"remove {key}, or give at least one value")
            return tuple(value)
        self.error(key, f"expected a string or an array of strings, got {_toml_type(value)}")
        return ()

    def table(self, key: str) -> dict[str, Any] | None:
        return self._typed(key, lambda v: isinstance(v, dict), "a table", None)

    def choice(self, key: str, default: str, choices: Sequence[str]) -> str:
        value = self.string(key, default)
        if value not in choices:
            self.error(key, f"unknown value {_show(value)}", _choice_hint(value, choices))
            return default
        return value


def _unknown_key_hint(key: str, keys: Sequence[str]) -> str:
    best = _suggest(key, keys)
    if best:
        return f'did you mean "{best}"?'
    home = _HOMES.get(key)
    if home:
        return f'"{key}" belongs in {home}'
    return f"keys allowed here: {', '.join(keys)}"


# ---------------------------------------------------------------- addresses


def _address(value: object, path: str, issues: _Issues) -> Address | None:
    if not isinstance(value, str):
        issues.add(path, f"address: expected a string, got {_toml_type(value)}")
        return None
    try:
        return parse_address(value)
    except ValueError as exc:
        issues.add(
            path,
            f"address {_show(value)}: {exc}",
            'write "host:port", e.g. "10.0.0.5:80" or "[2001:db8::5]:80"',
        )
        return None


# ---------------------------------------------------------------- sections


def _timeouts(raw: _Table) -> Timeouts:
    base = Timeouts()
    return Timeouts(
        request_head=raw.duration("request_head", base.request_head),
        keepalive=raw.duration("keepalive", base.keepalive),
        backend_connect=raw.duration("backend_connect", base.backend_connect),
        backend_response=raw.duration("backend_response", base.backend_response),
        client_idle=raw.duration("client_idle", base.client_idle),
        drain=raw.duration("drain", base.drain, allow_zero=True),
        drain_grace=raw.duration("drain_grace", base.drain_grace, allow_zero=True),
        body_min_rate=_byte_rate(raw, "body_min_rate", base.body_min_rate),
        body_rate_window=raw.duration("body_rate_window", base.body_rate_window),
        body_deadline=raw.duration("body_deadline", base.body_deadline, allow_zero=True),
    )


def _byte_rate(raw: _Table, key: str, default: int) -> int:
    if not raw.has(key):
        return default
    try:
        return parse_byte_rate(raw.raw[key])
    except RateError as exc:
        raw.error(key, str(exc), RATE_HINT)
        return default


def _http(raw: _Table) -> HttpSettings:
    base = HttpSettings()
    via = raw.string("via", base.via)
    if via and _TOKEN.fullmatch(via) is None:
        raw.error(
            "via",
            f"{_show(via)} is not a valid Via pseudonym",
            'use one token such as "l7lb" (letters, digits, - . _), or "" to send no Via',
        )
        via = base.via
    server_header = raw.string("server_header", base.server_header)
    if any(ch in server_header for ch in "\r\n\0"):
        raw.error("server_header", "contains a control character", "use one line of text")
        server_header = base.server_header
    return HttpSettings(
        parser=raw.choice("parser", base.parser, PARSERS),
        limits=Limits(
            max_head_size=raw.integer("max_head_size", base.limits.max_head_size, 1),
            max_headers=raw.integer("max_headers", base.limits.max_headers, 1),
            max_uri_length=raw.integer("max_uri_length", base.limits.max_uri_length, 1),
        ),
        forwarded=raw.boolean("forwarded", base.forwarded),
        via=via,
        server_header=server_header,
    )


def _log(raw: _Table) -> LogSettings:
    base = LogSettings()
    access = raw.string("access", base.access)
    if not access:
        raw.error("access", "is empty", 'use "-" for stdout, "off", or a file path')
        access = base.access
    paths = raw.strings("exclude_paths")
    for index, path in enumerate(paths, 1):
        if not path.startswith("/"):
            raw.error(
                "exclude_paths",
                f"entry {index} ({_show(path)}) does not start with /",
                'write the request path as it arrives, e.g. "/healthz"',
            )
    return LogSettings(
        access=access,
        format=raw.choice("format", base.format, LOG_FORMATS),
        exclude_paths=paths,
        level=raw.choice("level", base.level, LOG_LEVELS),
    )


def _header_name(name: str, path: str, issues: _Issues) -> bool:
    if _TOKEN.fullmatch(name) is None:
        issues.add(path, f"{_show(name)} is not a valid header name", "use letters, digits and -")
        return False
    return True


def _static_response(
    value: dict[str, Any], path: str, issues: _Issues, default_status: int
) -> StaticResponse:
    raw = _Table(value, path, RESPONSE_KEYS, issues)
    status = raw.integer("status", default_status, 200, 599)
    body = raw.string("body", "")
    content_type = raw.string("content_type", _DEFAULT_CONTENT_TYPE)
    if status in (204, 304) and body:
        # RFC 9110 15.3.5 / 15.4.5: these responses never carry content.
        raw.error("body", f"a {status} response has no body", "remove body, or use status 200")
        body = ""
    headers: list[tuple[str, str]] = []
    table = raw.table("headers") or {}
    for name, header_value in table.items():
        where = _join(raw.at("headers"), f'"{name}"')
        if not _header_name(name, where, issues):
            continue
        if name.lower() in _FRAMING_HEADERS:
            issues.add(where, "l7lb sets this header itself", f'remove "{name}" from headers')
            continue
        if name.lower() == "content-type":
            issues.add(where, "set via content_type", f'write content_type = "{header_value}"')
            continue
        if not isinstance(header_value, str):
            issues.add(where, f"expected a string, got {_toml_type(header_value)}")
            continue
        if any(ch in header_value for ch in "\r\n\0"):
            issues.add(where, "the value contains a control character", "use one line of text")
            continue
        headers.append((name, header_value))
    return StaticResponse(status, body.encode(), content_type, tuple(headers))


def _redirect(value: dict[str, Any], path: str, issues: _Issues) -> Redirect | None:
    raw = _Table(value, path, REDIRECT_KEYS, issues)
    status = raw.integer("status", 302, 0)
    if raw.has("status") and status not in REDIRECT_STATUSES:
        raw.error(
            "status",
            f"{status} is not a redirect status",
            f"use one of {', '.join(map(str, REDIRECT_STATUSES))} (301/308 are permanent)",
        )
    location = raw.optional_string("location")
    if location is None:
        if not raw.has("location"):
            issues.add(path, "location is missing", 'add location = "https://{host}{path}"')
        return None
    if not location:
        raw.error("location", "is empty", 'write a URL or a path, e.g. "https://{host}{path}"')
        return None
    try:
        # The routing module owns the template grammar; checking with it here
        # means a typo fails at load time, not on the first redirected request.
        compile_redirect(location)
    except ValueError as exc:
        raw.error("location", str(exc), 'e.g. "https://{host}{uri}"')
        return None
    if any(ch in location for ch in "\r\n\0 "):
        raw.error("location", "contains a space or control character", "percent-encode it")
        return None
    return Redirect(location, status if status in REDIRECT_STATUSES else 302)


def _hosts(raw: _Table) -> tuple[str, ...]:
    hosts: list[str] = []
    for host in raw.strings("host"):
        name = host.lower()
        bare = name[2:] if name.startswith("*.") else name
        problem = ""
        if name == "*":
            problem = "a lone * matches every host"
            hint = "leave host out to match every host"
        elif "*" in bare:
            problem = 'a wildcard must be a leading "*." and nothing else'
            hint = 'write "*.example.com" (it does not match example.com itself)'
        elif bare.startswith("[") and bare.endswith("]"):
            try:
                ipaddress.IPv6Address(bare[1:-1])
            except ValueError:
                problem = "not an IPv6 address"
                hint = 'write "[2001:db8::1]"'
        elif ":" in bare:
            problem = "a host name with a port"
            hint = f'the port is ignored when matching: write "{bare.rsplit(":", 1)[0]}"'
        elif _HOSTNAME.fullmatch(bare) is None:
            problem = "not a host name"
            hint = 'write a name such as "www.example.com" or "*.example.com"'
        if problem:
            raw.error("host", f"{_show(host)}: {problem}", hint)
        else:
            hosts.append(name)
    return tuple(hosts)


def _methods(raw: _Table) -> tuple[str, ...]:
    methods: list[str] = []
    for method in raw.strings("method"):
        if _TOKEN.fullmatch(method) is None:
            raw.error("method", f"{_show(method)} is not an HTTP method", 'e.g. "GET" or "POST"')
        else:
            methods.append(method.upper())
    return tuple(methods)


def _header_matches(raw: _Table) -> tuple[HeaderMatch, ...]:
    table = raw.table("header")
    if table is None:
        return ()
    matches: list[HeaderMatch] = []
    for name, spec in table.items():
        where = _join(raw.at("header"), f'"{name}"')
        if not _header_name(name, where, raw.issues):
            continue
        key = name.lower().encode("ascii")
        if isinstance(spec, str):
            matches.append(HeaderMatch(key, value=spec))
        elif spec is True:
            matches.append(HeaderMatch(key))
        elif isinstance(spec, dict):
            sub = _Table(spec, where, ("regex",), raw.issues)
            pattern = sub.optional_string("regex")
            if pattern is None:
                if not sub.has("regex"):
                    raw.issues.add(where, "the table needs regex", 'write { regex = "^beta" }')
                continue
            compiled = _regex(pattern, sub.at("regex"), raw.issues)
            if compiled is not None:
                matches.append(HeaderMatch(key, regex=compiled))
        else:
            raw.issues.add(
                where,
                f"expected a string, true or {{ regex = ... }}, got {_toml_type(spec)}",
                f'"{name}" = "value" (exact), = true (present) or = {{ regex = "..." }}',
            )
    return tuple(matches)


def _regex(pattern: str, path: str, issues: _Issues) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error as exc:
        issues.add(
            path,
            f"{_show(pattern)} does not compile: {exc}",
            "Python re syntax; in TOML prefer 'single quotes' so backslashes stay literal",
        )
        return None


def _sources(raw: _Table) -> tuple[IPNetwork, ...]:
    networks: list[IPNetwork] = []
    for text in raw.strings("source"):
        try:
            networks.append(ipaddress.ip_network(text.strip()))
        except ValueError as exc:
            hint = 'write a CIDR such as "10.0.0.0/8" or one address "192.0.2.7"'
            try:
                fixed = ipaddress.ip_network(text.strip(), strict=False)
                hint = f'host bits are set: did you mean "{fixed}"?'
            except ValueError:
                pass
            raw.error("source", f"{_show(text)} is not a network: {exc}", hint)
    return tuple(networks)


def _route(
    value: object, path: str, index: int, pool_names: Sequence[str], issues: _Issues
) -> Route | None:
    if not isinstance(value, dict):
        issues.add(path, f"expected a table, got {_toml_type(value)}", "write [[vip.route]]")
        return None
    raw = _Table(value, path, ROUTE_KEYS, issues)
    name = raw.string("name", f"route {index}")
    path_prefix = raw.optional_string("path_prefix")
    if path_prefix is not None and not path_prefix.startswith("/"):
        raw.error("path_prefix", f"{_show(path_prefix)} does not start with /", 'e.g. "/api"')
        path_prefix = None
    pattern = raw.optional_string("path_regex")
    path_regex = _regex(pattern, raw.at("path_regex"), issues) if pattern is not None else None
    match = Match(
        hosts=_hosts(raw),
        path_prefix=path_prefix,
        path_regex=path_regex,
        methods=_methods(raw),
        headers=_header_matches(raw),
        sources=_sources(raw),
    )
    actions = [key for key in ("pool", "redirect", "respond") if raw.has(key)]
    if not actions:
        issues.add(
            path,
            "the route has no action",
            'add one of pool = "<name>", redirect = { location = "..." } '
            'or respond = { status = ..., body = "..." }',
        )
        return None
    if len(actions) > 1:
        issues.add(
            path,
            f"the route has {len(actions)} actions ({', '.join(actions)})",
            "keep exactly one of pool, redirect and respond",
        )
        return None
    pool = raw.optional_string("pool")
    redirect: Redirect | None = None
    respond: StaticResponse | None = None
    if pool is not None and pool not in pool_names:
        raw.error("pool", f"no pool named {_show(pool)}", _pool_hint(pool, pool_names))
        return None
    if raw.has("redirect"):
        table = raw.table("redirect")
        redirect = _redirect(table, raw.at("redirect"), issues) if table is not None else None
        if redirect is None:
            return None
    if raw.has("respond"):
        table = raw.table("respond")
        if table is None:
            return None
        respond = _static_response(table, raw.at("respond"), issues, 200)
    if pool is None and redirect is None and respond is None:
        return None
    return Route(name, match, pool=pool, redirect=redirect, respond=respond)


def _pool_hint(name: str, pool_names: Sequence[str]) -> str:
    if not pool_names:
        return f"define it with [pool.{name}]"
    best = _suggest(name, pool_names)
    defined = f"defined pools: {', '.join(sorted(pool_names))}"
    return f'did you mean "{best}"? ({defined})' if best else defined


def _vip(
    value: object, index: int, pool_names: Sequence[str], issues: _Issues, by_index: bool
) -> tuple[str, Vip | None, list[tuple[str, Address]]]:
    """Returns the vip's path, the vip (None if invalid) and its listen addresses."""
    if not isinstance(value, dict):
        path = f"vip {index}"
        issues.add(path, f"expected a table, got {_toml_type(value)}", "write [[vip]]")
        return path, None, []
    name = value.get("name")
    # A vip is named by its name, or by its position when that is missing or taken.
    named = isinstance(name, str) and name and not by_index
    path = f"vip {_show(name)}" if named else f"vip {index}"
    raw = _Table(value, path, VIP_KEYS, issues)
    name = raw.string("name", f"vip-{index}")
    if raw.has("name") and not name:
        raw.error("name", "is empty", "give the vip a name, used in logs and admin output")
    tls = None
    if raw.has("tls"):
        tls, tls_issues = parse_tls_table(raw.raw["tls"], raw.at("tls"))
        for where, message, hint in tls_issues:
            issues.add(where, message, hint)
    accept_proxy, proxy_trusted, proxy_issues = parse_vip_proxy(raw.raw, path)
    for where, message, hint in proxy_issues:
        issues.add(where, message, hint)
    limits = None
    if raw.has("limits"):
        limits, limit_issues = parse_limits_table(raw.raw["limits"], raw.at("limits"))
        for where, message, hint in limit_issues:
            issues.add(where, message, hint)
    http2, http2_issues = parse_vip_http2(raw.raw.get("http2"), path, raw.has("tls"))
    for where, message, hint in http2_issues:
        issues.add(where, message, hint)
    listen: list[tuple[str, Address]] = []
    entries = raw.strings("listen")
    if not raw.has("listen"):
        issues.add(path, "the vip has no listen address", 'add listen = ["0.0.0.0:80"]')
    for number, text in enumerate(entries, 1):
        where = raw.at(f"listen {number}") if len(entries) > 1 else raw.at("listen")
        address = _address(text, where, issues)
        if address is not None:
            listen.append((where, address))
    routes: list[Route] = []
    raw_routes = raw.raw.get("route", [])
    if not isinstance(raw_routes, list):
        raw.error("route", f"expected an array of tables, got {_toml_type(raw_routes)}", _ROUTES)
        raw_routes = []
    # A route without conditions matches every request; any later route is dead.
    for number, raw_route in enumerate(raw_routes, 1):
        if not isinstance(raw_route, dict) or number == len(raw_routes):
            continue
        if not any(key in raw_route for key in ROUTE_KEYS[1:7]):
            issues.add(
                raw.at(f"route {number}"),
                f"has no conditions, so it matches every request and {_later(number, raw_routes)} "
                "can never match",
                "first match wins: move the catch-all route last",
            )
            break
    for number, raw_route in enumerate(raw_routes, 1):
        route = _route(raw_route, raw.at(f"route {number}"), number, pool_names, issues)
        if route is not None:
            routes.append(route)
    vip = Vip(
        name,
        tuple(address for _, address in listen),
        tuple(routes),
        tls,
        http2=http2,
        accept_proxy=accept_proxy,
        proxy_trusted=proxy_trusted,
        limits=limits,
    )
    return path, vip, listen


def _later(number: int, routes: Sequence[object]) -> str:
    last = len(routes)
    return f"route {last}" if number + 1 == last else f"routes {number + 1}-{last}"


_ROUTES = "write each route as [[vip.route]] below its [[vip]]"


def _server(
    value: object, path: str, pool_name: str, index: int, issues: _Issues, send_proxy: str = ""
) -> Server | None:
    if not isinstance(value, dict):
        issues.add(
            path, f"expected a table, got {_toml_type(value)}", "write [[pool.<name>.server]]"
        )
        return None
    raw = _Table(value, path, SERVER_KEYS, issues)
    name = raw.string("name", f"{pool_name}-{index}")
    if not name:
        raw.error("name", "is empty", f"leave name out to get {pool_name}-{index}")
        name = f"{pool_name}-{index}"
    weight = raw.integer("weight", 1, 0, MAX_WEIGHT)
    max_conn = raw.integer("max_conn", 0, 0)
    backup = raw.boolean("backup", False)
    route = raw.string("route", "")
    if route and _ROUTE_NAME.fullmatch(route) is None:
        raw.error(
            "route",
            f"{_show(route)} is not a valid route",
            'letters, digits, - and _ (the part after the "." of a session id)',
        )
        route = ""
    send_proxy, send_issues = parse_send_proxy(raw.raw, path, send_proxy)
    for where, message, hint in send_issues:
        issues.add(where, message, hint)
    if not raw.has("address"):
        issues.add(path, "the server has no address", 'add address = "10.0.0.5:80"')
        return None
    address = _address(raw.raw["address"], path, issues)
    if address is None:
        return None
    return Server(
        name,
        address,
        weight=weight,
        max_conn=max_conn,
        backup=backup,
        route=route,
        send_proxy=send_proxy,
    )


_ROUTE_NAME = re.compile(r"[A-Za-z0-9_-]+")
_SECRET_HINT = 'set secret = "..." (the same on every director)'


def _secret(raw: _Table, default: bytes, base_dir: str) -> bytes:
    """The pool's secret: ``secret``, else ``secret_file`` (read now), else
    the top-level ``persistence_secret``; b"" when there is none."""
    if raw.has("secret") and raw.has("secret_file"):
        raw.error("secret", "secret and secret_file are both set", "keep one of them")
        return default
    if raw.has("secret"):
        secret = raw.string("secret", "").encode("utf-8")
        where = "secret"
    elif raw.has("secret_file"):
        name = raw.string("secret_file", "")
        where = "secret_file"
        try:
            with open(os.path.join(base_dir, name), "rb") as handle:
                # a trailing newline from an editor or `echo` is not part of the key
                secret = handle.read().rstrip(b"\r\n")
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raw.error("secret_file", f"cannot read {_show(name)}: {reason}", _SECRET_HINT)
            return default
    else:
        return default
    if len(secret) < MIN_SECRET_BYTES:
        raw.error(
            where,
            f"is {len(secret)} bytes, shorter than {MIN_SECRET_BYTES}",
            'use a long random string, e.g. the output of "openssl rand -base64 32"',
        )
        return default
    return secret


def _persistence(
    value: dict[str, Any],
    path: str,
    pool: str,
    default_secret: bytes,
    base_dir: str,
    issues: _Issues,
) -> Persistence:
    raw = _Table(value, path, PERSISTENCE_KEYS, issues)
    mode_text = raw.choice("mode", "none", [m.value for m in PersistenceMode])
    mode = PersistenceMode(mode_text)
    allowed = MODE_KEYS[mode_text]
    for key in raw.raw:
        if key in PERSISTENCE_KEYS and key != "mode" and key not in allowed:
            users = [m for m, keys in MODE_KEYS.items() if key in keys]
            raw.error(
                key,
                f'does not apply to mode = "{mode_text}"',
                f"remove it, or use mode = {' or '.join(_show(m) for m in users)}",
            )
    base = Persistence()
    default_name = "L7LB" if mode is PersistenceMode.COOKIE else "JSESSIONID"
    name = raw.string("name", default_name)
    if _TOKEN.fullmatch(name) is None:
        raw.error("name", f"{_show(name)} is not a valid cookie name", 'e.g. "SRVID"')
        name = default_name
    secret = b""
    if mode in (PersistenceMode.COOKIE, PersistenceMode.PREFIX):
        secret = _secret(raw, default_secret, base_dir)
        if not secret and not (raw.has("secret") or raw.has("secret_file")):
            issues.add(
                path,
                f'mode = "{mode_text}" needs a secret to sign server ids',
                _SECRET_HINT + ", or a top-level persistence_secret",
            )
    path_value = raw.string("path", base.path)
    domain = raw.string("domain", base.domain)
    samesite = raw.choice("samesite", base.samesite, SAMESITE)
    max_age = raw.duration("max_age", base.max_age, allow_zero=True)
    if mode is PersistenceMode.COOKIE:
        try:
            SetCookie(
                name,
                path=path_value or None,
                domain=domain or None,
                max_age=int(max_age) or None,
                secure=True,
                samesite=SameSite(samesite) if samesite else None,
            )
        except ValueError as exc:
            issues.add(path, str(exc), "path and domain are plain ASCII without ; or spaces")
    path_param = raw.string("path_param", base.path_param)
    query_param = raw.string("query_param", base.query_param)
    for key, param in (("path_param", path_param), ("query_param", query_param)):
        if param and (_TOKEN.fullmatch(param) is None or "=" in param):
            raw.error(key, f"{_show(param)} is not a parameter name", 'e.g. "jsessionid"')
    default_timeout = 360.0 if mode is PersistenceMode.SOURCE else 1800.0
    table = raw.string("table", pool)
    if not table:
        raw.error("table", "is empty", "leave table out to use the pool name")
        table = pool
    return Persistence(
        mode=mode,
        name=name,
        indirect=raw.boolean("indirect", base.indirect),
        nocache=raw.boolean("nocache", base.nocache),
        path=path_value,
        domain=domain,
        httponly=raw.boolean("httponly", base.httponly),
        samesite=samesite,
        max_age=max_age,
        max_idle=raw.duration("max_idle", base.max_idle, allow_zero=True),
        max_life=raw.duration("max_life", base.max_life, allow_zero=True),
        secret=secret,
        path_param=path_param.lower(),
        query_param=query_param,
        learn=raw.boolean("learn", base.learn),
        timeout=raw.duration("timeout", default_timeout),
        max_entries=raw.integer("max_entries", base.max_entries, 1),
        table=table,
        mask=raw.integer("mask", base.mask, 0, 32),
        mask6=raw.integer("mask6", base.mask6, 0, 128),
    )


def _health(value: dict[str, Any], path: str, issues: _Issues) -> HealthSettings:
    raw = _Table(value, path, HEALTH_KEYS, issues)
    base = HealthSettings()
    check = raw.choice("check", base.check, ("none", "tcp", "http"))
    if check != "http":
        for key in _HTTP_CHECK_KEYS:
            if raw.has(key):
                raw.error(key, 'only applies to check = "http"', 'set check = "http", or remove it')
    method = raw.string("method", base.method)
    if _TOKEN.fullmatch(method) is None:
        raw.error("method", f"{_show(method)} is not an HTTP method", 'e.g. "GET" or "HEAD"')
        method = base.method
    check_path = raw.string("path", base.path)
    if not check_path.startswith("/") or any(ch in check_path for ch in " \r\n\0"):
        raw.error("path", f"{_show(check_path)} is not a request path", 'e.g. "/health"')
        check_path = base.path
    host = raw.string("host", base.host)
    if host and _HOSTNAME.fullmatch(host.lower().rsplit(":", 1)[0]) is None:
        raw.error("host", f"{_show(host)} is not a host name", 'e.g. "www.example.com"')
        host = base.host
    expect = raw.string("expect", base.expect)
    try:
        StatusRanges(expect)
    except ValueError as exc:
        raw.error("expect", str(exc), 'e.g. "200-399" or "200,204"')
        expect = base.expect
    body = raw.string("body", base.body)
    interval = raw.duration("interval", base.interval)
    timeout = raw.duration("timeout", base.timeout)
    return HealthSettings(
        check=check,
        method=method.upper(),
        path=check_path,
        host=host,
        expect=expect,
        body=body,
        tls=raw.boolean("tls", base.tls),
        port=raw.integer("port", base.port, 0, 65535),
        interval=interval,
        timeout=timeout,
        rise=raw.integer("rise", base.rise, 1, 100),
        fall=raw.integer("fall", base.fall, 1, 100),
        log=raw.boolean("log", base.log),
        passive_failures=raw.integer("passive_failures", base.passive_failures, 0, 1000),
        passive_backoff=raw.duration("passive_backoff", base.passive_backoff),
    )


def _shared_tables(pools: dict[str, Pool], issues: _Issues) -> None:
    """Pools naming the same stick table must agree on what goes in it."""
    owners: dict[str, Pool] = {}
    for pool in pools.values():
        p = pool.persistence
        if not p.uses_table:
            continue
        first = owners.setdefault(p.table, pool)
        if first is pool:
            continue
        q = first.persistence
        if (p.mode, p.timeout, p.max_entries, p.mask, p.mask6) != (
            q.mode,
            q.timeout,
            q.max_entries,
            q.mask,
            q.mask6,
        ):
            issues.add(
                f"pool {_show(pool.name)} persistence table",
                f"table {_show(p.table)} is also used by pool {_show(first.name)} "
                "with a different mode, timeout, max_entries or mask",
                "pools sharing a table need the same persistence settings",
            )


def _pool(
    name: str,
    value: object,
    pool_names: Sequence[str],
    issues: _Issues,
    secret: bytes = b"",
    base_dir: str = "",
) -> Pool | None:
    path = f"pool {_show(name)}"
    if not isinstance(value, dict):
        issues.add(path, f"expected a table, got {_toml_type(value)}", f"write [pool.{name}]")
        return None
    if _POOL_NAME.fullmatch(name) is None:
        issues.add(path, "the pool name is not valid", "use letters, digits and - _ .")
    raw = _Table(value, path, POOL_KEYS, issues)
    scheduler = Scheduler(raw.choice("scheduler", "wrr", [s.value for s in Scheduler]))
    hash_key = raw.string("hash_key", "path")
    if raw.has("hash_key"):
        if scheduler is not Scheduler.CHASH:
            raw.error(
                "hash_key",
                f'only applies to scheduler = "chash" (this pool uses "{scheduler.value}")',
                'set scheduler = "chash", or remove hash_key',
            )
        header = hash_key[len("header:") :] if hash_key.startswith("header:") else None
        if header is not None:
            if _TOKEN.fullmatch(header) is None:
                raw.error(
                    "hash_key", f"{_show(header)} is not a header name", 'e.g. "header:X-User"'
                )
        elif hash_key not in HASH_KEYS:
            raw.error(
                "hash_key",
                f"unknown value {_show(hash_key)}",
                _choice_hint(hash_key, HASH_KEYS) + ' or "header:<name>"',
            )
    max_idle = raw.integer("max_idle", 32, 0)
    idle_timeout = raw.duration("idle_timeout", 10.0)
    fallback_pool: str | None = None
    fallback_response: StaticResponse | None = None
    fallback = raw.raw.get("fallback")
    if isinstance(fallback, str):
        if fallback == name:
            raw.error("fallback", "a pool cannot fall back to itself", "name another pool")
        elif fallback not in pool_names:
            raw.error(
                "fallback", f"no pool named {_show(fallback)}", _pool_hint(fallback, pool_names)
            )
        else:
            fallback_pool = fallback
    elif isinstance(fallback, dict):
        fallback_response = _static_response(fallback, raw.at("fallback"), issues, 503)
    elif fallback is not None:
        raw.error(
            "fallback",
            f"expected a pool name or a table, got {_toml_type(fallback)}",
            'fallback = "sorry" or fallback = { status = 503, body = "..." }',
        )
    servers: list[Server] = []
    raw_servers = raw.raw.get("server", [])
    if not isinstance(raw_servers, list):
        raw.error(
            "server",
            f"expected an array of tables, got {_toml_type(raw_servers)}",
            f"write each server as [[pool.{name}.server]]",
        )
        raw_servers = []
    redispatch = raw.boolean("redispatch", True)
    queue_timeout = raw.duration("queue_timeout", 0.0, allow_zero=True)
    persistence_table = raw.table("persistence")
    persistence = Persistence()
    if persistence_table is not None:
        persistence = _persistence(
            persistence_table, raw.at("persistence"), name, secret, base_dir, issues
        )
    health_table = raw.table("health")
    health = _health(health_table, raw.at("health"), issues) if health_table is not None else None
    send_proxy, send_issues = parse_send_proxy(raw.raw, path, "")
    for where, message, hint in send_issues:
        issues.add(where, message, hint)
    seen_names: dict[str, int] = {}
    seen_addresses: dict[Address, int] = {}
    seen_routes: dict[str, int] = {}
    for number, raw_server in enumerate(raw_servers, 1):
        where = raw.at(f"server {number}")
        server = _server(raw_server, where, name, number, issues, send_proxy)
        if server is None:
            continue
        if server.name in seen_names:
            issues.add(
                _join(where, "name"),
                f"{_show(server.name)} is already server {seen_names[server.name]}'s name",
                "server names must be unique within a pool",
            )
            continue
        if server.address in seen_addresses:
            issues.add(
                where,
                f"address {server.address} is already server {seen_addresses[server.address]}",
                "list each server once; raise its weight to send it more traffic",
            )
            continue
        if server.route and server.route in seen_routes:
            issues.add(
                _join(where, "route"),
                f"{_show(server.route)} is already server {seen_routes[server.route]}'s route",
                "routes must be unique within a pool: one route names one server",
            )
            continue
        seen_names[server.name] = number
        seen_addresses[server.address] = number
        if server.route:
            seen_routes[server.route] = number
        servers.append(server)
    p = persistence
    if p.mode is PersistenceMode.JSESSIONID and not p.learn and not seen_routes and servers:
        issues.add(
            raw.at("persistence"),
            "learn = false and no server has a route: nothing to stick on",
            'give each server a route = "..." (its jvmRoute), or set learn = true',
        )
    if not raw_servers and fallback is None:
        issues.add(
            path,
            "the pool has no servers and no fallback",
            f'add [[pool.{name}.server]] entries, or fallback = {{ status = 503, body = "..." }}',
        )
    return Pool(
        name,
        tuple(servers),
        scheduler=scheduler,
        hash_key=hash_key,
        max_idle=max_idle,
        idle_timeout=idle_timeout,
        fallback_pool=fallback_pool,
        fallback_response=fallback_response,
        redispatch=redispatch,
        queue_timeout=queue_timeout,
        persistence=persistence,
        health=health or HealthSettings(),
        send_proxy=send_proxy,
    )


def _fallback_loops(pools: dict[str, Pool], issues: _Issues) -> None:
    reported: set[frozenset[str]] = set()
    for start in pools:
        chain = [start]
        current = pools[start].fallback_pool
        while current is not None and current in pools:
            if current in chain:
                cycle = chain[chain.index(current) :]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    issues.add(
                        f"pool {_show(cycle[0])} fallback",
                        "fallback loop: " + " -> ".join([*cycle, current]),
                        "end the chain with a pool that has servers and no fallback, "
                        'or a fallback = { status = 503, body = "..." }',
                    )
                break
            chain.append(current)
            current = pools[current].fallback_pool


def _listen_conflicts(listens: list[tuple[str, Address]], issues: _Issues) -> None:
    for later in range(len(listens)):
        for earlier in range(later):
            path, address = listens[later]
            other_path, other = listens[earlier]
            if _overlaps(address, other):
                same = address == other
                issues.add(
                    path,
                    f"address {address} "
                    + ("is already used by " if same else f"overlaps {other} of ")
                    + other_path,
                    "each listen address may belong to one vip only",
                )
                break


def _build(doc: dict[str, Any], source: str, issues: _Issues, base_dir: str = "") -> Config:
    top = _Table(doc, "", TOP_KEYS, issues)
    workers = top.integer("workers", 0, 0)
    admin_socket = top.string("admin_socket", "")
    pid_file = top.string("pid_file", "")
    if pid_file:  # read by `l7lb reload/stop` from any directory: anchor it to the file's
        pid_file = os.path.abspath(os.path.join(base_dir, pid_file)) if base_dir else pid_file
    persistence_secret = top.string("persistence_secret", "").encode("utf-8")
    if top.has("persistence_secret") and len(persistence_secret) < MIN_SECRET_BYTES:
        top.error(
            "persistence_secret",
            f"is {len(persistence_secret)} bytes, shorter than {MIN_SECRET_BYTES}",
            'use a long random string, e.g. the output of "openssl rand -base64 32"',
        )
        persistence_secret = b""
    sections: dict[str, _Table] = {}
    for key, keys in (("timeouts", TIMEOUT_KEYS), ("http", HTTP_KEYS), ("log", LOG_KEYS)):
        sections[key] = _Table(top.table(key) or {}, key, keys, issues)
    timeouts = _timeouts(sections["timeouts"])
    http = _http(sections["http"])
    log = _log(sections["log"])

    raw_pools = doc.get("pool", {})
    if not isinstance(raw_pools, dict):
        top.error(
            "pool",
            f"expected a table of pools, got {_toml_type(raw_pools)}",
            "write each pool as [pool.<name>], e.g. [pool.web]",
        )
        raw_pools = {}
    raw_vips = doc.get("vip", [])
    if not isinstance(raw_vips, list):
        message = f"expected an array of tables, got {_toml_type(raw_vips)}"
        top.error("vip", message, "write [[vip]]")
        raw_vips = []
    # Routes may name any pool, wherever it is written, so names come first.
    pool_names = list(raw_pools)

    pools: dict[str, Pool] = {}
    vips: list[Vip] = []
    listens: list[tuple[str, Address]] = []

    def build_pools() -> None:
        for name, raw_pool in raw_pools.items():
            pool = _pool(name, raw_pool, pool_names, issues, persistence_secret, base_dir)
            if pool is not None:
                pools[name] = pool
        _fallback_loops(pools, issues)
        _shared_tables(pools, issues)

    def build_vips() -> None:
        if not raw_vips:
            hint = 'add a [[vip]] with name and listen = ["0.0.0.0:80"]'
            issues.add("", "no vip is defined", hint)
        seen: dict[str, int] = {}
        for index, raw_vip in enumerate(raw_vips, 1):
            name = raw_vip.get("name") if isinstance(raw_vip, dict) else None
            duplicate = isinstance(name, str) and name in seen
            path, vip, vip_listens = _vip(raw_vip, index, pool_names, issues, duplicate)
            listens.extend(vip_listens)
            if vip is None:
                continue
            if duplicate:
                issues.add(
                    _join(path, "name"),
                    f"{_show(vip.name)} is already the name of vip {seen[vip.name]}",
                    "vip names must be unique",
                )
            seen.setdefault(vip.name, index)
            vips.append(vip)
        _listen_conflicts(listens, issues)

    # Report in the order the file is written: [pool.*] first or [[vip]] first.
    steps = [build_pools, build_vips]
    order = list(doc)
    if "vip" in order and "pool" in order and order.index("vip") < order.index("pool"):
        steps.reverse()
    for step in steps:
        step()
    store = StoreSettings()
    if "store" in doc:
        parsed, store_issues = parse_store_table(doc["store"], "store", base_dir)
        for where, message, hint in store_issues:
            issues.add(where, message, hint)
        store = parsed or store
    http2, http2_issues = parse_http2_table(doc.get("http2"), "http2")
    for where, message, hint in http2_issues:
        issues.add(where, message, hint)
    admin, admin_issues = parse_admin_table(doc.get("admin"), "admin", base_dir)
    for where, message, hint in admin_issues:
        issues.add(where, message, hint)
    if admin.listen is not None:
        for path, address in listens:
            if _overlaps(admin.listen, address):
                issues.add(
                    "admin listen", f"{admin.listen} is also {path}", "use a port of its own"
                )
    metrics, metrics_issues = parse_metrics_table(doc.get("metrics"))
    for where, message, hint in metrics_issues:
        issues.add(where, message, hint)
    ipvs = None
    if "ipvs" in doc:  # the L4 tier for `l7lb ipvs`; needs the VIPs and pools built
        ipvs, ipvs_issues = parse_ipvs_table(doc["ipvs"], vips, pools, admin=admin.listen)
        for where, message, hint in ipvs_issues + ipvs_conflicts(vips, ipvs):
            issues.add(where, message, hint)
    return Config(
        vips=tuple(vips),
        pools=pools,
        store=store,
        ipvs=ipvs,
        workers=workers,
        timeouts=timeouts,
        http=http,
        http2=http2,
        log=log,
        admin_socket=admin_socket,
        admin=admin,
        metrics=metrics,
        pid_file=pid_file,
        persistence_secret=persistence_secret,
        source=source,
    )


def _toml_issue(exc: tomllib.TOMLDecodeError) -> ConfigIssue:
    text = str(exc)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", text)
    path = ""
    if found:
        path = f"line {found.group(1)} column {found.group(2)}"
        text = text[: found.start()]
    hint = "TOML syntax: strings need quotes, tables are [name], arrays of tables [[name]]"
    return ConfigIssue(path, f"not valid TOML: {text}", hint)


def parse_config(text: str, origin: str = "<string>") -> Config:
    """Build a Config from TOML text; raise ConfigError listing every problem."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_toml_issue(exc)], origin) from None
    issues = _Issues()
    # relative secret_file paths are read next to the configuration file
    base_dir = os.path.dirname(origin) if origin != "<string>" else ""
    config = _build(doc, text, issues, base_dir)
    if issues.errors:
        raise ConfigError(issues.errors, origin)
    return config


def load_config(path: str) -> Config:
    """Read and parse the file at ``path``; unreadable files are a ConfigError too."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([ConfigIssue("", f"cannot read the file: {reason}")], path) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        issue = ConfigIssue(f"line {line}", "not UTF-8 text", "save the file as UTF-8")
        raise ConfigError([issue], path) from None
    return parse_config(text, path)


__all__ = [
    "ConfigError",
    "ConfigIssue",
    "load_config",
    "parse_address",
    "parse_config",
]
