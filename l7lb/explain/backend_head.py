"""The request head a realserver receives for a client's request.

The one place ``l7lb explain`` builds it, with the engine's own function
(``head_edit.backend_head``, as ``Exchange.attached`` calls it, with persistence's Cookie
values): the received bytes spliced when there are any.
"""

from __future__ import annotations

from l7lb.config.model import Address, HttpSettings
from l7lb.http import head_edit
from l7lb.http.events import RequestHead
from l7lb.persistence.policy import Stickiness, Sticky


def backend_target(target: bytes, path: bytes, query: bytes) -> bytes:
    """The request-target a realserver gets: absolute-form becomes origin-form
    (RFC 9112 3.2.2), as ``Exchange.start`` does."""
    if target[:1] != b"/" and target != b"*":
        return path + b"?" + query if query else path
    return target


def backend_head(
    head: RequestHead,
    *,
    target: bytes,
    host: bytes,
    client_ip: str,
    scheme: bytes,
    http: HttpSettings,
    stickiness: Stickiness | None,
    sticky: Sticky,
    server: Address,
) -> bytes:
    """The head bytes sent to ``server`` for ``head``. ``target`` from
    ``backend_target``; ``host`` is the request's host (b"" when the client sent
    none); ``scheme`` b"http" or b"https" (the VIP's)."""
    cookies = stickiness.request_cookies(head.headers, sticky) if stickiness else None
    if target == head.target:
        target = head.target  # the same object: the client's request line is reused
    return head_edit.backend_head(
        head,
        target,
        client_ip=client_ip,
        scheme=scheme,
        via=http.via.encode(),
        forwarded=http.forwarded,
        server_host=b"" if host else server.authority,
        cookies=cookies,
    )
