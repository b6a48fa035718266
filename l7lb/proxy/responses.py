"""Responses l7lb writes itself: errors, redirects, static and sorry pages.

Every one has a short body, a Content-Length, and a Connection header that
says what happens next, so a client never has to guess whether the
connection survives an error.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

from l7lb.config.model import StaticResponse

_REASONS: Final = {s.value: s.phrase.encode() for s in HTTPStatus}


def reason(status: int) -> bytes:
    return _REASONS.get(status, b"Unknown")


def render(
    status: int,
    body: bytes,
    *,
    keep_alive: bool,
    content_type: bytes = b"text/plain; charset=utf-8",
    headers: tuple[tuple[bytes, bytes], ...] = (),
    head_only: bool = False,
) -> bytes:
    """Serialize a complete HTTP/1.1 response."""
    parts = [b"HTTP/1.1 %d %s\r\n" % (status, reason(status))]
    if body or status not in (204, 304):
        parts.append(b"content-type: %s\r\ncontent-length: %d\r\n" % (content_type, len(body)))
    for name, value in headers:
        parts.append(b"%s: %s\r\n" % (name, value))
    parts.append(b"connection: keep-alive\r\n\r\n" if keep_alive else b"connection: close\r\n\r\n")
    if not head_only and status not in (204, 304):
        parts.append(body)
    return b"".join(parts)


def error(status: int, detail: str = "", *, keep_alive: bool = False) -> bytes:
    """An error page: the status line repeated in the body, plus one detail line."""
    text = b"%d %s\n" % (status, reason(status))
    if detail:
        text += detail.encode("utf-8", "replace") + b"\n"
    return render(status, text, keep_alive=keep_alive)


def static(resp: StaticResponse, *, keep_alive: bool, head_only: bool = False) -> bytes:
    extra = tuple((k.lower().encode(), v.encode()) for k, v in resp.headers)
    return render(
        resp.status,
        resp.body,
        keep_alive=keep_alive,
        content_type=resp.content_type.encode(),
        headers=extra,
        head_only=head_only,
    )


def redirect(status: int, location: bytes, *, keep_alive: bool, head_only: bool = False) -> bytes:
    body = b"Redirecting to " + location + b"\n"
    return render(
        status,
        body,
        keep_alive=keep_alive,
        headers=((b"location", location),),
        head_only=head_only,
    )
