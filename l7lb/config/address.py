"""Listen and server addresses: ``host:port`` text to ``Address``, and overlaps.

Its own module so every section parser (``load.py``, ``admin.py``, ...) reads
addresses one way without importing the loader that imports it.
"""

from __future__ import annotations

import ipaddress
import re

from l7lb.config.model import Address

HOSTNAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")


def parse_address(text: str) -> Address:
    """``host:port`` or ``[v6]:port`` → Address; ValueError says what is wrong."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("the IPv6 address has no closing ]")
        host = text[1:end]
        rest = text[end + 1 :]
        if not rest.startswith(":"):
            raise ValueError("the port is missing (write [v6]:port)")
        port_text = rest[1:]
        try:
            host = str(ipaddress.IPv6Address(host))
        except ValueError:
            raise ValueError(f"{host!r} in brackets is not an IPv6 address") from None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ValueError("the port is missing (write host:port)")
        if ":" in host:
            raise ValueError("an IPv6 address needs brackets: [2001:db8::1]:80")
        if not host:
            raise ValueError("the host is missing (0.0.0.0:port listens on every IPv4 address)")
        try:
            host = str(ipaddress.IPv4Address(host))
        except ValueError:
            if HOSTNAME.fullmatch(host.lower()) is None:
                raise ValueError(f"{host!r} is neither an IP address nor a host name") from None
            if re.fullmatch(r"[0-9.]+", host):
                raise ValueError(f"{host!r} is not a valid IPv4 address") from None
            host = host.lower()
    if not port_text.isdigit():
        raise ValueError("port is not a number")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range (1-65535)")
    return Address(host, port)


def addresses_overlap(a: Address, b: Address) -> bool:
    """Two listen addresses that cannot both be bound (same, or wildcard + specific)."""
    if a.port != b.port:
        return False
    if a.host == b.host:
        return True
    try:
        ip_a, ip_b = ipaddress.ip_address(a.host), ipaddress.ip_address(b.host)
    except ValueError:
        return False
    return ip_a.version == ip_b.version and (ip_a.is_unspecified or ip_b.is_unspecified)


def is_loopback(address: Address) -> bool:
    """Only this host can reach it: 127.0.0.0/8, ::1, or the name localhost."""
    if address.host == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.host).is_loopback
    except ValueError:
        return False
