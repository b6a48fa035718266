"""Where the running supervisor of a configuration file can be reached.

``l7lb reload -c FILE`` and ``l7lb stop -c FILE`` read FILE for the ways in:
the admin socket (``admin_socket``), the admin listener (``[admin] listen``,
with the token from ``token_file`` for actions) and the pid file
(``pid_file``). FILE is often the very file being reloaded, and may be
broken: the supervisor must then still be found, so that it can say what is
wrong. When the loader refuses the file, the keys are read leniently from the
TOML document, or with a line scan when even the TOML is broken.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from l7lb.config.address import parse_address
from l7lb.config.durations import DurationError, parse_duration
from l7lb.config.load import ConfigError, load_config
from l7lb.config.model import Address, Config, Timeouts

# a `key = "value"` line and a `[table]` line, for a file tomllib cannot read
_LINE = re.compile(r'^\s*([a-z_]+)\s*=\s*"([^"\\]*)"\s*(#.*)?$')
_TABLE = re.compile(r"^\s*\[\s*([a-z_.]+)\s*\]\s*(#.*)?$")
# the keys read that way, by table ("" = the top level)
_SCANNED = {"": ("admin_socket", "pid_file"), "admin": ("listen", "token_file")}


@dataclass(frozen=True, slots=True)
class Ways:
    """The ways to reach one supervisor, best first; empty strings / None: not configured."""

    config_path: str
    admin_socket: str = ""
    admin_listen: Address | None = None
    token: bytes = b""  # for actions on the admin listener
    pid_file: str = ""
    stop_wait: float = Timeouts().drain + 10.0  # how long a stop may take
    note: str = ""  # how the file was read, when the loader refused it

    def any(self) -> bool:
        return bool(self.admin_socket or self.admin_listen or self.pid_file)


def _stop_wait(grace: float, drain: float) -> float:
    # drain_grace, then the workers' drain, then the supervisor's 5 s before it
    # kills a worker, and a margin for a busy machine
    return grace + drain + 10.0


def locate(config_path: str) -> Ways:
    """Read ``config_path`` for the ways in. Never raises for a broken file:
    an unreadable one gives no ways (and a note saying why)."""
    try:
        config = load_config(config_path)
    except ConfigError:
        return _lenient(config_path)
    return _from_config(config_path, config)


def _from_config(path: str, config: Config) -> Ways:
    t = config.timeouts
    return Ways(
        config_path=path,
        admin_socket=config.admin_socket,
        admin_listen=config.admin.listen,
        token=config.admin.token,
        pid_file=config.pid_file,
        stop_wait=_stop_wait(t.drain_grace, t.drain),
    )


def _lenient(path: str) -> Ways:
    base_dir = os.path.dirname(path)
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return Ways(path, note=f"cannot read {path}: {exc.strerror or exc}")
    try:
        doc = tomllib.loads(text)
        note = "the file has errors: its admin keys were read as written"
    except tomllib.TOMLDecodeError:
        doc = _scan(text)
        note = "the file is not valid TOML: its admin keys were read line by line"
    admin = doc.get("admin")
    admin = admin if isinstance(admin, dict) else {}
    listen = None
    if isinstance(admin.get("listen"), str):
        try:
            listen = parse_address(admin["listen"])
        except ValueError:
            listen = None
    token = b""
    if isinstance(admin.get("token_file"), str) and admin["token_file"]:
        try:
            with open(os.path.join(base_dir, admin["token_file"]), "rb") as f:
                token = f.read(4097).strip()
        except OSError:
            token = b""
    timeouts = doc.get("timeouts")
    timeouts = timeouts if isinstance(timeouts, dict) else {}
    base = Timeouts()
    return Ways(
        config_path=path,
        admin_socket=_string(doc, "admin_socket"),
        admin_listen=listen,
        token=token,
        pid_file=_pid_path(_string(doc, "pid_file"), base_dir),
        stop_wait=_stop_wait(
            _seconds(timeouts, "drain_grace", base.drain_grace),
            _seconds(timeouts, "drain", base.drain),
        ),
        note=note,
    )


def _scan(text: str) -> dict[str, Any]:
    """The admin keys of a file that is not TOML, as a document would hold them."""
    doc: dict[str, Any] = {"admin": {}}
    table = ""
    for line in text.splitlines():
        if line.lstrip().startswith("["):  # a table, or an array of tables, maybe broken
            header = _TABLE.match(line)
            table = header.group(1) if header else "?"
            continue
        m = _LINE.match(line)
        if m and m.group(1) in _SCANNED.get(table, ()):
            target = doc["admin"] if table == "admin" else doc
            target.setdefault(m.group(1), m.group(2))
    return doc


def _string(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key, "")
    return value if isinstance(value, str) else ""


def _pid_path(value: str, base_dir: str) -> str:
    # as the loader does: relative to the configuration file's directory
    if value and base_dir:
        return os.path.abspath(os.path.join(base_dir, value))
    return value


def _seconds(table: dict[str, Any], key: str, default: float) -> float:
    try:
        return parse_duration(table[key]) if key in table else default
    except DurationError:
        return default
