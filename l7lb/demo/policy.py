"""The demo policy (``demo.toml``, the same text as ``policies/demo.toml``) and the copies of
it the demo runs: moved to other ports (``--port-offset``), and one per director with the
shared store (``--directors 2``).

One policy is the source of truth for both demos: the copies are made from its text, not
kept beside it, so a change to the demo (a pool setting, a new listener) reaches every
director. The rules, on every ``127.0.0.1:PORT`` in the text:

- every port moves by the offset;
- director N (from 1) also moves its own listeners by N - 1: 8080 and 8443 for the first,
  8081 and 8444 for the second, and the same for any listener added later;
- realserver addresses (``address = ...`` lines) are shared: they move by the offset only.

``admin_socket`` gets a suffix per director and per offset, so two demos never share one.
"""

from __future__ import annotations

import re
from importlib import resources

# Fixed by the demo policy: the three realservers ``l7lb demo`` starts.
REALSERVER_PORTS = (9001, 9002, 9003)
# The demo policy's listeners, for the messages the demo prints.
HTTP_PORT = 8080
HTTPS_PORT = 8443
ADMIN_PORT = 9100  # the admin HTTP listener ([admin] listen)
# A demo-only key sealing TLS sessions in the demo's Redis; a real cluster makes its own
# (python -c 'import secrets; print(secrets.token_hex(32))', docs/store.md).
DEMO_SESSION_KEY = b"l7lb demo only: not a secret!!!!".hex()

_ADDRESS = re.compile(r"127\.0\.0\.1:(\d+)")
_ADMIN_SOCKET = re.compile(r'^(admin_socket\s*=\s*")([^"]*?)(\.sock)?"', re.MULTILINE)


class DemoPolicyError(ValueError):
    """The demo policy no longer has what the demo expects (a test catches this first)."""


def demo_config_path() -> str:
    """The packaged demo policy (the same text as policies/demo.toml)."""
    return str(resources.files("l7lb.demo").joinpath("demo.toml"))


def demo_policy_text() -> str:
    return resources.files("l7lb.demo").joinpath("demo.toml").read_text(encoding="utf-8")


def move_ports(text: str, *, offset: int = 0, director: int = 1) -> str:
    """``text`` with its ports moved as the module docstring says."""
    if offset == 0 and director == 1:
        return text
    lines = []
    for line in text.splitlines(keepends=True):
        shift = offset if line.lstrip().startswith("address") else offset + director - 1

        def moved_address(m: re.Match[str], shift: int = shift) -> str:
            return f"127.0.0.1:{int(m[1]) + shift}"

        lines.append(_ADDRESS.sub(moved_address, line))
    suffix = (f"-{director}" if director != 1 else "") + (f"-{offset}" if offset else "")
    moved, found = _ADMIN_SOCKET.subn(
        lambda m: f'{m[1]}{m[2]}{suffix}{m[3] or ""}"', "".join(lines)
    )
    if not found:
        raise DemoPolicyError("the demo policy has no admin_socket line")
    return moved


def director_policy(text: str, director: int, store_url: str, *, offset: int = 0) -> str:
    """Director ``director``'s copy of the demo policy: its ports, and the shared store."""
    for port in (HTTP_PORT, HTTPS_PORT, *REALSERVER_PORTS):
        if f"127.0.0.1:{port}" not in text:
            raise DemoPolicyError(f"the demo policy no longer uses 127.0.0.1:{port}")
    key = DEMO_SESSION_KEY
    return (
        move_ports(text, offset=offset, director=director)
        + f"""
# Added by `l7lb demo --directors 2`: both directors share TLS sessions, ticket keys and
# persistence tables through the demo's own redis-server (docs/store.md).
[store]
url = "{store_url}"
namespace = "l7lb-demo"
session_key = "{key}"
# Lookups wait at most this long on the handshake path (default 20ms): a laptop running
# both directors, Redis and the realservers can be slower than a cluster's network.
timeout = "100ms"
"""
    )
