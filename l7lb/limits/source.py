"""The client address a limit counts by: the peer's address under the VIP's masks.

``source_name`` turns the address the glue was given (the TCP peer, or a PROXY header's
source) into the text every counter, control message and ``show limits`` uses: the address
itself at full length (``192.0.2.7``), else the network with its prefix
(``2001:db8:1:2::/64``). IPv4-mapped IPv6 addresses count as IPv4, as in source persistence
(``persistence.table.source_key``, which does the masking). Something that is not an IP
address (a Unix socket's peer) is its own key.
"""

from __future__ import annotations

import socket

from l7lb.persistence.table import source_key


def source_name(peer: str, mask: int = 32, mask6: int = 128) -> str:
    if mask == 32 and "." in peer and ":" not in peer:
        return peer  # the common case, without packing and unpacking
    try:
        packed = source_key(peer, mask, mask6)
    except ValueError:
        return peer
    if len(packed) == 4:
        text = socket.inet_ntop(socket.AF_INET, packed)
        return text if mask == 32 else f"{text}/{mask}"
    text = socket.inet_ntop(socket.AF_INET6, packed)
    return text if mask6 == 128 else f"{text}/{mask6}"
