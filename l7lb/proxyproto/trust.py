"""Which peers may send a PROXY header: ``proxy_trusted`` of a VIP.

Whoever may send the header may claim any client address (proxy-protocol.txt 5: "accepting
the header only from a number of known sources should be safe"). A VIP that accepts PROXY
therefore closes a connection from any other address before reading a byte. An IPv4 peer
seen through a dual-stack socket (``::ffff:10.0.0.5``) is matched as the IPv4 address it is.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedSources:
    __slots__ = ("_v4", "_v6", "networks")

    def __init__(self, networks: Iterable[Network]) -> None:
        self.networks = tuple(networks)
        self._v4 = tuple(n for n in self.networks if n.version == 4)
        self._v6 = tuple(n for n in self.networks if n.version == 6)

    def trusts(self, host: str) -> bool:
        """Is the peer at ``host`` (an IP address as text) one of the trusted sources?
        Anything that is not an IP address (a Unix socket peer) is not."""
        try:
            ip = ipaddress.ip_address(host.partition("%")[0])  # no scope: fe80::1%eth0
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address):
            mapped = ip.ipv4_mapped
            if mapped is not None and any(mapped in n for n in self._v4):
                return True
            return any(ip in n for n in self._v6)
        return any(ip in n for n in self._v4)

    def __repr__(self) -> str:
        return f"TrustedSources({', '.join(map(str, self.networks))})"
