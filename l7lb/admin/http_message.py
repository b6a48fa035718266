"""Requests and responses of the admin HTTP listener, sans-IO.

``RequestAssembler`` turns client bytes into whole ``AdminRequest`` objects
with l7lb's own HTTP/1.1 codec (``l7lb.http``), so hostile input meets the
same parser, limits and error statuses as on a VIP. Admin requests are small:
the head is capped tighter than on a VIP and a body larger than ``max_body``
is refused with 413 before it is read. ``AdminResponse.encode`` is the one
place response bytes are written, so tests can compare them byte for byte.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from l7lb.http.events import (
    Data,
    EndOfMessage,
    Limits,
    ProtocolError,
    RequestHead,
    RequestParser,
    Upgrade,
)

# An admin request is a short line and a few headers (a browser sends cookies: room for them).
LIMITS = Limits(max_head_size=8192, max_headers=64, max_uri_length=2048)
MAX_BODY = 16 * 1024  # the largest action body is {"weight": 256}
# What a request may start with: a method's token characters (RFC 9110 section 5.6.2),
# or the empty lines a server should skip (RFC 9112 section 2.2).
_FIRST = frozenset(
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\r\n"
)


@dataclass(frozen=True, slots=True)
class AdminRequest:
    method: str  # as sent: methods are case-sensitive (RFC 9110 section 9.1)
    target: str  # the request-target, decoded as Latin-1 (bytes kept one for one)
    headers: tuple[tuple[bytes, bytes], ...] = ()  # names lower-case, as the codec gives them
    body: bytes = b""
    keep_alive: bool = True

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower-case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class AdminResponse:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = field(default=())

    def encode(self, date: str, *, head_only: bool = False, close: bool = False) -> bytes:
        """The bytes on the wire. ``date`` is the Date value (the caller owns the
        clock); ``head_only`` for HEAD (same head, no body); ``close`` adds
        ``Connection: close``."""
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [
            f"HTTP/1.1 {self.status} {reason}",
            f"Date: {date}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            # live state: never from a cache; never sniffed into something else
            "Cache-Control: no-store",
            "X-Content-Type-Options: nosniff",
        ]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + self.body


def text_response(
    status: int, text: str, headers: tuple[tuple[str, str], ...] = ()
) -> AdminResponse:
    return AdminResponse(status, text.encode("utf-8"), headers=headers)


def json_response(status: int, data: Any) -> AdminResponse:
    body = (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return AdminResponse(status, body, "application/json")


def error_response(status: int, message: str) -> AdminResponse:
    """The answer to a request the listener refuses before any route runs."""
    return text_response(status, f"{status} {HTTPStatus(status).phrase}: {message}\n")


class RequestAssembler:
    """Client bytes in, whole requests out; ``ProtocolError`` carries the status
    to answer (400, 413, 414, 431) before the connection is closed."""

    def __init__(self, parser: RequestParser, max_body: int = MAX_BODY) -> None:
        self._parser = parser
        self._max_body = max_body
        self._head: RequestHead | None = None
        self._body: list[bytes] = []
        self._size = 0
        self.upgraded = False  # the client asked to leave HTTP: answer, then close
        self.continue_due = False  # the head said Expect: 100-continue; the body may wait
        self._started = False

    @property
    def mid_request(self) -> bool:
        """A head arrived and its body has not ended."""
        return self._head is not None

    def feed(self, data: bytes) -> list[AdminRequest]:
        if self.upgraded:
            return []
        if not self._started and data:
            # The codec waits for the end of a head; a TLS ClientHello or other binary
            # never has one. Refuse it on its first byte instead of at the timeout.
            self._started = True
            if data[0] not in _FIRST:
                what = "a TLS handshake: use http://" if data[0] == 0x16 else "not an HTTP request"
                raise ProtocolError(400, what)
        return self._events(self._parser.feed(data))

    def feed_eof(self) -> list[AdminRequest]:
        if self.upgraded:
            return []
        return self._events(self._parser.feed_eof())

    def _events(self, events: list[Any]) -> list[AdminRequest]:
        done: list[AdminRequest] = []
        for ev in events:
            if isinstance(ev, RequestHead):
                if ev.content_length > self._max_body:
                    raise ProtocolError(413, f"body of {ev.content_length} bytes")
                self._head, self._body, self._size = ev, [], 0
                self.continue_due = ev.expect_continue
            elif isinstance(ev, Data):
                self._size += len(ev.data)
                if self._size > self._max_body:
                    raise ProtocolError(413, f"body over {self._max_body} bytes")
                self._body.append(ev.data)
            elif isinstance(ev, EndOfMessage):
                head = self._head
                assert head is not None
                done.append(
                    AdminRequest(
                        method=head.method.decode("latin-1"),
                        target=head.target.decode("latin-1"),
                        headers=tuple(head.headers),
                        body=b"".join(self._body),
                        keep_alive=head.keep_alive and not head.upgrade,
                    )
                )
                self._head, self._body, self._size = None, [], 0
                self.continue_due = False
            elif isinstance(ev, Upgrade):
                self.upgraded = True
        return done
