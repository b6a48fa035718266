"""The PROXY header l7lb writes first on a new connection to a server (``send_proxy``).

For a client's request: the client's address and the address it reached, as the PROXY
header it came with said, else as its socket says. In version 2 on a TLS VIP, also the TLS
facts of the client's connection (``PP2_TYPE_SSL`` with the protocol version and cipher),
the server name it asked for (``PP2_TYPE_AUTHORITY``, its SNI) and the ALPN protocol.

For a health check: version 1 names the check connection's own endpoints (2.1: a proxy's
health check "SHOULD build a valid PROXY line" from getsockname/getpeername), version 2 says
LOCAL (2.2: "such connections exist when the proxy sends health-checks").

The header is built once per new server connection, never per request: an idle connection
that is reused already carried it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from l7lb.proxyproto.arrival import Arrival
from l7lb.proxyproto.header import (
    PP2_TYPE_ALPN,
    PP2_TYPE_AUTHORITY,
    Command,
    Family,
    IpPort,
    ProxyHeader,
    Tlv,
    Transport,
)
from l7lb.proxyproto.tlv import ssl_tlv
from l7lb.proxyproto.v1 import encode_v1
from l7lb.proxyproto.v2 import encode_v2

VERSIONS: Final = ("v1", "v2")


@dataclass(frozen=True, slots=True)
class TlsFacts:
    """The client connection's TLS, as version 2's TLVs carry it."""

    version: str  # "TLSv1.3"
    cipher: str = ""  # OpenSSL's name, "TLS_AES_256_GCM_SHA384"
    alpn: str = ""  # the negotiated protocol, "" for none
    server_name: str = ""  # SNI, "" for none


def endpoint(sockaddr: object) -> IpPort | None:
    """``(ip, port)`` from a peername or sockname tuple; None for anything else (a Unix
    socket, no address). The IP is in canonical text, without an IPv6 scope."""
    if not isinstance(sockaddr, tuple) or len(sockaddr) < 2:
        return None
    host, port = sockaddr[0], sockaddr[1]
    if not isinstance(host, str) or not isinstance(port, int):
        return None
    try:
        return str(ipaddress.ip_address(host.partition("%")[0])), port
    except ValueError:
        return None


def _family(source: IpPort | None, destination: IpPort | None) -> Family:
    if source is None or destination is None:
        return Family.UNSPEC
    a = ipaddress.ip_address(source[0]).version
    b = ipaddress.ip_address(destination[0]).version
    if a != b:
        return Family.UNSPEC  # cannot be said in one header: the receiver keeps its own
    return Family.INET if a == 4 else Family.INET6


def client_header(
    version: str,
    source: IpPort | None,
    destination: IpPort | None,
    tls: TlsFacts | None = None,
) -> bytes:
    """The header relaying a client's connection from ``source`` to ``destination``
    (``UNKNOWN`` / UNSPEC when either is unknown)."""
    family = _family(source, destination)
    known = family is not Family.UNSPEC
    tlvs: list[Tlv] = []
    if version == "v2" and tls is not None:
        tlvs.append(ssl_tlv(tls.version, tls.cipher))
        if tls.server_name:
            tlvs.append(Tlv(PP2_TYPE_AUTHORITY, tls.server_name.encode("utf-8")))
        if tls.alpn:
            tlvs.append(Tlv(PP2_TYPE_ALPN, tls.alpn.encode("ascii", "replace")))
    header = ProxyHeader(
        1 if version == "v1" else 2,
        Command.PROXY,
        family,
        Transport.STREAM if known else Transport.UNSPEC,
        source if known else None,
        destination if known else None,
        tlvs=tuple(tlvs),
    )
    return encode_v1(header) if version == "v1" else encode_v2(header)


def check_header(version: str, local: IpPort | None, remote: IpPort | None) -> bytes:
    """The header of a health check connection from ``local`` to ``remote``."""
    if version == "v2":
        return encode_v2(ProxyHeader(2, Command.LOCAL))
    return client_header("v1", local, remote)


def tls_facts(ssl_object: Any, server_name: str | None) -> TlsFacts | None:
    """What version 2 says of a client's TLS connection, from its ``ssl_object`` (the
    stdlib's SSL object, or its C core that ``l7lb.tls.stream`` uses)."""
    if ssl_object is None:
        return None
    cipher = ssl_object.cipher()
    return TlsFacts(
        version=ssl_object.version() or "",
        cipher=cipher[0] if cipher else "",
        alpn=ssl_object.selected_alpn_protocol() or "",
        server_name=server_name or "",
    )


def header_for_client(
    version: str, arrival: Arrival | None, extra_info: Callable[[str], Any]
) -> bytes:
    """The header for a server connection made for the client on a transport whose
    ``get_extra_info`` is ``extra_info``: the addresses the client's PROXY header gave,
    else its socket's."""
    source = destination = None
    if arrival is not None and arrival.source is not None:
        source, destination = arrival.source, arrival.destination
    else:
        source, destination = endpoint(extra_info("peername")), endpoint(extra_info("sockname"))
    server_name = arrival.server_name if arrival is not None else None
    tls = tls_facts(extra_info("ssl_object"), server_name) if version == "v2" else None
    return client_header(version, source, destination, tls)
