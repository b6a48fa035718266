"""What the accept path learned about a client connection before HTTP.

A VIP's accept gate (``l7lb.proxyproto.listener`` for plain HTTP, ``l7lb.tls.listener`` for
TLS) hands the client connection's glue an ``Arrival``: the client's address and the address
it reached, when a PROXY header named them, and on TLS VIPs the server name of the
ClientHello. From then on the header's source is the client address everywhere (the access
log, X-Forwarded-For and Forwarded, source persistence, routes on ``source``), and both
addresses go into the PROXY header l7lb sends to a server with ``send_proxy``.
"""

from __future__ import annotations

from dataclasses import dataclass

from l7lb.proxyproto.header import IpPort, ProxyHeader


@dataclass(frozen=True, slots=True)
class Arrival:
    source: IpPort | None = None  # the client, from a PROXY header; None: the socket's peer
    destination: IpPort | None = None  # what it reached, from the header; None: the socket's
    server_name: str | None = None  # TLS SNI (TLS VIPs, when the ClientHello had one)


def arrival_of(header: ProxyHeader | None, server_name: str | None = None) -> Arrival:
    """The arrival a header (or none) makes: its addresses when it relays a TCP connection,
    else the socket's own stand (LOCAL, UNKNOWN, UNSPEC, UDP, Unix sockets)."""
    if header is not None and header.relayed:
        return Arrival(header.source, header.destination, server_name)
    return Arrival(None, None, server_name)
