"""The request head a realserver receives for a client's request.

The one place ``l7lb explain`` builds it. Today it makes the calls of
``l7lb.proxy.client.ClientConnection._attach``: persistence's request headers
(``Stickiness.request_headers``), the forwarding rules
(``backend_request_headers``), the framing the proxy adds, and
``serialize_request_head``. When the proxy moves to another head builder,
switch this function to it and nothing else in ``l7lb.explain`` changes.
"""

from __future__ import annotations

from l7lb.config.model import Address, HttpSettings
from l7lb.http.events import Framing, RequestHead
from l7lb.http.forwarding import backend_request_headers, serialize_request_head
from l7lb.proxy.stickiness import Stickiness, Sticky


def backend_target(target: bytes, path: bytes, query: bytes) -> bytes:
    """The request-target a realserver gets: absolute-form becomes origin-form
    (RFC 9112 3.2.2), as ``ClientConnection._begin`` does."""
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
    ``backend_target``; ``host`` is ``request_host`` (b"" when the client sent
    none); ``scheme`` b"http" or b"https" (the VIP's)."""
    headers = backend_request_headers(
        head.headers if stickiness is None else stickiness.request_headers(head.headers, sticky),
        client_ip=client_ip,
        scheme=scheme,
        host=host,
        via=http.via.encode(),
        forwarded=http.forwarded,
        upgrade=head.upgrade,
        version=head.version,
        server_host=b"" if host else server.authority,
    )
    if head.framing is Framing.LENGTH:
        headers.append((b"content-length", b"%d" % head.content_length))
    elif head.framing is Framing.CHUNKED:
        headers.append((b"transfer-encoding", b"chunked"))
    return serialize_request_head(head.method, target, headers)
