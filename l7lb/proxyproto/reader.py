"""Reading a PROXY header from the first bytes of a connection, either version.

``read_header`` is fed everything received so far. Its answer is final as soon as the bytes
allow: the first byte already says "version 1", "version 2" or "not a PROXY header" (2.2:
the receiver never guesses; a VIP that accepts PROXY requires it), and a header that cannot
become valid is refused before its end arrives. The bytes after the header belong to the
protocol it precedes (the HTTP request, the TLS ClientHello).
"""

from __future__ import annotations

from typing import Final

from l7lb.proxyproto.header import V1_PREFIX, V2_SIGNATURE, ProxyError, ProxyHeader
from l7lb.proxyproto.v1 import decode_v1
from l7lb.proxyproto.v2 import decode_v2

_V1_FIRST: Final = V1_PREFIX[0]
_V2_FIRST: Final = V2_SIGNATURE[0]
# the most a header can take: version 2's 16 bytes and a 16-bit length
MAX_HEADER: Final = 16 + 0xFFFF


def read_header(buf: bytes) -> tuple[ProxyHeader, int] | None:
    """The header at the start of ``buf`` and how many bytes it took, or None until more
    bytes come. Raises ``ProxyError`` (``reason`` ``not_proxy`` when the bytes are no
    PROXY header at all)."""
    if not buf:
        return None
    first = buf[0]
    if first == _V2_FIRST:
        return decode_v2(buf)
    if first == _V1_FIRST:
        return decode_v1(buf)
    raise ProxyError("not_proxy", f"starts with {_shown(buf)}")


def _shown(buf: bytes) -> str:
    """The first bytes, for a log line: text when they look like text (a client speaking
    HTTP or TLS straight to a PROXY port is the usual mistake)."""
    head = buf[:16]
    if head[:1] == b"\x16":
        return "a TLS record (a client without the front proxy?)"
    return repr(head)
