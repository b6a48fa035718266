"""One request through one configuration, step by step, as a JSON-ready dict.

The steps are a worker's, in its order: the VIP and its TLS certificate, the
``CONNECT`` refusal, the routes, the route's action, the pool's persistence
and scheduler, the head sent to the realserver. ``l7lb.explain.report``
renders the result as text; ``--json`` prints it as it is (the keys are
documented in docs/explain.md).
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict
from typing import Any

from l7lb.config.model import Config, PersistenceMode, Route
from l7lb.explain.backend_head import backend_head, backend_target
from l7lb.explain.certificate import choose_certificate
from l7lb.explain.decision import PoolStates, decide
from l7lb.explain.evidence import read_evidence
from l7lb.explain.request import ExplainRequest
from l7lb.explain.vip import VipChoice
from l7lb.persistence.shared import StickUpdate
from l7lb.routing.redirect import render_redirect
from l7lb.routing.router import Router, split_target
from l7lb.routing.target import normalize_host
from l7lb.tls.settings import TlsSettings

Json = dict[str, Any]


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")


def _pairs(headers: list[tuple[bytes, bytes]]) -> list[list[str]]:
    return [[_text(n), _text(v)] for n, v in headers]


def _action(route: Route, host: bytes, path: bytes, query: bytes) -> Json:
    if route.pool is not None:
        return {"pool": route.pool}
    if route.redirect is not None:
        location = render_redirect(route.redirect.location, host, path, query)
        return {"redirect": _text(location), "status": route.redirect.status}
    if route.respond is not None:
        return {"respond": route.respond.status}
    return {}


def _answer(by: str, status: int | None, summary: str) -> Json:
    return {"by": by, "status": status, "summary": summary}


def refused_request(raw: bytes, source: str, status: int, reason: str) -> Json:
    """The explanation of a request the codec refuses: l7lb answers it itself."""
    return {
        "request": {"raw": _text(raw), "source": source},
        "answer": _answer("l7lb", status, f"{status}: {reason} (the request is refused unread)"),
        "notes": [],
    }


def explain(
    config: Config,
    req: ExplainRequest,
    choice: VipChoice,
    states: PoolStates,
    *,
    now: float,
    loop_now: float,
) -> Json:
    head = req.head
    vip = choice.vip
    out: Json = {
        "request": {
            "method": _text(head.method),
            "target": _text(head.target),
            "version": _text(head.version),
            "headers": _pairs(head.headers),
            "source": req.source,
            "source_given": req.source_given,
            "destination": str(req.destination) if req.destination is not None else None,
        },
        "vip": {
            "name": vip.name,
            "listen": [str(a) for a in vip.listen],
            "tls": vip.tls is not None,
            "why": choice.why,
        },
        "tls": None,
        "routes": [],
        "route": None,
        "pool": None,
        "persistence": None,
        "decision": None,
        "response_headers": [],
        "backend": None,
        "answer": None,
        "live": None,
        "notes": list(req.notes),
    }
    if not req.source_given:
        out["notes"].append(f"client address {req.source} is made up: give --from IP")
    dest = req.destination
    scheme = dest.scheme if dest is not None else ("https" if vip.tls is not None else "http")
    if vip.tls is None and scheme == "https":
        out["answer"] = _answer(
            "l7lb",
            400,
            f"vip {vip.name} speaks plain HTTP: the client's TLS ClientHello is read as a "
            "malformed request, answered 400, and the handshake fails",
        )
        return out
    host = head.host
    if isinstance(vip.tls, TlsSettings):
        if scheme == "http":
            out["answer"] = _answer(
                "l7lb",
                400,
                f"vip {vip.name} terminates TLS: plain HTTP there gets a readable 400 "
                "asking for https://",
            )
            return out
        if dest is not None:
            sni, url_host = dest.sni, dest.host
        else:
            # a raw request without a URL: a client sends the name it asks for
            name = _text(normalize_host(host))
            sni = None if not name or _is_ip(name.strip("[]")) else name
            url_host = name.strip("[]")
            if sni is not None:
                out["notes"].append(f"SNI taken from the Host header: {sni}")
        cert = choose_certificate(vip.tls, sni, url_host)
        out["tls"] = {
            "sni": cert.sni,
            "outcome": cert.outcome,
            "certificates": [asdict(c) for c in cert.certificates],
            "name_ok": cert.name_ok,
            "problems": list(cert.problems),
        }
        if cert.refused:
            out["answer"] = _answer(
                "tls",
                None,
                f"strict_sni: no certificate names {sni}: the handshake ends with the alert "
                "unrecognized_name, before any HTTP",
            )
            return out
    if head.method == b"CONNECT":
        out["answer"] = _answer("l7lb", 405, "405: CONNECT is not supported by a reverse proxy")
        return out

    path, query = split_target(head.target)
    router = Router(vip.routes)
    verdicts = router.explain(head.method, host, path, head.headers, req.source)
    chosen = router.route(head.method, host, path, head.headers, req.source)
    first = next((v for v in verdicts if v.matched), None)
    if (first.route if first is not None else None) is not chosen:
        # cannot happen: explain() runs route() itself; said loudly if it ever does
        out["notes"].append("internal error: Router.explain disagrees with Router.route")
    out["request"]["host"] = _text(host)
    out["request"]["path"] = _text(path)
    out["request"]["query"] = _text(query)
    for v in verdicts:
        out["routes"].append(
            {
                "index": v.index,
                "name": v.route.name,
                "matched": v.matched,
                "chosen": v.route is chosen,
                "conditions": [asdict(c) for c in v.conditions],
                "action": _action(v.route, host, path, query),
            }
        )
    if chosen is None:
        out["answer"] = _answer("l7lb", 404, "404: no route matches this request")
        return out
    out["route"] = chosen.name
    if chosen.redirect is not None:
        act = _action(chosen, host, path, query)
        out["answer"] = _answer(
            "l7lb", act["status"], f"{act['status']} redirect to {act['redirect']}"
        )
        return out
    if chosen.respond is not None:
        out["answer"] = _answer(
            "l7lb", chosen.respond.status, f"{chosen.respond.status}: the route's static response"
        )
        return out
    assert chosen.pool is not None
    pool = config.pools[chosen.pool]
    out["pool"] = {
        "name": pool.name,
        "scheduler": pool.scheduler.value,
        "hash_key": pool.hash_key if pool.scheduler.value == "chash" else None,
        "redispatch": pool.redispatch,
        "fallback_pool": pool.fallback_pool,
        "persistence": pool.persistence.mode.value,
    }
    target = backend_target(head.target, path, query)
    if pool.persistence.enabled:
        ev = read_evidence(pool, target, head.headers, req.source, now)
        out["persistence"] = asdict(ev)
    secure = scheme == "https"
    d = decide(
        states,
        pool.name,
        target=target,
        path=path,
        query=query,
        host=host,
        headers=head.headers,
        peer=req.source,
        secure=secure,
        now=now,
        loop_now=loop_now,
    )
    if out["persistence"] is not None:
        out["persistence"]["stuck_to"] = (
            d.sticky.server.name if d.sticky.server is not None and d.pool == pool.name else None
        )
        out["persistence"]["lookup"] = d.sticky.source or "not stuck"
    out["decision"] = {
        "pool": d.pool,
        "server": d.server.name if d.server is not None else None,
        "address": str(d.server.server.address) if d.server is not None else None,
        "how": d.how,
        "status": d.status or None,
        "reason": d.reason,
        "steps": d.steps,
        "scheduler_note": d.scheduler_note,
        "servers": [asdict(s) for s in d.servers],
        "records": [_record(u, config) for u in d.updates],
    }
    out["response_headers"] = _pairs(d.response_headers)
    if d.server is None:
        summary = d.reason
        out["answer"] = _answer("l7lb", d.status, summary)
        return out
    raw_head = backend_head(
        head,
        target=target,
        host=host,
        client_ip=req.source,
        scheme=scheme.encode("ascii"),
        http=config.http,
        stickiness=d.stickiness,
        sticky=d.sticky,
        server=d.server.server.address,
    )
    out["backend"] = {
        "pool": d.pool,
        "server": d.server.name,
        "address": str(d.server.server.address),
        "head": _text(raw_head),
    }
    out["answer"] = _answer(
        "backend", None, f"pool {d.pool}, server {d.server.name} ({d.server.server.address})"
    )
    return out


def _record(u: StickUpdate, config: Config) -> Json:
    key = _text(u.key)
    for pool in config.pools.values():
        p = pool.persistence
        if (p.table or pool.name) == u.table and p.mode is PersistenceMode.SOURCE:
            bits = p.mask if len(u.key) == 4 else p.mask6
            key = f"{ipaddress.ip_address(u.key)}/{bits}"
            break
    return {"table": u.table, "key": key, "server": u.server}


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
