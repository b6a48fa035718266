"""The stats page's data (``GET /api/stats``), sans-IO: one JSON document from the rows of
``show servers``, the summed metrics and the supervisor's own knowledge.

The page (``stats_page.html``) polls it and works out rates (requests and handshakes per
second) from two documents in a row, by their ``time``; counters here only grow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from l7lb.admin.commands import ServerRow
from l7lb.metrics.aggregate import View
from l7lb.metrics.counters import CLASSES
from l7lb.metrics.exposition import RESUMED_BY_ID, RESUMED_BY_TICKET, Director


def _n(obj: object, *path: str) -> float:
    for key in path:
        if not isinstance(obj, dict):
            return 0
        obj = obj.get(key)
    return obj if isinstance(obj, int | float) and not isinstance(obj, bool) else 0


def _d(obj: object, *path: str) -> dict[str, Any]:
    for key in path:
        if not isinstance(obj, dict):
            return {}
        obj = obj.get(key)
    return obj if isinstance(obj, dict) else {}


def _responses(traffic: dict[str, Any]) -> dict[str, float]:
    counts = traffic.get("responses")
    if not isinstance(counts, list) or len(counts) != len(CLASSES):
        counts = [0] * len(CLASSES)
    return {
        cls: n if isinstance(n, int | float) else 0 for cls, n in zip(CLASSES, counts, strict=True)
    }


def _tls(counters: dict[str, Any]) -> dict[str, Any]:
    full = _n(counters, "full")
    resumed = _d(counters, "resumed")
    by_id = sum(_n(resumed, k) for k in RESUMED_BY_ID)
    by_ticket = sum(_n(resumed, k) for k in RESUMED_BY_TICKET)
    total = full + by_id + by_ticket
    return {
        "handshakes": total,
        "full": full,
        "resumed_id": by_id,
        "resumed_ticket": by_ticket,
        "failed": sum(_n({"n": n}, "n") for n in _d(counters, "failures").values()),
        "resumption_ratio": (by_id + by_ticket) / total if total else None,
    }


def stats_document(
    rows: Sequence[ServerRow], view: View, director: Director, now: float
) -> dict[str, Any]:
    """What the stats page shows; ``now`` is wall-clock seconds."""
    c, g = view.counters, view.gauges
    vips = []
    for name in director.vips:
        traffic = _d(c, "vips", name)
        responses = _responses(traffic)
        tls = _d(c, "tls")
        vips.append(
            {
                "name": name,
                "requests": sum(responses.values()),
                "responses": responses,
                "bytes_in": _n(traffic, "bytes_in"),
                "bytes_out": _n(traffic, "bytes_out"),
                "connections": _n(g, "connections", name),
                "tls": _tls(tls[name]) if isinstance(tls.get(name), dict) else None,
            }
        )
    by_key = {(r.pool, r.server): r for r in rows}
    pools = []
    for pool, servers in director.pools.items():
        out = []
        for server, info in servers.items():
            row = by_key.get((pool, server))
            traffic = _d(c, "servers", pool, server)
            responses = _responses(traffic)
            out.append(
                {
                    "name": server,
                    "address": row.address if row is not None else "",
                    "state": row.state if row is not None else "unknown",
                    "backup": row.backup if row is not None else False,
                    "weight": row.weight if row is not None else info.weight,
                    "active": row.active if row is not None else 0,
                    "requests": sum(responses.values()),
                    "responses_5xx": responses["5xx"],
                    "sticky": row.sticky if row is not None else 0,
                    "entries": row.entries if row is not None else 0,
                    "left": row.left if row is not None else -1.0,
                    "health": None
                    if info.up is None
                    else {
                        "up": info.up,
                        "last_check": info.last_check or None,
                        "reason": info.check_reason,
                        "checks": info.checks,
                        "failures": info.check_failures,
                    },
                }
            )
        pools.append(
            {
                "name": pool,
                "queue": _n(g, "queue", pool),
                "idle_connections": _n(g, "idle", pool),
                "servers": out,
            }
        )
    store: dict[str, Any] = {"configured": director.store_up is not None}
    if director.store_up is not None:
        s = director.store or {}
        store.update(
            name=director.store_name,
            up=director.store_up,
            operations=_n(s, "operations"),
            failures=_n(s, "failures"),
            outages=_n(s, "outages"),
        )
    return {
        "time": now,
        "workers": view.workers,
        "reloads": director.reloads,
        "vips": vips,
        "pools": pools,
        "store": store,
    }
