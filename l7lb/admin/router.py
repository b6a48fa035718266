"""The admin HTTP listener's request router, sans-IO.

Routes are a method and a path pattern whose ``{name}`` segments capture one
percent-decoded path segment each::

    router.add("GET", "/healthz", healthz)
    router.add("POST", "/api/servers/{pool}/{server}/{action}", act, action=True)

``resolve`` answers 404 (no such path), 405 with ``Allow`` (the path exists,
not with this method), 400 (a target that is not a path), and for an
``action`` route 401 without a bearer token, 403 with a wrong one or when no
token is configured. HEAD is served by the GET route (the listener sends
the head only). Later endpoints (``/metrics``, the stats page) are one
``add`` each.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from l7lb.admin.bearer import Verdict, check_bearer
from l7lb.admin.http_message import AdminRequest, AdminResponse, error_response

Params = dict[str, str]
Handler = Callable[[AdminRequest, Params], Awaitable[AdminResponse]]

REALM = 'Bearer realm="l7lb admin"'


class BadTarget(ValueError):
    """The request-target is not a path l7lb can route (answered 400)."""


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    segments: tuple[str, ...]  # "{name}" captures a segment
    handler: Handler
    action: bool = False  # needs the bearer token

    def match(self, parts: list[str]) -> Params | None:
        if len(parts) != len(self.segments):
            return None
        params: Params = {}
        for want, got in zip(self.segments, parts, strict=True):
            if want.startswith("{") and want.endswith("}"):
                if not got:
                    return None
                params[want[1:-1]] = got
            elif want != got:
                return None
        return params


def split_target(target: str) -> tuple[list[str], str]:
    """The decoded path segments and the raw query of a request-target.

    Origin form (``/a/b?q``) and absolute form (``http://host/a/b``, which a
    server must accept, RFC 9112 section 3.2.2) are paths; anything else
    raises BadTarget. Each segment is percent-decoded as UTF-8, so a server
    named ``web 1`` is ``/api/servers/pool/web%201/drain``.
    """
    path, _, query = target.partition("?")
    if not path.startswith("/"):
        scheme, sep, rest = path.partition("://")
        if not sep or scheme.lower() not in ("http", "https"):
            raise BadTarget("the request-target is not a path")
        slash = rest.find("/")
        path = rest[slash:] if slash >= 0 else "/"
    parts = []
    for raw in path[1:].split("/"):
        try:
            parts.append(unquote_to_bytes(raw).decode("utf-8"))
        except UnicodeDecodeError:
            raise BadTarget("a path segment is not UTF-8 once decoded") from None
    return parts, query


def _segments(pattern: str) -> tuple[str, ...]:
    if not pattern.startswith("/"):
        raise ValueError(f"route pattern {pattern!r} must start with /")
    return tuple(pattern[1:].split("/"))


class Router:
    def __init__(self, token: Callable[[], bytes]) -> None:
        """``token`` gives the current bearer token (b"" = actions off); read on
        each request so a reload that changes ``token_file`` takes effect."""
        self._token = token
        self._routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Handler, *, action: bool = False) -> None:
        self._routes.append(Route(method, _segments(pattern), handler, action))

    def resolve(self, request: AdminRequest) -> tuple[Route, Params] | AdminResponse:
        """The route and its parameters, or the response that refuses the request."""
        try:
            parts, _query = split_target(request.target)
        except BadTarget as exc:
            return error_response(400, str(exc))
        method = "GET" if request.method == "HEAD" else request.method
        allowed: set[str] = set()
        for route in self._routes:
            params = route.match(parts)
            if params is None:
                continue
            if route.method != method:
                allowed.add(route.method)
                continue
            if route.action:
                refusal = self._authorize(request)
                if refusal is not None:
                    return refusal
            return route, params
        if allowed:
            if "GET" in allowed:
                allowed.add("HEAD")
            allow = ", ".join(sorted(allowed))
            return AdminResponse(
                405,
                f"405 Method Not Allowed: use {allow}\n".encode(),
                headers=(("Allow", allow),),
            )
        return error_response(404, "no such page (try GET /)")

    def _authorize(self, request: AdminRequest) -> AdminResponse | None:
        verdict = check_bearer(request.header(b"authorization"), self._token())
        if verdict is Verdict.ALLOWED:
            return None
        if verdict is Verdict.MISSING:
            response = error_response(401, "send Authorization: Bearer TOKEN (the token_file's)")
            return AdminResponse(401, response.body, headers=(("WWW-Authenticate", REALM),))
        if verdict is Verdict.WRONG:
            return error_response(403, "wrong token")
        return error_response(403, "actions are off: set [admin] token_file")

    async def respond(self, request: AdminRequest) -> AdminResponse:
        """Resolve and run the handler. A handler's exception propagates: the
        listener logs it and answers 500."""
        found = self.resolve(request)
        if isinstance(found, AdminResponse):
            return found
        route, params = found
        return await route.handler(request, params)
