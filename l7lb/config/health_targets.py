"""The active health checks a configuration asks for, as ``CheckTarget``s
for the supervisor's one ``HealthChecker`` (and its ``update`` on reload)."""

from __future__ import annotations

from l7lb.config.model import Config, HealthSettings, Pool
from l7lb.health.target import CheckTarget, HttpCheck, StatusRanges


def pool_check_targets(pool: Pool) -> list[CheckTarget]:
    """One target per server of ``pool``; none when ``check = "none"``."""
    h: HealthSettings = pool.health
    if h.check == "none":
        return []
    http = None
    if h.check == "http":
        http = HttpCheck(
            method=h.method,
            path=h.path,
            host=h.host or None,
            expect=StatusRanges(h.expect),
            body_contains=h.body.encode("utf-8") or None,
        )
    return [
        CheckTarget(
            pool=pool.name,
            server=server.name,
            address=server.address,
            http=http,
            tls=h.tls,
            port=h.port or None,
            interval=h.interval,
            timeout=h.timeout,
            rise=h.rise,
            fall=h.fall,
            # the check speaks as the traffic does, on the server's own port only: a
            # separate check port is another listener (HAProxy's check-send-proxy rule)
            send_proxy=server.send_proxy if not h.port else "",
        )
        for server in pool.servers
    ]


def check_targets(config: Config) -> list[CheckTarget]:
    """Every active check of ``config``, pool by pool in config order."""
    return [t for pool in config.pools.values() for t in pool_check_targets(pool)]
