"""The ``_ssl`` calls that end in "want read" as a matter of course, kept out of
the compiled hot path on purpose.

``do_handshake()`` raises ``SSLWantReadError`` on every full handshake (after
the server's flight, waiting for the client's Finished) and ``shutdown()`` on
every close (after our close_notify, the client's has not come yet). Caught in
mypyc-compiled code, each of these builds a traceback entry with a fresh code
object and frame first; caught here, by the interpreter, it does not. This
module is not in ``l7lb.native.HOT`` for that reason.
"""

from __future__ import annotations

import ssl
from typing import Any

_WantRead = ssl.SSLWantReadError


def handshake(sslobj: Any) -> bool:
    """Advance the handshake: True once it is complete, False while it waits
    for the client. Other TLS errors propagate."""
    try:
        sslobj.do_handshake()
    except _WantRead:
        return False
    return True


def shutdown(sslobj: Any) -> None:
    """Queue our close_notify; the client's is not waited for."""
    try:  # noqa: SIM105  # contextlib.suppress costs a context manager per close
        sslobj.shutdown()
    except (ssl.SSLError, ValueError):
        pass
