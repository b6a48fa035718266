"""The admin HTTP API: its routes and what each one answers.

========================================  =====================================================
``GET /``                                 the stats page (HTML) for a browser; for other
                                          clients (curl) the list of endpoints (text)
``GET /healthz``                          200 ``ok`` serving; 503 ``starting``, ``draining``
``GET /api/servers``                      ``show servers`` as JSON
``GET /api/limits``                       ``show limits`` as JSON: the busiest client addresses
``POST /api/servers/POOL/SERVER/ACTION``  ACTION: drain (``{"deadline": "10m"}`` optional),
                                          ready, maint, weight (``{"weight": N}``)
``POST /api/reload``                      reload; 200 accepted or 422 rejected, with the errors
``POST /api/stop``                        stop as on SIGTERM; 202 with the supervisor's pid
========================================  =====================================================

``GET /metrics`` and ``GET /api/stats`` (the page's data) are added by
``metrics_routes``. POST routes need the bearer token. Server actions build the same ``Command``
that ``l7lb admin`` sends over the admin socket and go through the same
``execute``, so their effect is the same.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from l7lb.admin.commands import (
    STATE_VERBS,
    AdminError,
    Command,
    UnknownServer,
    check_deadline,
    check_weight,
)
from l7lb.admin.handler import AdminHandler, execute
from l7lb.admin.http_message import (
    AdminRequest,
    AdminResponse,
    json_response,
    text_response,
)
from l7lb.admin.router import Params, Router

ACTIONS = (*STATE_VERBS, "weight")
# read once: the page is static; it polls /api/stats
STATS_PAGE = (Path(__file__).parent / "stats_page.html").read_bytes()
INDEX = """\
l7lb admin (a browser gets the stats page here)
  GET  /healthz                          200 ok while serving, 503 starting or draining
  GET  /metrics                          Prometheus metrics of the whole director
  GET  /api/stats                        what the stats page shows (JSON)
  GET  /api/servers                      pools and servers (JSON), as l7lb admin show servers
  GET  /api/limits                       the busiest client addresses (JSON), as show limits
  POST /api/servers/POOL/SERVER/ACTION   ACTION: drain [{"deadline": "10m"}], ready, maint,
                                         weight {"weight": N}
  POST /api/reload                       reload the configuration file: the verdict (JSON)
  POST /api/stop                         stop as on SIGTERM
POST needs Authorization: Bearer TOKEN (the [admin] token_file's).
"""


class AdminApi:
    def __init__(self, handler: AdminHandler, token: Callable[[], bytes]) -> None:
        self.handler = handler
        self.router = Router(token)
        add = self.router.add
        add("GET", "/", self.index)
        add("GET", "/healthz", self.healthz)
        add("GET", "/api/servers", self.servers)
        add("GET", "/api/limits", self.limits)
        add("POST", "/api/servers/{pool}/{server}/{action}", self.server_action, action=True)
        add("POST", "/api/reload", self.reload, action=True)
        add("POST", "/api/stop", self.stop, action=True)

    async def respond(self, request: AdminRequest) -> AdminResponse:
        return await self.router.respond(request)

    async def index(self, request: AdminRequest, params: Params) -> AdminResponse:
        accept = request.header(b"accept") or b""
        if b"text/html" in accept:  # a browser
            return AdminResponse(200, STATS_PAGE, "text/html; charset=utf-8")
        return text_response(200, INDEX)

    async def healthz(self, request: AdminRequest, params: Params) -> AdminResponse:
        # the L4 checker (keepalived HTTP_GET) reads the status; the text is for people
        state = self.handler.health_state()
        return text_response(200 if state == "ok" else 503, state + "\n")

    async def servers(self, request: AdminRequest, params: Params) -> AdminResponse:
        rows = [asdict(row) for row in await self.handler.servers()]
        return json_response(200, {"servers": rows})

    async def limits(self, request: AdminRequest, params: Params) -> AdminResponse:
        rows = [asdict(row) for row in await self.handler.limits()]
        return json_response(200, {"limits": rows})

    async def server_action(self, request: AdminRequest, params: Params) -> AdminResponse:
        pool, server, action = params["pool"], params["server"], params["action"]
        try:
            if action == "weight":
                cmd = Command("set-weight", pool, server, check_weight(_weight_of(request.body)))
            elif action == "drain" and request.body.strip():
                cmd = Command("drain", pool, server, deadline=_deadline_of(request.body))
            elif action in STATE_VERBS:
                cmd = Command(action, pool, server)
            else:
                return _failure(404, f"no action {action!r} (actions: {', '.join(ACTIONS)})")
            message = await execute(self.handler, cmd)
        except UnknownServer as exc:
            return _failure(404, str(exc))
        except AdminError as exc:
            return _failure(400, str(exc))
        return json_response(200, {"ok": True, "message": message.rstrip("\n")})

    async def reload(self, request: AdminRequest, params: Params) -> AdminResponse:
        # a client that goes away must not cut a reload in half
        verdict = await asyncio.shield(self.handler.reload_config())
        return json_response(200 if verdict.accepted else 422, verdict.to_json())

    async def stop(self, request: AdminRequest, params: Params) -> AdminResponse:
        return json_response(202, {"stopping": True, "pid": self.handler.request_stop()})


def _failure(status: int, message: str) -> AdminResponse:
    return json_response(status, {"ok": False, "error": message})


def _deadline_of(body: bytes) -> float:
    """``{"deadline": "10m"}`` (or seconds) -> seconds; AdminError saying what to send."""
    usage = 'send no body, or a JSON body {"deadline": "10m"} (a duration, at most 7 days)'
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise AdminError(usage) from None
    if not isinstance(data, dict) or set(data) - {"deadline"}:
        raise AdminError(usage)
    if data.get("deadline") in (None, ""):
        return 0.0
    return check_deadline(data["deadline"])


def _weight_of(body: bytes) -> object:
    """``{"weight": N}`` → N; AdminError saying what to send otherwise."""
    usage = 'send a JSON body {"weight": N}, N from 0 to 256'
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise AdminError(usage) from None
    if not isinstance(data, dict) or "weight" not in data:
        raise AdminError(usage)
    return data["weight"]
