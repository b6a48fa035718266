"""Responses l7lb gives itself: errors, redirects, static and sorry pages.

An answer is a value (status, content type, fields, body), rendered by the client side that
carries it: HTTP/1.1 bytes here, HTTP/2 frames elsewhere. Every one has a short body and a
Content-Length; an error answer also ends the connection, so a client never has to guess
whether a connection survives a failure.
"""

from __future__ import annotations

from typing import Final

from l7lb.config.model import Route, StaticResponse
from l7lb.http.status import reason
from l7lb.limits.window import retry_after
from l7lb.routing.redirect import render_redirect

Headers = list[tuple[bytes, bytes]]

_TEXT: Final = b"text/plain; charset=utf-8"


class Answer:
    __slots__ = ("body", "closes", "content_type", "headers", "status")

    def __init__(
        self, status: int, content_type: bytes, headers: Headers, body: bytes, closes: bool
    ) -> None:
        self.status = status
        self.content_type = content_type
        self.headers = headers  # more fields (Location...): never framing or Connection
        self.body = body
        self.closes = closes  # the connection ends after it

    def has_body(self) -> bool:
        """204 and 304 carry none (RFC 9110 6.4.1); the others carry one, if empty."""
        return self.status != 204 and self.status != 304

    def fields(self) -> Headers:
        """Every field but Connection: for a client side that renders its own framing."""
        out: Headers = []
        if self.body or self.has_body():
            out.append((b"content-type", self.content_type))
            out.append((b"content-length", b"%d" % len(self.body)))
        out += self.headers
        return out

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.headers!r}, {self.body!r}, closes={self.closes})"


def error(status: int, detail: str = "") -> Answer:
    """An error page: the status line repeated in the body, plus one detail line."""
    text = b"%d %s\n" % (status, reason(status))
    if detail:
        text += detail.encode("utf-8", "replace") + b"\n"
    return Answer(status, _TEXT, [], text, True)


def too_many(wait: float, detail: str = "too many requests from this address") -> Answer:
    """429 (RFC 6585 section 4) with Retry-After (RFC 9110 section 10.2.3): ``wait`` seconds,
    rounded up. The connection stays open: a client that slows down may go on using it."""
    text = b"429 %s\n%s\n" % (reason(429), detail.encode("utf-8", "replace"))
    return Answer(429, _TEXT, [(b"retry-after", b"%d" % retry_after(wait))], text, False)


def static(resp: StaticResponse) -> Answer:
    extra = [(k.lower().encode(), v.encode()) for k, v in resp.headers]
    return Answer(resp.status, resp.content_type.encode(), extra, resp.body, False)


def redirect(status: int, location: bytes) -> Answer:
    body = b"Redirecting to " + location + b"\n"
    return Answer(status, _TEXT, [(b"location", location)], body, False)


def for_route(route: Route | None, host: bytes, path: bytes, query: bytes) -> Answer:
    """What l7lb answers for a request no pool takes: no route matched (404), or the route
    redirects or gives a static response."""
    if route is None:
        return error(404, "no route matches this request")
    if route.redirect is not None:
        rd = route.redirect
        return redirect(rd.status, render_redirect(rd.location, host, path, query))
    if route.respond is not None:
        return static(route.respond)
    return error(500, "route has no action")  # pragma: no cover - the loader gives one


def render(answer: Answer, *, keep_alive: bool, head_only: bool) -> bytes:
    """The complete HTTP/1.1 response; ``keep_alive`` says which Connection it carries."""
    status = answer.status
    parts = [b"HTTP/1.1 %d %s\r\n" % (status, reason(status))]
    for name, value in answer.fields():
        parts.append(b"%s: %s\r\n" % (name, value))
    parts.append(b"connection: keep-alive\r\n\r\n" if keep_alive else b"connection: close\r\n\r\n")
    if not head_only and answer.has_body():
        parts.append(answer.body)
    return b"".join(parts)
