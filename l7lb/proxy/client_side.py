"""The client side an exchange answers through, as the exchange sees it.

An HTTP/1.1 connection (``h1.H1Connection``) is one; an HTTP/2 stream is another. The
exchange hands it the response as a head edit, body bytes and an end, or as a complete
answer of l7lb's own; the client side renders that for its protocol and decides what its
connection does (keep it, close it, reset it). ``ex`` is the exchange calling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mypy_extensions import trait

from l7lb.http.events import ResponseHead
from l7lb.http.head_edit import HeadEdit
from l7lb.proxy.answers import Answer
from l7lb.proxy.flow import Pause
from l7lb.proxy.link import Requester

if TYPE_CHECKING:
    from l7lb.proxy.link import BackendLink


@trait
class Client:
    """The client side an exchange answers through: an HTTP/1.1 connection, or an HTTP/2
    stream. It renders what the exchange hands it and decides what its connection does.
    (A trait: compiled callers reach its methods through a table, not by name.)"""

    def head(self, ex: Requester, resp: ResponseHead, edit: HeadEdit) -> None:
        """The final response head (status 200 or more), with the edit toward the client."""
        raise NotImplementedError

    def info(self, ex: Requester, resp: ResponseHead, edit: HeadEdit) -> None:
        """An informational response (1xx but 101), to relay if the client can take it."""
        raise NotImplementedError

    def upgrade(self, ex: Requester, resp: ResponseHead, edit: HeadEdit, link: BackendLink) -> None:
        """A 101 for an upgrade request: the head, then raw bytes both ways."""
        raise NotImplementedError

    def tunnel(self, ex: Requester, tail: bytes, link: BackendLink) -> None:
        """After the 101: ``tail`` (bytes the backend sent after it) and the tunnel."""
        raise NotImplementedError

    def data(self, ex: Requester, data: bytes) -> None:
        """Response body bytes (decoded)."""
        raise NotImplementedError

    def end(self, ex: Requester, now: float) -> None:
        """The response is complete; the exchange has released everything and logged."""
        raise NotImplementedError

    def answer(self, ex: Requester, answer: Answer) -> int:
        """A complete response from l7lb itself (``end`` follows); returns the bytes it took
        on the wire."""
        raise NotImplementedError

    def abort(self, ex: Requester, now: float) -> None:
        """Give up on the response (it is cut short): the client must see a failure."""
        raise NotImplementedError

    def pause_body(self, ex: Requester, reason: Pause) -> None:
        """Stop reading the request body for ``reason``."""
        raise NotImplementedError

    def resume_body(self, ex: Requester, reason: Pause) -> None:
        raise NotImplementedError
