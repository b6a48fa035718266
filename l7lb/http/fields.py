"""Header field names the proxy treats specially, in one place.

The one walk over a parsed head (``framing.request_head`` / ``response_head``) notes which
of these a message carries; the edits toward the next hop (``forwarding``) remove exactly
those lines and add the proxy's own. Names are lower-case bytes, as the codec gives them.
"""

from __future__ import annotations

from typing import Final

# RFC 9110 7.6.1 and RFC 9112 (te, trailer, transfer-encoding, upgrade), plus the
# pre-standard keep-alive and proxy-connection. Proxy-Authorization and Proxy-Authenticate
# are meant for (and consumed by) the proxy, never the next hop (RFC 9110 11.7.1, 11.7.2).
HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authorization",
        b"proxy-authenticate",
    }
)
FRAMING: Final = frozenset({b"content-length", b"transfer-encoding"})

# Request fields the proxy never forwards as received: hop-by-hop ones, and the forwarding
# fields it rebuilds. X-Forwarded-Proto/-Host are overwritten: whatever the client sent is a
# claim an attacker controls (a spoofed "https" would defeat a backend's https check).
# Content-Length is not here: it is forwarded as received once framing has validated it.
REQUEST_REBUILT: Final = HOP_BY_HOP | {
    b"x-forwarded-for",
    b"x-forwarded-proto",
    b"x-forwarded-host",
    b"via",
    b"forwarded",
}

# Response fields the proxy may rewrite or drop: hop-by-hop ones, Via (extended), and the
# URLs a realserver may point at itself with (LVS-HOWTO 20.7.1).
RESPONSE_REBUILT: Final = HOP_BY_HOP | {
    b"via",
    b"location",
    b"content-location",
    b"refresh",
}

# Connection tokens that name nothing the copy would keep anyway.
NOT_EXTRA: Final = HOP_BY_HOP | {b"close", b"host"}
