"""``[admin]``: the admin HTTP listener's address, token and limits.

``parse_admin_table`` returns ``(path, message, hint)`` issues for
``l7lb.config.load`` to merge with its own, like ``parse_store_table``. The
only I/O is reading the token file, so that ``l7lb check`` reports a missing,
short or world-readable token before any director starts.

The rule that matters: reading the admin API is open to whoever reaches the
address, and actions (drain, maint, weight, reload, stop) need the token. An
address other than loopback without a token would let anyone on the network
take servers out of rotation, so it is refused here, not at run time.
"""

from __future__ import annotations

import os
import re
import stat
from typing import Any

from l7lb.config.address import is_loopback, parse_address
from l7lb.config.durations import parse_durations
from l7lb.config.model import Address, AdminSettings

Issue = tuple[str, str, str]  # (key path, what is wrong, how to fix it)

KEYS = ("listen", "token_file", "max_connections", "timeout")
MIN_TOKEN_BYTES = 16
MAX_TOKEN_BYTES = 4096
# RFC 6750 section 2.1: the characters a bearer token may contain
_B64TOKEN = re.compile(rb"[A-Za-z0-9\-._~+/]+=*")
TOKEN_HINT = "generate one with: openssl rand -hex 32 > FILE; chmod 600 FILE"


def _at(where: str, key: str) -> str:
    return f"{where} {key}"


def parse_admin_table(
    table: Any, where: str = "admin", base_dir: str = ""
) -> tuple[AdminSettings, list[Issue]]:
    """Build ``AdminSettings`` from ``[admin]`` (``None``: the table is absent).

    A relative ``token_file`` is read from ``base_dir`` (the configuration
    file's directory). On any problem the defaults are returned with the issues.
    """
    base = AdminSettings()
    if table is None:
        return base, []
    if not isinstance(table, dict):
        return base, [(where, "must be a table", 'write [admin] with listen = "127.0.0.1:9100"')]
    issues: list[Issue] = []
    for key in table:
        if key not in KEYS:
            issues.append((_at(where, key), "unknown key", "keys allowed here: " + ", ".join(KEYS)))

    listen = _listen(table.get("listen"), _at(where, "listen"), issues)
    token_file = table.get("token_file", "")
    token = b""
    if not isinstance(token_file, str):
        issues.append((_at(where, "token_file"), "expected a string (a file path)", TOKEN_HINT))
        token_file = ""
    elif "token_file" in table:
        token = _read_token(token_file, base_dir, _at(where, "token_file"), issues)

    max_connections = table.get("max_connections", base.max_connections)
    if isinstance(max_connections, bool) or not isinstance(max_connections, int):
        issues.append((_at(where, "max_connections"), "expected an integer", "e.g. 32"))
        max_connections = base.max_connections
    elif not 1 <= max_connections <= 10_000:
        issues.append(
            (_at(where, "max_connections"), f"{max_connections} is out of range", "use 1 to 10000")
        )
        max_connections = base.max_connections

    durations: list[tuple[str, str, str]] = []
    seconds = parse_durations(table, {"timeout": (0.1, 3600.0, "10s")}, where, durations)
    # parse_durations writes "admin.timeout"; this file's paths read "admin timeout"
    issues += [
        (path.replace(f"{where}.", f"{where} ", 1), msg, hint) for path, msg, hint in durations
    ]

    if listen is not None and not is_loopback(listen) and not token and "token_file" not in table:
        issues.append(
            (
                _at(where, "listen"),
                f"{listen} is reachable from other hosts and [{where}] has no token_file: "
                "anyone who reaches it could drain your servers",
                'set token_file = "/etc/l7lb/admin.token" (' + TOKEN_HINT + "), "
                'or listen on loopback: listen = "127.0.0.1:9100"',
            )
        )
    return (
        AdminSettings(
            listen=listen,
            token_file=token_file,
            token=token,
            max_connections=max_connections,
            timeout=seconds.get("timeout", base.timeout),
        ),
        issues,
    )


def _listen(value: object, path: str, issues: list[Issue]) -> Address | None:
    if value is None:
        return None
    hint = 'write "host:port", e.g. listen = "127.0.0.1:9100"'
    if not isinstance(value, str):
        issues.append((path, "expected a string", hint))
        return None
    try:
        return parse_address(value)
    except ValueError as exc:
        issues.append((path, f"address {value!r}: {exc}", hint))
        return None


def _read_token(name: str, base_dir: str, path: str, issues: list[Issue]) -> bytes:
    if not name:
        issues.append((path, "is empty", TOKEN_HINT))
        return b""
    full = os.path.join(base_dir, name)
    try:
        with open(full, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            data = handle.read(MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        issues.append((path, f"cannot read {name!r}: {exc.strerror or exc}", TOKEN_HINT))
        return b""
    if mode & stat.S_IROTH:
        # the token is a password to drain every server: like ssh with a private key,
        # refuse one that every local user can read
        issues.append((path, f"{name!r} is readable by every user", f"chmod 600 {full}"))
        return b""
    token = data.strip()  # an editor's or echo's newline is not part of the token
    if len(data) > MAX_TOKEN_BYTES:
        issues.append((path, f"{name!r} is longer than {MAX_TOKEN_BYTES} bytes", TOKEN_HINT))
        return b""
    if len(token) < MIN_TOKEN_BYTES:
        issues.append(
            (
                path,
                f"the token in {name!r} is {len(token)} bytes, under {MIN_TOKEN_BYTES}",
                TOKEN_HINT,
            )
        )
        return b""
    if _B64TOKEN.fullmatch(token) is None:
        issues.append(
            (
                path,
                f"the token in {name!r} has characters a bearer token cannot carry",
                "use letters, digits and - . _ ~ + / (RFC 6750); " + TOKEN_HINT,
            )
        )
        return b""
    return token
