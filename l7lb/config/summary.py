"""A one-screen, human summary of a loaded Config (what ``l7lb check`` prints).

It reads the typed objects, not the TOML, so it shows what l7lb will do:
defaults filled in, server names assigned, routes in the order they are tried.
"""

from __future__ import annotations

from l7lb.config.durations import format_duration
from l7lb.config.ipvs import IpvsSettings, describe_ipvs
from l7lb.config.model import (
    Config,
    HeaderMatch,
    Match,
    PersistenceMode,
    Pool,
    Route,
    Scheduler,
    StaticResponse,
    VipLimits,
)


def summarize(cfg: Config) -> str:
    """VIPs with their listen addresses and ordered routes, then pools and servers."""
    lines: list[str] = []
    t = cfg.timeouts
    workers = str(cfg.workers) if cfg.workers else "one per CPU"
    lines.append(
        f"workers {workers}; parser {cfg.http.parser}; access log "
        f"{cfg.log.access} ({cfg.log.format})"
        + (f"; admin socket {cfg.admin_socket}" if cfg.admin_socket else "")
        + (f"; pid file {cfg.pid_file}" if cfg.pid_file else "")
    )
    if cfg.admin.listen is not None:
        actions = "need the bearer token" if cfg.admin.token else "off: no token_file"
        lines.append(f"admin listener http://{cfg.admin.listen}/; actions {actions}")
    lines.append(
        "timeouts: "
        + ", ".join(
            f"{name} {format_duration(value)}"
            for name, value in (
                ("request_head", t.request_head),
                ("keepalive", t.keepalive),
                ("backend_connect", t.backend_connect),
                ("backend_response", t.backend_response),
                ("client_idle", t.client_idle),
                ("drain", t.drain),
                ("drain_grace", t.drain_grace),
            )
        )
    )
    lines.append(_body_limits(cfg))
    for vip in cfg.vips:
        lines.append("")
        listen = ", ".join(str(address) for address in vip.listen)
        lines.append(f'vip "{vip.name}" listen {listen}')
        if vip.accept_proxy:
            trusted = ", ".join(str(network) for network in vip.proxy_trusted)
            lines.append(f"  PROXY header first, from {trusted} only")
        if vip.limits is not None:
            lines.append(f"  per client address: {_source_limits(vip.limits)}")
        for number, route in enumerate(vip.routes, 1):
            lines.append(f"  {number}. {_route(route)}")
        if not vip.routes or vip.routes[-1].match != Match():
            lines.append("  otherwise: 404 from l7lb")
    for pool in cfg.pools.values():
        lines.append("")
        lines.extend(_pool(pool))
    if isinstance(cfg.ipvs, IpvsSettings):
        lines.append("")
        lines.extend(describe_ipvs(cfg.ipvs))
    return "\n".join(lines) + "\n"


def _body_limits(cfg: Config) -> str:
    t = cfg.timeouts
    window = format_duration(t.body_rate_window)
    rate = f"at least {t.body_min_rate} bytes/s over every {window} window"
    if not t.body_min_rate:
        rate = "no minimum rate"
    total = "no total deadline"
    if t.body_deadline:
        total = f"whole within {format_duration(t.body_deadline)}"
    return f"request bodies: {rate}; {total}"


def _source_limits(limits: VipLimits) -> str:
    parts = []
    if limits.max_conn_per_source:
        parts.append(f"{limits.max_conn_per_source} connections")
    if limits.rate_per_source:
        parts.append(
            f"{limits.rate_per_source:g} requests/s over {format_duration(limits.rate_window)}"
        )
    return ", ".join(parts) + f" (addresses under /{limits.mask}, IPv6 /{limits.mask6})"


def _route(route: Route) -> str:
    label = "" if route.name.startswith("route ") else f"[{route.name}] "
    return f"{label}{_match(route.match)} -> {_action(route)}"


