"""What a request carries for its pool's persistence mode, read and checked.

``Stickiness.lookup`` (what the worker calls) answers one thing: stuck to a
server, or not. It does not say why not: a forged cookie, an expired one and
no cookie at all all schedule normally, by design. An operator asking "why did
this client move?" needs the difference, so this module reads the same inputs
with the same parsers (``CookieCodec``, ``unprefix_request``,
``SessionIdFinder``, ``source_key``) and names the case. The decision itself
always comes from ``Stickiness`` (``l7lb.explain.decision``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
from dataclasses import dataclass, field

from l7lb.config.model import PersistenceMode, Pool
from l7lb.persistence.cookie import SERVER_ID_BYTES, VALUE_LEN, CookieCodec
from l7lb.persistence.jsessionid import SessionIdFinder, route_of
from l7lb.persistence.policy import MAX_SESSION_ID
from l7lb.persistence.prefix import unprefix_request
from l7lb.persistence.setcookie import Headers, get_cookie
from l7lb.persistence.table import source_key

_B64URL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")


def _when(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _age(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 0:
        return f"in {_age(-seconds)}"
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One pool's persistence input in one request.

    ``status`` by mode:
    cookie: absent | valid | expired | forged | malformed;
    prefix: absent | unprefixed | valid | unknown-id;
    jsessionid: absent | too-long | route | no-route | unknown-route (the last two: looked
    up in the learned table when ``learn`` is on);
    source: key.
    """

    mode: str
    name: str  # cookie name, or "" (source)
    status: str
    server: str | None  # the server the input names, when it names one
    value: str = ""  # the cookie value, session id, prefix id or source key
    found_in: str = ""  # jsessionid: "cookie" | "path" | "query"
    why: str = ""  # one sentence for the operator
    facts: dict[str, str] = field(default_factory=dict)  # dates, limits, ids


def read_evidence(pool: Pool, target: bytes, headers: Headers, peer: str, now: float) -> Evidence:
    p = pool.persistence
    mode = p.mode
    if mode is PersistenceMode.COOKIE:
        return _cookie(pool, headers, int(now))
    if mode is PersistenceMode.PREFIX:
        return _prefix(pool, headers)
    if mode is PersistenceMode.JSESSIONID:
        return _session(pool, target, headers)
    if mode is PersistenceMode.SOURCE:
        return _source(pool, peer)
    return Evidence("none", "", "none", None, why="the pool has no persistence")


def _codec(pool: Pool) -> CookieCodec:
    # as Stickiness builds it: the pool's secret, the pool's server names
    return CookieCodec(pool.persistence.secret, {pool.name: [s.name for s in pool.servers]})


def _claimed(codec: CookieCodec, pool: str, value: str) -> str | None:
    """The server the id inside a cookie value stands for, signature aside
    (layout in ``l7lb.persistence.cookie``: version, then the server id)."""
    try:
        raw = base64.urlsafe_b64decode(value)
    except (binascii.Error, ValueError):
        return None
    sid = base64.urlsafe_b64encode(raw[1 : 1 + SERVER_ID_BYTES]).decode("ascii")
    return codec.server_for_id(pool, sid)


def _cookie(pool: Pool, headers: Headers, now: int) -> Evidence:
    p = pool.persistence
    name = p.name
    raw = get_cookie(headers, name.encode("ascii"))
    limits = {
        "max_idle": _age(p.max_idle) if p.max_idle else "none",
        "max_life": _age(p.max_life) if p.max_life else "none",
    }
    if not raw:
        return Evidence(
            "cookie",
            name,
            "absent",
            None,
            why=f"no {name} cookie: the request is scheduled and the response sets one",
            facts=limits,
        )
    value = _text(raw)
    if len(raw) != VALUE_LEN or not _B64URL.issuperset(raw):
        return Evidence(
            "cookie",
            name,
            "malformed",
            None,
            value,
            why=f"{name} is not a value l7lb makes ({VALUE_LEN} base64url characters): "
            "scheduled as if absent, and replaced",
            facts=limits,
        )
    codec = _codec(pool)
    info = codec.read(value, pool.name, now, None, None)
    if info is None:
        claimed = _claimed(codec, pool.name, value)
        if claimed is not None:
            why = (
                f"the value names server {claimed} but its signature does not verify: "
                "altered, or signed with another secret; scheduled as if absent"
            )
        else:
            why = (
                f"the value is signed for no server of pool {pool.name} with this secret "
                "(forged, another pool, another secret, or a server since removed): "
                "scheduled as if absent"
            )
        return Evidence("cookie", name, "forged", claimed, value, why=why, facts=limits)
    facts = dict(limits)
    facts["issued"] = f"{_when(info.issued)} ({_age(now - info.issued)} ago)"
    facts["last_seen"] = f"{_when(info.last_seen)} ({_age(now - info.last_seen)} ago)"
    # the limits codec.read applies when Stickiness passes them
    expired = []
    if p.max_idle and now - info.last_seen > int(p.max_idle):
        expired.append(f"idle {_age(now - info.last_seen)} > max_idle {_age(p.max_idle)}")
    if p.max_life and now - info.issued > int(p.max_life):
        expired.append(f"age {_age(now - info.issued)} > max_life {_age(p.max_life)}")
    if expired:
        return Evidence(
            "cookie",
            name,
            "expired",
            info.server,
            value,
            why=f"signed for server {info.server} but expired ({'; '.join(expired)}): "
            "scheduled as if absent",
            facts=facts,
        )
    return Evidence(
        "cookie",
        name,
        "valid",
        info.server,
        value,
        why=f"signed by this pool's secret for server {info.server}",
        facts=facts,
    )


