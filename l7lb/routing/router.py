"""Pick the route for a request: ordered rules, the first match wins.

Every condition of a ``Match`` is turned into bytes, frozensets and integer
masks when the ``Router`` is built, so ``route()`` only compares. The caller
passes the path without the query (see ``l7lb.routing.target.split_target``)
and the raw host (``request_host``); the router normalises the host itself.

Text conditions (``path_regex``, header ``regex``) are ``str`` patterns from
the config: the path or value is decoded as UTF-8 with ``surrogateescape``
(lossless for any bytes), once per request and only when a regex needs it.
Exact header values are compared as UTF-8 bytes.

``explain()`` (for ``l7lb explain``) answers the same question condition by
condition. It adds nothing to ``route()``: every verdict it gives comes from
``route()`` itself, run on a one-route router holding that route, or one of
its conditions alone, so the explanation cannot drift from the data path.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from l7lb.config.model import HeaderMatch, IPNetwork, Match, Route
from l7lb.routing.target import normalize_host, request_host, split_target

__all__ = [
    "Condition",
    "RouteVerdict",
    "Router",
    "normalize_host",
    "request_host",
    "split_target",
]

# (ip version, network address as int, netmask as int): membership is one AND
# and one compare instead of ``ipaddress``'s object machinery.
_Net = tuple[int, int, int]
# (name, exact value or None, regex or None)
_Header = tuple[bytes, bytes | None, "re.Pattern[str] | None"]


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _parse_source(source: str) -> tuple[int, int] | None:
    """(version, address as int) of the client, or None when it is no IP
    (a Unix socket peer, say). IPv4-mapped IPv6 addresses from dual-stack
    listeners count as the IPv4 address they carry."""
    try:
        addr = ipaddress.ip_address(source)
    except ValueError:
        return None
    if addr.version == 6:
        mapped = addr.ipv4_mapped
        if mapped is not None:
            return 4, int(mapped)
    return addr.version, int(addr)


def _host_bytes(name: str) -> bytes:
    # Clients send internationalised names in their ASCII (punycode) form.
    name = name.lower()
    return name.encode("ascii") if name.isascii() else name.encode("idna")


def _compile_net(net: IPNetwork) -> _Net:
    return net.version, int(net.network_address), int(net.netmask)


class _Rule:
    """One route with its conditions pre-digested; empty tuples mean "any"."""

    __slots__ = (
        "exact_hosts",
        "has_hosts",
        "headers",
        "methods",
        "path_prefix",
        "path_regex",
        "route",
        "sources",
        "wild_hosts",
    )

    def __init__(self, route: Route) -> None:
        m: Match = route.match
        self.route = route
        exact: set[bytes] = set()
        wild: list[bytes] = []
        for host in m.hosts:
            if host.startswith("*."):
                # nginx semantics: "*.example.com" matches any depth of
                # subdomain (a.example.com, a.b.example.com) but NOT
                # example.com itself. Kept as the suffix ".example.com".
                wild.append(b"." + _host_bytes(host[2:]))
            else:
                exact.add(normalize_host(_host_bytes(host)))
        self.exact_hosts = frozenset(exact)
        self.wild_hosts = tuple(wild)
        self.has_hosts = bool(m.hosts)
        self.path_prefix = m.path_prefix.encode() if m.path_prefix is not None else None
        self.path_regex = m.path_regex
        self.methods = frozenset(x.upper().encode("ascii") for x in m.methods)
        self.headers: tuple[_Header, ...] = tuple(_compile_header(h) for h in m.headers)
        self.sources: tuple[_Net, ...] = tuple(_compile_net(n) for n in m.sources)


def _compile_header(h: HeaderMatch) -> _Header:
    value = h.value.encode() if h.value is not None else None
    return h.name.lower(), value, h.regex


def _header_ok(cond: _Header, headers: list[tuple[bytes, bytes]]) -> bool:
    # A repeated header matches when any one of its fields does; values are not
    # split on commas (a regex can do that when a list header needs it).
    name, value, regex = cond
    for n, v in headers:
        if n != name:
            continue
        if value is not None and v != value:
            continue
        if regex is not None and regex.search(_decode(v)) is None:
            continue
        return True
    return False


class Router:
    """The ordered routes of one VIP."""

    __slots__ = ("_rules", "reads_headers")

    def __init__(self, routes: tuple[Route, ...]) -> None:
        self._rules = tuple(_Rule(r) for r in routes)
        # whether any route has a header condition: ``route`` reads ``headers`` only then,
        # so a caller may pass an empty list otherwise (the request's list is built lazily)
        self.reads_headers = any(rule.headers for rule in self._rules)

    def route(
        self,
        method: bytes,
        host: bytes,
        path: bytes,
        headers: list[tuple[bytes, bytes]],
        source: str,
    ) -> Route | None:
        """The first route whose conditions all hold, or None.

        ``host`` is as received (case and ":port" are ignored), ``path`` has
        no query, ``source`` is the client IP as text.
        """
        norm_host: bytes | None = None
        text_path: str | None = None
        client: tuple[int, int] | None = None
        client_parsed = False
        for rule in self._rules:
            if rule.methods and method not in rule.methods:
                continue
            if rule.has_hosts:
                if norm_host is None:
                    norm_host = normalize_host(host)
                if norm_host not in rule.exact_hosts and not (
                    rule.wild_hosts
                    and norm_host.endswith(rule.wild_hosts)
                    and norm_host[:1] != b"."
                ):
                    continue
            if rule.path_prefix is not None and not path.startswith(rule.path_prefix):
                continue
            if rule.path_regex is not None:
                if text_path is None:
                    text_path = _decode(path)
                if rule.path_regex.search(text_path) is None:
                    continue
            if rule.headers and not all(_header_ok(c, headers) for c in rule.headers):
                continue
            if rule.sources:
                if not client_parsed:
                    client = _parse_source(source)
                    client_parsed = True
                if client is None:
                    continue
                version, addr = client
                if not any(v == version and addr & mask == net for v, net, mask in rule.sources):
                    continue
            return rule.route
        return None

    def explain(
        self,
        method: bytes,
        host: bytes,
        path: bytes,
        headers: list[tuple[bytes, bytes]],
        source: str,
    ) -> tuple[RouteVerdict, ...]:
        """Every route in order with every one of its conditions judged (no
        short cut: a route that fails on its method still says whether its
        host would have matched). Same arguments as ``route()``; for
        ``l7lb explain``, never on the data path."""

        def holds(match: Match) -> bool:
            one = Router((Route("explain", match),))
            return one.route(method, host, path, headers, source) is not None

        verdicts: list[RouteVerdict] = []
        for index, rule in enumerate(self._rules, 1):
            m = rule.route.match
            conditions: list[Condition] = []
            if m.methods:
                ok = holds(Match(methods=m.methods))
                conditions.append(Condition("method", m.methods, ok, m.methods if ok else ()))
            if m.hosts:
                hits = tuple(h for h in m.hosts if holds(Match(hosts=(h,))))
                conditions.append(Condition("host", m.hosts, holds(Match(hosts=m.hosts)), hits))
            if m.path_prefix is not None:
                ok = holds(Match(path_prefix=m.path_prefix))
                wanted = (m.path_prefix,)
                conditions.append(Condition("path_prefix", wanted, ok, wanted if ok else ()))
            if m.path_regex is not None:
                ok = holds(Match(path_regex=m.path_regex))
                wanted = (m.path_regex.pattern,)
                conditions.append(Condition("path_regex", wanted, ok, wanted if ok else ()))
            for h in m.headers:
                ok = holds(Match(headers=(h,)))
                wanted = (describe_header(h),)
                conditions.append(Condition("header", wanted, ok, wanted if ok else ()))
            if m.sources:
                nets = tuple(str(n) for n in m.sources)
                hits = tuple(str(n) for n in m.sources if holds(Match(sources=(n,))))
                conditions.append(Condition("source", nets, holds(Match(sources=m.sources)), hits))
            verdicts.append(RouteVerdict(index, rule.route, holds(m), tuple(conditions)))
        return tuple(verdicts)


def describe_header(h: HeaderMatch) -> str:
    """A header condition as the config writes it: ``name``, ``name = value``
    or ``name ~ regex``."""
    name = h.name.decode("ascii", "replace")
    if h.value is not None:
        return f"{name} = {h.value}"
    if h.regex is not None:
        return f"{name} ~ {h.regex.pattern}"
    return name


@dataclass(frozen=True, slots=True)
class Condition:
    """One condition of a route, judged against one request."""

    kind: str  # "method" | "host" | "path_prefix" | "path_regex" | "header" | "source"
    wanted: tuple[str, ...]  # as configured: the list is an OR (one item for most kinds)
    ok: bool
    hits: tuple[str, ...]  # the configured items the request meets


@dataclass(frozen=True, slots=True)
class RouteVerdict:
    """One route of a VIP, judged against one request by ``Router.explain``."""

    index: int  # 1-based, as ``l7lb check`` numbers routes
    route: Route
    matched: bool  # every condition holds (a route without conditions always does)
    conditions: tuple[Condition, ...]
