"""``l7lb admin``: change weights and states without a reload.

``commands`` parses one command line and formats ``show servers`` (sans-IO),
``handler`` carries a command out on the supervisor, ``server`` is the
supervisor's Unix-socket server, ``client`` the command line tool.

The admin HTTP listener (``[admin] listen``): ``http_message`` (requests and
responses, sans-IO), ``router`` and ``bearer`` (routes and the token rule),
``api`` (the endpoints), ``http_server`` (the asyncio listener).

``l7lb reload`` / ``l7lb stop``: ``locate`` finds the running supervisor
(admin socket, admin listener or ``pidfile``), ``runctl`` is the command.

See docs/operations.md and docs/configuration.md (``admin_socket``, ``[admin]``).
"""

from l7lb.admin.commands import AdminError, Command, ServerRow, format_servers, parse_command
from l7lb.admin.handler import AdminHandler
from l7lb.admin.server import AdminServer

__all__ = [
    "AdminError",
    "AdminHandler",
    "AdminServer",
    "Command",
    "ServerRow",
    "format_servers",
    "parse_command",
]
