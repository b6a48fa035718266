"""The ``_ssl`` calls that end in "want read" as a matter of course, kept out of
the compiled hot path on purpose.

``do_handshake()`` raises ``SSLWantReadError`` on every full handshake (after
the server's flight, waiting for the client's Finished) and ``shutdown()`` on
every close (after our close_notify, the client's has not come yet); the
close goes through the ctypes shim where it can, which raises nothing. Caught in
mypyc-compiled code, each of these builds a traceback entry with a fresh code
object and frame first; caught here, by the interpreter, it does not. This
module is not in ``l7lb.native.HOT`` for that reason.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
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
    """Queue our close_notify; the client's is not waited for.

    One ``SSL_shutdown`` through the shim (``shim.CloseNotify``: no second call, no
    "want read" raised); the ``_ssl`` method where the shim cannot be used.
    """
    closer = _closer
    if closer is None:
        closer = _pick_closer()
    closer(sslobj)


def _stdlib_shutdown(sslobj: Any) -> None:
    try:  # noqa: SIM105  # contextlib.suppress costs a context manager per close
        sslobj.shutdown()
    except (ssl.SSLError, ValueError):
        pass


_closer: Callable[[Any], None] | None = None


def _pick_closer() -> Callable[[Any], None]:
    global _closer
    from l7lb.tls import shim  # ctypes: loaded when the first connection closes

    _closer = shim.close_notify() or _stdlib_shutdown
    return _closer
