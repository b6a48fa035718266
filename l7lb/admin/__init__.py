"""``l7lb admin``: change weights and states without a reload.

``commands`` parses one command line and formats ``show servers`` (sans-IO),
``server`` is the supervisor's Unix-socket server, ``client`` the command
line tool. See docs/configuration.md, ``admin_socket``.
"""

from l7lb.admin.commands import AdminError, Command, ServerRow, format_servers, parse_command
from l7lb.admin.server import AdminHandler, AdminServer

__all__ = [
    "AdminError",
    "AdminHandler",
    "AdminServer",
    "Command",
    "ServerRow",
    "format_servers",
    "parse_command",
]
