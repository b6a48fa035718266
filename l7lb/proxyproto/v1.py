"""Version 1: one line of US-ASCII text (proxy-protocol.txt 2.1).

    PROXY TCP4 192.0.2.7 198.51.100.10 56324 443\\r\\n
    PROXY TCP6 2001:db8::7 2001:db8::10 56324 443\\r\\n
    PROXY UNKNOWN\\r\\n                (anything may follow UNKNOWN before the CRLF)

Exactly one space between fields, a CRLF within the first 107 bytes (never a lone CR or LF),
IPv4 addresses without leading zeros, ports 0-65535 without leading zeros, and addresses of
the family the protocol names. Anything else is refused.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

from l7lb.proxyproto.header import (
    V1_MAX_LINE,
    V1_PREFIX,
    Command,
    Family,
    ProxyError,
    ProxyHeader,
    Transport,
)

_UNKNOWN: Final = b"PROXY UNKNOWN"
_PROTOCOLS: Final = {b"TCP4": Family.INET, b"TCP6": Family.INET6}
_PORT: Final = re.compile(rb"0|[1-9][0-9]{0,4}")
_IPV4_CHARS: Final = re.compile(rb"[0-9.]{7,15}")
_IPV6_CHARS: Final = re.compile(rb"[0-9A-Fa-f:.]{2,45}")


def decode_v1(buf: bytes) -> tuple[ProxyHeader, int] | None:
    """The header at the start of ``buf`` and its length in bytes, or None while the line is
    incomplete. Raises ``ProxyError`` as soon as the bytes cannot become a valid line."""
    n = min(len(buf), 5)
    if buf[:n] != V1_PREFIX[:n]:  # 2.2: "PROXY" is what says version 1
        raise ProxyError("not_proxy", f"starts with {buf[:n]!r}")
    if len(buf) > 5 and buf[5] != 0x20:
        raise ProxyError("v1_syntax", f"{buf[:6]!r} is not PROXY and a space")
    window = buf[:V1_MAX_LINE]
    cr = window.find(b"\r")
    lf = window.find(b"\n")
    if lf >= 0 and (cr < 0 or lf < cr):
        raise ProxyError("v1_syntax", f"a bare LF at byte {lf + 1}")
    if cr < 0 or cr + 2 > V1_MAX_LINE:  # no CR, or one whose LF would be byte 108
        if len(buf) >= V1_MAX_LINE:
            raise ProxyError("v1_too_long", f"no CRLF in the first {V1_MAX_LINE} bytes")
        return None
    if cr + 1 >= len(buf):
        return None  # the LF is still on its way
    if buf[cr + 1] != 0x0A:
        raise ProxyError("v1_syntax", f"a CR not followed by LF at byte {cr + 1}")
    return _parse_line(buf[:cr]), cr + 2


def _parse_line(line: bytes) -> ProxyHeader:
    if line == _UNKNOWN or line.startswith(_UNKNOWN + b" "):
        # 2.1: the receiver ignores whatever follows UNKNOWN and uses the real endpoints
        return ProxyHeader(1, Command.PROXY, Family.UNSPEC, Transport.UNSPEC)
    parts = line.split(b" ")
    family = _PROTOCOLS.get(parts[1]) if len(parts) > 1 else None
    if family is None:
        shown = parts[1][:16] if len(parts) > 1 else b""
        raise ProxyError("v1_syntax", f"protocol {shown!r} is not TCP4, TCP6 or UNKNOWN")
    if len(parts) != 6:
        raise ProxyError("v1_syntax", f"{len(parts)} space-separated fields, not 6")
    source = _address(parts[2], family)
    destination = _address(parts[3], family)
    return ProxyHeader(
        1,
        Command.PROXY,
        family,
        Transport.STREAM,
        (source, _port(parts[4])),
        (destination, _port(parts[5])),
    )


def _address(text: bytes, family: Family) -> str:
    if family is Family.INET:
        ok = _IPV4_CHARS.fullmatch(text) is not None
        kind: type[ipaddress.IPv4Address | ipaddress.IPv6Address] = ipaddress.IPv4Address
    else:
        ok = _IPV6_CHARS.fullmatch(text) is not None
        kind = ipaddress.IPv6Address
    if ok:
        try:
            return str(kind(text.decode("ascii")))
        except ValueError:
            pass
    name = "TCP4" if family is Family.INET else "TCP6"
    raise ProxyError("v1_address", f"{text[:46]!r} is not a {name} address")


def _port(text: bytes) -> int:
    if _PORT.fullmatch(text) is not None:
        port = int(text)
        if port <= 0xFFFF:
            return port
    raise ProxyError("v1_port", f"{text[:8]!r} is not a port (0-65535, no leading zeros)")


def encode_v1(header: ProxyHeader) -> bytes:
    """The line for ``header``: TCP4/TCP6 when it relays a TCP connection over IPv4/IPv6,
    else ``PROXY UNKNOWN`` (version 1 has no LOCAL command and no other family)."""
    if not header.relayed or header.family not in (Family.INET, Family.INET6):
        return _UNKNOWN + b"\r\n"
    assert header.source is not None and header.destination is not None
    kind = ipaddress.IPv4Address if header.family is Family.INET else ipaddress.IPv6Address
    proto = "TCP4" if header.family is Family.INET else "TCP6"
    (src, sport), (dst, dport) = header.source, header.destination
    for port in (sport, dport):
        if not 0 <= port <= 0xFFFF:
            raise ValueError(f"port {port} is out of range")
    line = f"PROXY {proto} {kind(src)} {kind(dst)} {sport} {dport}\r\n"
    return line.encode("ascii")
