"""The admin listener's observability routes: ``GET /metrics`` (Prometheus) and
``GET /api/stats`` (the stats page's data). The page itself is ``GET /`` (``api``).

Both read the same fresh numbers: ``MetricsSource.metrics_view`` asks every worker for a
snapshot first, so a scrape right after a request already counts it.
"""

from __future__ import annotations

import time
from typing import Protocol

from l7lb.admin.commands import ServerRow
from l7lb.admin.http_message import AdminRequest, AdminResponse, json_response
from l7lb.admin.router import Params, Router
from l7lb.admin.stats import stats_document
from l7lb.metrics.aggregate import View
from l7lb.metrics.exposition import CONTENT_TYPE, Director, render


class MetricsSource(Protocol):
    """The supervisor, as these routes see it."""

    async def metrics_view(self) -> tuple[View, Director]: ...

    async def servers(self) -> list[ServerRow]: ...


class MetricsRoutes:
    def __init__(self, source: MetricsSource) -> None:
        self.source = source

    def install(self, router: Router) -> None:
        router.add("GET", "/metrics", self.metrics)
        router.add("GET", "/api/stats", self.stats)

    async def metrics(self, request: AdminRequest, params: Params) -> AdminResponse:
        view, director = await self.source.metrics_view()
        return AdminResponse(200, render(view, director), CONTENT_TYPE)

    async def stats(self, request: AdminRequest, params: Params) -> AdminResponse:
        view, director = await self.source.metrics_view()
        rows = await self.source.servers()
        return json_response(200, stats_document(rows, view, director, time.time()))
