"""What the admin socket and the admin HTTP listener ask of the supervisor,
and the one place a ``Command`` is carried out, so both have the same effect.

The supervisor implements ``AdminHandler``; tests use a fake over real
``PoolState`` objects.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from l7lb.admin.commands import (
    HELP,
    Command,
    ReloadVerdict,
    ServerRow,
    format_limits,
    format_servers,
    format_tls,
)
from l7lb.limits.board import LimitRow


class AdminHandler(Protocol):
    async def servers(self) -> list[ServerRow]:
        """Every server of every pool, in config order."""
        ...

    async def set_weight(self, pool: str, server: str, weight: int) -> str:
        """Apply the weight on every worker; the answer line. UnknownServer for
        an unknown pool or server."""
        ...

    async def set_state(self, pool: str, server: str, state: str, deadline: float = 0.0) -> str:
        """``state`` is "drain", "maint" or "ready"; as ``set_weight``. ``deadline``
        (drain only): seconds from now after which stuck clients move too (0: never)."""
        ...

    async def tls_counters(self) -> dict[str, dict[str, Any]]:
        """Per TLS VIP, the handshake counters summed over the workers."""
        ...

    async def limits(self) -> list[LimitRow]:
        """The busiest client addresses of every VIP with [vip.limits]."""
        ...

    async def reload_config(self) -> ReloadVerdict:
        """Reload the configuration file, as SIGHUP does, and say what came of it."""
        ...

    def request_stop(self) -> int:
        """Begin stopping, as SIGTERM does; the supervisor's pid (to wait for)."""
        ...

    def health_state(self) -> str:
        """What /healthz says: "ok" (serving), "starting" (workers not ready yet) or
        "draining" (stopping, from the first moment of drain_grace); 200 only for "ok"."""
        ...


async def execute(handler: AdminHandler, cmd: Command) -> str:
    """Carry out ``cmd``; the answer text (ends with a newline). AdminError
    (or UnknownServer) when it cannot be done."""
    if cmd.verb == "help":
        text = HELP
    elif cmd.verb == "show-servers":
        text = format_servers(await handler.servers())
    elif cmd.verb == "show-tls":
        text = format_tls(await handler.tls_counters())
    elif cmd.verb == "show-limits":
        text = format_limits(await handler.limits())
    elif cmd.verb == "reload":
        # a client that goes away must not cut a reload in half
        text = (await asyncio.shield(handler.reload_config())).text()
    elif cmd.verb == "stop":
        text = f"stopping: pid {handler.request_stop()}\n"
    elif cmd.verb == "set-weight":
        text = await handler.set_weight(cmd.pool, cmd.server, cmd.weight)
    else:
        text = await handler.set_state(cmd.pool, cmd.server, cmd.verb, cmd.deadline)
    return text if text.endswith("\n") else text + "\n"