def _prefix(pool: Pool, headers: Headers) -> Evidence:
    p = pool.persistence
    codec = _codec(pool)
    ids = {s.name: codec.server_id(pool.name, s.name) for s in pool.servers}
    facts = {f"id of {name}": sid for name, sid in ids.items()}
    server_id, _ = unprefix_request(headers, p.name.encode("ascii"))
    if server_id is None:
        present = get_cookie(headers, p.name.encode("ascii"))
        if present:
            return Evidence(
                "prefix",
                p.name,
                "unprefixed",
                None,
                _text(present),
                why=f"{p.name} carries no server id prefix (ID~value): scheduled; the "
                "backend's next Set-Cookie for it gets the prefix",
                facts=facts,
            )
        return Evidence(
            "prefix",
            p.name,
            "absent",
            None,
            why=f"no {p.name} cookie: scheduled; the backend's Set-Cookie for it gets "
            "the server's id as a prefix",
            facts=facts,
        )
    server = codec.server_for_id(pool.name, server_id)
    if server is None:
        return Evidence(
            "prefix",
            p.name,
            "unknown-id",
            None,
            server_id,
            why=f"prefix {server_id} is the id of no server of pool {pool.name} (another "
            "pool or another secret): scheduled",
            facts=facts,
        )
    return Evidence(
        "prefix",
        p.name,
        "valid",
        server,
        server_id,
        why=f"prefix {server_id} is the id of server {server} (ids identify, they are not signed)",
        facts=facts,
    )


def _session(pool: Pool, target: bytes, headers: Headers) -> Evidence:
    p = pool.persistence
    name = p.name.encode("ascii")
    path_param = p.path_param.encode("ascii") or None
    query_param = p.query_param.encode("ascii") or None
    # the pool's finder, one source at a time, to say where the id was found
    # (the pool's order: cookie, path parameter, query parameter)
    places = (
        ("cookie", SessionIdFinder(cookie=name, path_param=None, query_param=None)),
        ("path", SessionIdFinder(cookie=None, path_param=path_param, query_param=None)),
        ("query", SessionIdFinder(cookie=None, path_param=None, query_param=query_param)),
    )
    facts = {
        "looks in": ", ".join(
            w
            for w, on in (
                (f"cookie {p.name}", True),
                (f";{p.path_param}= in the path", bool(path_param)),
                (f"?{p.query_param}= in the query", bool(query_param)),
            )
            if on
        ),
        "learn": "on" if p.learn else "off",
        "routes": ", ".join(f"{s.route}={s.name}" for s in pool.servers if s.route) or "none",
    }
    sid: bytes | None = None
    where = ""
    for place, finder in places:
        sid = finder.in_request(target, headers)
        if sid:
            where = place
            break
    if not sid:
        learn = "; the id the backend sets will be learned" if p.learn else " (learning is off)"
        return Evidence(
            "jsessionid",
            p.name,
            "absent",
            None,
            why=f"no session id: scheduled{learn}",
            facts=facts,
        )
    value = _text(sid)
    if len(sid) > MAX_SESSION_ID:
        why = f"the id is longer than {MAX_SESSION_ID} bytes: never used nor learned; scheduled"
        return Evidence("jsessionid", p.name, "too-long", None, value, where, why, facts)
    route = route_of(sid)
    if route is not None:
        owner = next((s.name for s in pool.servers if s.route.encode() == route), None)
        if owner is not None:
            return Evidence(
                "jsessionid",
                p.name,
                "route",
                owner,
                value,
                where,
                why=f"route suffix .{_text(route)} belongs to server {owner}",
                facts=facts,
            )
        status, why = "unknown-route", f"route suffix .{_text(route)} is no server's route"
    else:
        status, why = "no-route", "the id has no .route suffix"
    if p.learn:
        why += (
            f"; looked up in the learned table {p.table or pool.name} (explain starts with an "
            "empty one: what the running workers learned is not readable)"
        )
    else:
        why += "; learning is off: scheduled"
    return Evidence("jsessionid", p.name, status, None, value, where, why=why, facts=facts)


def _source(pool: Pool, peer: str) -> Evidence:
    p = pool.persistence
    facts = {
        "mask": f"/{p.mask} (IPv4), /{p.mask6} (IPv6)",
        "table": p.table or pool.name,
        "timeout": _age(p.timeout),
    }
    try:
        key = source_key(peer, p.mask, p.mask6)
    except ValueError:
        return Evidence("source", "", "no-address", None, peer, why="the client has no IP address")
    bits = p.mask if len(key) == 4 else p.mask6
    network = f"{ipaddress.ip_address(key)}/{bits}"
    return Evidence(
        "source",
        "",
        "key",
        None,
        network,
        why=f"key {network} in table {facts['table']} (explain starts with an empty table: "
        "what the running workers learned is not readable)",
        facts=facts,
    )