def _match(match: Match) -> str:
    parts: list[str] = []
    if match.hosts:
        parts.append("host " + "|".join(match.hosts))
    if match.path_prefix is not None:
        parts.append(f"path {match.path_prefix}*")
    if match.path_regex is not None:
        parts.append(f"path ~ {match.path_regex.pattern}")
    if match.methods:
        parts.append("method " + "|".join(match.methods))
    parts.extend(_header(header) for header in match.headers)
    if match.sources:
        parts.append("source " + "|".join(str(network) for network in match.sources))
    return " and ".join(parts) if parts else "any request"


def _header(header: HeaderMatch) -> str:
    name = header.name.decode("ascii")
    if header.regex is not None:
        return f"header {name} ~ {header.regex.pattern}"
    if header.value is not None:
        return f'header {name} = "{header.value}"'
    return f"header {name} present"


def _action(route: Route) -> str:
    if route.pool is not None:
        return f'pool "{route.pool}"'
    if route.redirect is not None:
        return f"redirect {route.redirect.status} {route.redirect.location}"
    if route.respond is not None:
        return "respond " + _response(route.respond)
    return "(no action)"


def _response(response: StaticResponse) -> str:
    return f"{response.status} ({len(response.body)} bytes {response.content_type})"


def _pool(pool: Pool) -> list[str]:
    scheduler = pool.scheduler.value
    if pool.scheduler is Scheduler.CHASH:
        scheduler += f" on {pool.hash_key}"
    count = len(pool.servers)
    head = f'pool "{pool.name}" {scheduler}, {count} server{"" if count == 1 else "s"}'
    head += f", keep {pool.max_idle} idle for {format_duration(pool.idle_timeout)}"
    if pool.fallback_pool is not None:
        head += f'; fallback pool "{pool.fallback_pool}"'
    elif pool.fallback_response is not None:
        head += "; fallback " + _response(pool.fallback_response)
    lines = [head]
    extra = _persistence(pool)
    if pool.health.check != "none":
        h = pool.health
        check = h.check + (f" {h.method} {h.path} expect {h.expect}" if h.check == "http" else "")
        extra.append(
            f"check {check}{' over TLS' if h.tls else ''} every {format_duration(h.interval)}"
            f" (rise {h.rise}, fall {h.fall})"
        )
    if not pool.redispatch:
        extra.append("no redispatch (503 while the stuck server is down)")
    if pool.queue_timeout:
        extra.append(f"queue up to {format_duration(pool.queue_timeout)} when full")
    if extra:
        lines.append("  " + "; ".join(extra))
    width = max((len(server.name) for server in pool.servers), default=0)
    for server in pool.servers:
        flags: list[str] = []
        if server.weight == 0:
            flags.append("drain")
        if server.backup:
            flags.append("backup")
        if server.max_conn:
            flags.append(f"max_conn {server.max_conn}")
        if server.route:
            flags.append(f"route {server.route}")
        if server.send_proxy:
            flags.append(f"send PROXY {server.send_proxy}")
        text = f"  {server.name:<{width}}  {server.address!s:<22} weight {server.weight:<3}"
        lines.append((text + " " + " ".join(flags)).rstrip())
    return lines


def _persistence(pool: Pool) -> list[str]:
    p = pool.persistence
    mode = p.mode
    if mode is PersistenceMode.NONE:
        return []
    if mode is PersistenceMode.COOKIE:
        flags = [f for f, on in (("indirect", p.indirect), ("nocache", p.nocache)) if on]
        text = f"persistence: insert cookie {p.name}" + "".join(f", {f}" for f in flags)
        for label, value in (("max_idle", p.max_idle), ("max_life", p.max_life)):
            if value:
                text += f", {label} {format_duration(value)}"
        return [text]
    if mode is PersistenceMode.PREFIX:
        return [f"persistence: prefix cookie {p.name}"]
    table = f'table "{p.table}" idle {format_duration(p.timeout)}'
    if mode is PersistenceMode.SOURCE:
        return [f"persistence: source /{p.mask} (IPv6 /{p.mask6}), {table}"]
    where = [f"cookie {p.name}"]
    if p.path_param:
        where.append(f";{p.path_param}=")
    if p.query_param:
        where.append(f"?{p.query_param}=")
    how = "route suffix" + (f" + learned, {table}" if p.learn else "")
    return [f"persistence: jsessionid ({', '.join(where)}) by {how}"]
