"""Typed settings of the shared store, parsed from the top-level ``[store]`` table.

``parse_store_table`` returns ``(path, message, hint)`` issues for
``l7lb.config.load`` to merge with its own, like ``parse_tls_table``. The only
I/O is reading the small key files named by ``session_key_file`` and
``ticket_key_file``, so that ``l7lb check`` reports a missing or malformed key
file before any director starts.

The URL is parsed here, once: nothing at run time parses text, and a URL
aiocache would misread (a ``memcached://`` with a database, a Redis Cluster)
is refused with a hint instead of failing later. A Sentinel URL
(``redis+sentinel://h1:26379,h2:26379/mymaster``) names the sentinels and the
master's service name; ``l7lb.store.sentinel`` follows that master.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from l7lb.config.durations import parse_durations
from l7lb.tls.ticketkeyfile import TicketKeyFileError, load_ticket_key_file

Issue = tuple[str, str, str]  # (key path, what is wrong, how to fix it)

SESSION_KEY_LEN = 32  # AES-256-GCM
DEFAULT_TICKET_ROTATION = 3600.0
DEFAULT_TICKET_MAX_AGE = 86400.0
KEYGEN_HINT = "python -c 'import secrets; print(secrets.token_hex(32))'"
_KEY_HINT = f"write 64 hex digits or base64 of 32 bytes; generate one with {KEYGEN_HINT}"
_NAMESPACE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_URL_HINT = (
    'write "memory", "redis://[:password@]host:port/db", "rediss://host:port/db" (TLS), '
    '"redis+sentinel://[:password@]host:26379,host:26379/service[/db]" or '
    '"memcached://host:port"'
)
_SENTINEL_HINT = (
    'write "redis+sentinel://[:password@]host[:port],host[:port].../service[/db]": the '
    "sentinels (port 26379 by default), then the name their `sentinel monitor` line gives "
    "the master"
)
SENTINEL_PORT = 26379
_SERVICE = re.compile(r"[A-Za-z0-9._-]{1,128}")
# rediss:// query options (redis-py's names) -> StoreSettings fields
_REDIS_QUERY = {
    "ssl_ca_certs": "tls_ca_file",
    "ssl_cert_reqs": "tls_verify",
    "ssl_certfile": "tls_cert_file",
    "ssl_keyfile": "tls_key_file",
}

_KNOWN = (
    "url",
    "namespace",
    "timeout",
    "write_timeout",
    "session_key",
    "session_key_file",
    "session_key_previous",
    "ticket_key_file",
    "ticket_rotation",
    "ticket_max_age",
)


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """What ``[store]`` says; ``engine`` is "memory", "redis" or "memcached"."""

    url: str = field(default="memory", repr=False)  # may hold the password: use display_url
    engine: str = "memory"
    host: str = ""  # redis / memcached; empty with Sentinel
    port: int = 0
    # Redis Sentinel: the sentinels to ask, and the service name of the master they watch.
    # When set, host and port are unused: the master is whoever the sentinels say it is.
    sentinels: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0  # redis only
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    tls: bool = False  # rediss://
    tls_ca_file: str | None = None
    tls_verify: bool = True
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    namespace: str = "l7lb"
    timeout: float = 0.020  # lookups on the handshake / scheduling path
    write_timeout: float = 0.200  # background writes and ticket ring fetches
    # Current key first, then previous ones (still opened, never used to seal).
    session_keys: tuple[bytes, ...] = field(default=(), repr=False)
    ticket_key_file: str | None = None  # operator-managed ticket keys (see ticketkeys.py)
    ticket_rotation: float = DEFAULT_TICKET_ROTATION
    ticket_max_age: float = DEFAULT_TICKET_MAX_AGE

    @property
    def shared(self) -> bool:
        """True when state lives in Redis or memcached rather than in this director."""
        return self.engine != "memory"

    @property
    def display_url(self) -> str:
        """The URL without its password, for logs and ``l7lb check``."""
        if self.engine == "memory":
            return "memory"
        if self.sentinels:
            hosts = ",".join(f"{_bracket(h)}:{p}" for h, p in self.sentinels)
            db = f"/{self.db}" if self.db else ""
            return f"redis+sentinel://{hosts}/{self.service}{db}"
        scheme = "rediss" if self.tls else self.engine
        path = f"/{self.db}" if self.engine == "redis" else ""
        return f"{scheme}://{_bracket(self.host)}:{self.port}{path}"


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def parse_store_table(
    table: dict[str, Any], where: str, base_dir: str = ""
) -> tuple[StoreSettings | None, list[Issue]]:
    """Build ``StoreSettings`` from ``[store]``; ``where`` prefixes key paths.

    Relative key file paths are read from ``base_dir`` (the config file's
    directory). Returns ``(None, issues)`` when anything is wrong.
    """
    issues: list[Issue] = []
    if not isinstance(table, dict):
        return None, [(where, "must be a table", 'write [store] with url = "redis://..."')]
    for key in table:
        if key not in _KNOWN:
            issues.append((f"{where}.{key}", "unknown key", "known keys: " + ", ".join(_KNOWN)))
    kw: dict[str, Any] = {}

    url = table.get("url", "memory")
    if not isinstance(url, str) or not url.strip():
        issues.append((f"{where}.url", "must be a non-empty string", _URL_HINT))
    else:
        kw.update(_parse_url(url.strip(), f"{where}.url", issues))

    namespace = table.get("namespace", "l7lb")
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        issues.append(
            (
                f"{where}.namespace",
                f"invalid namespace {namespace!r}",
                "use 1-64 letters, digits, '.', '_' or '-', the same on every director "
                "of one cluster and different between clusters",
            )
        )
    else:
        kw["namespace"] = namespace

    limits = {
        "timeout": (0.001, 1.0, "20ms"),
        "write_timeout": (0.001, 10.0, "200ms"),
        "ticket_rotation": (1.0, 7 * 86400.0, "1h"),  # short periods: tests, drills
        "ticket_max_age": (3.0, 30 * 86400.0, "24h"),
    }
    kw.update(parse_durations(table, limits, where, issues))
    rotation = kw.get("ticket_rotation", DEFAULT_TICKET_ROTATION)
    max_age = kw.get("ticket_max_age", DEFAULT_TICKET_MAX_AGE)
    # A key is published one period ahead ("next"), encrypts for one period and
    # still decrypts for one more ("previous"): it lives three periods.
    if max_age < 3 * rotation:
        issues.append(
            (
                f"{where}.ticket_max_age",
                f"{max_age:g}s is shorter than three ticket_rotation periods ({3 * rotation:g}s)",
                "a key is next, current then previous for one period each: "
                "raise ticket_max_age or shorten ticket_rotation",
            )
        )

    keys = _session_keys(table, where, base_dir, issues)
    if keys:
        kw["session_keys"] = keys
    elif kw.get("engine", "memory") != "memory" and not any(
        path.startswith((f"{where}.session_key", f"{where}.session_key_file"))
        for path, _, _ in issues
    ):
        issues.append(
            (
                f"{where}.session_key",
                "is required with a shared store: sessions are encrypted before they leave "
                "the director",
                f"set session_key (the same on every director); generate one with {KEYGEN_HINT}",
            )
        )

    if "ticket_key_file" in table:
        path = table["ticket_key_file"]
        if not isinstance(path, str) or not path:
            issues.append(
                (f"{where}.ticket_key_file", "must be a file path", "omit it to share keys")
            )
        else:
            full = os.path.join(base_dir, path)
            try:
                load_ticket_key_file(full)
            except (OSError, TicketKeyFileError) as exc:
                issues.append((f"{where}.ticket_key_file", f"{path}: {exc}", _TICKET_FILE_HINT))
            else:
                kw["ticket_key_file"] = full

    if issues:
        return None, issues
    return StoreSettings(**kw), []


_TICKET_FILE_HINT = (
    "one base64 key per line, oldest first (previous, current, next); "
    "make a key with: openssl rand -base64 32"
)


def _parse_url(url: str, where: str, issues: list[Issue]) -> dict[str, Any]:
    if url == "memory":
        return {"url": "memory", "engine": "memory"}
    head, sep, rest = url.partition("://")
    if sep and head.lower() == "redis+sentinel":
        # several hosts: not a netloc urlsplit reads (and Pythons with its bracketed-host
        # check, 3.11.2 as Debian patches it or 3.12, refuse "[fd00::2],h2" outright)
        return _parse_sentinel_url(url, *_split_hierarchy(rest), where, issues)
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port
    except ValueError as exc:
        issues.append((where, f"malformed URL: {exc}", _URL_HINT))
        return {}
    if scheme in ("sentinel", "redis-sentinel"):
        issues.append((where, f"unknown store {scheme!r}", _SENTINEL_HINT))
        return {}
    if scheme in ("rediss+sentinel", "redis+cluster", "rediss+cluster", "redis-cluster"):
        what = "Redis Sentinel over TLS" if "sentinel" in scheme else "Redis Cluster"
        issues.append(
            (
                where,
                f"{what} is not supported",
                "use redis+sentinel:// (plain TCP to sentinels and master) or one "
                "redis:// / rediss:// server (see docs/store.md)",
            )
        )
        return {}
    if scheme not in ("redis", "rediss", "memcached"):
        issues.append((where, f"unknown store {scheme or url!r}", _URL_HINT))
        return {}
    if not parts.hostname:
        issues.append((where, "has no host", _URL_HINT))
        return {}
    kw: dict[str, Any] = {"url": url, "host": parts.hostname}
    if scheme == "memcached":
        if parts.username or parts.password or parts.path.strip("/") or parts.query:
            issues.append(
                (
                    where,
                    "memcached URLs take no password, database or options",
                    'write "memcached://host:port"; memcached has no authentication, keep it '
                    "on a private network",
                )
            )
            return {}
        kw.update(engine="memcached", port=port or 11211)
        return kw
    kw.update(engine="redis", port=port or 6379, tls=scheme == "rediss")
    if parts.username:
        kw["username"] = unquote(parts.username)
    if parts.password is not None:
        kw["password"] = unquote(parts.password)
    db_text = parts.path.strip("/")
    if db_text:
        if not db_text.isdigit():
            issues.append(
                (where, f"database {db_text!r} is not a number", 'e.g. "redis://h:6379/0"')
            )
            return {}
        kw["db"] = int(db_text)
    query = parse_qs(parts.query, keep_blank_values=True)
    for name, values in query.items():
        if name not in _REDIS_QUERY or scheme != "rediss":
            issues.append(
                (
                    where,
                    f"unknown URL option {name!r}",
                    "rediss:// takes " + ", ".join(sorted(_REDIS_QUERY)),
                )
            )
            return {}
        value = values[-1]
        if name == "ssl_cert_reqs":
            if value not in ("required", "none"):
                issues.append((where, f"ssl_cert_reqs={value!r}", 'use "required" or "none"'))
                return {}
            kw["tls_verify"] = value == "required"
        else:
            kw[_REDIS_QUERY[name]] = value
    return kw


def _split_hierarchy(rest: str) -> tuple[str, str, str]:
    """The authority, path and query of what follows "scheme://" (RFC 3986 3: the authority
    ends at the first "/", "?" or "#"; the fragment is dropped), without reading the
    authority as one host."""
    rest = rest.partition("#")[0]
    rest, _, query = rest.partition("?")
    slash = rest.find("/")
    if slash < 0:
        return rest, "", query
    return rest[:slash], rest[slash:], query


def _parse_sentinel_url(
    url: str, netloc: str, path: str, query: str, where: str, issues: list[Issue]
) -> dict[str, Any]:
    """``redis+sentinel://[user:password@]h1[:p1],h2[:p2]/service[/db]``.

    ``urlsplit`` reads one host and port only, so the host list is split here.
    The credentials are the master's (sentinels are asked without a password).
    """
    userinfo, at, hostlist = netloc.rpartition("@")
    kw: dict[str, Any] = {"url": url, "engine": "redis"}
    if at:
        user, colon, password = userinfo.partition(":")
        if user:
            kw["username"] = unquote(user)
        if colon:
            kw["password"] = unquote(password)
    sentinels: list[tuple[str, int]] = []
    for item in hostlist.split(","):
        item = item.strip()
        if item.startswith("["):
            host, bracket, rest = item[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                issues.append((where, f"sentinel {item!r} is malformed", _SENTINEL_HINT))
                return {}
            port_text = rest[1:]
        else:
            host, _, port_text = item.partition(":")
        if not host:
            issues.append((where, "names a sentinel without a host", _SENTINEL_HINT))
            return {}
        port = SENTINEL_PORT
        if port_text:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                issues.append(
                    (where, f"sentinel {item!r}: port {port_text!r} is not 1-65535", _SENTINEL_HINT)
                )
                return {}
            port = int(port_text)
        sentinels.append((host, port))
    segments = path.strip("/").split("/") if path.strip("/") else []
    if not segments or len(segments) > 2 or not _SERVICE.fullmatch(segments[0]):
        issues.append(
            (
                where,
                "needs the master's service name after the sentinels"
                if not segments
                else f"service {'/'.join(segments)!r} is not a Sentinel master name",
                _SENTINEL_HINT,
            )
        )
        return {}
    kw["service"] = segments[0]
    if len(segments) == 2:
        if not segments[1].isdigit():
            issues.append((where, f"database {segments[1]!r} is not a number", _SENTINEL_HINT))
            return {}
        kw["db"] = int(segments[1])
    if query:
        issues.append((where, "redis+sentinel:// takes no URL options", _SENTINEL_HINT))
        return {}
    kw["sentinels"] = tuple(sentinels)
    return kw


def parse_session_key(text: str) -> bytes:
    """32 bytes from 64 hex digits or base64; raises ValueError otherwise."""
    text = text.strip()
    if re.fullmatch(r"[0-9A-Fa-f]{64}", text):
        return bytes.fromhex(text)
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != SESSION_KEY_LEN:
        raise ValueError("is not 32 bytes written as 64 hex digits or base64")
    return raw


def _session_keys(
    table: dict[str, Any], where: str, base_dir: str, issues: list[Issue]
) -> tuple[bytes, ...]:
    current: bytes | None = None
    if "session_key" in table and "session_key_file" in table:
        issues.append((f"{where}.session_key", "and session_key_file are both set", "keep one"))
        return ()
    if "session_key" in table:
        value = table["session_key"]
        try:
            if not isinstance(value, str):
                raise ValueError("must be a string")
            current = parse_session_key(value)
        except ValueError as exc:
            issues.append((f"{where}.session_key", str(exc), _KEY_HINT))
            return ()
    elif "session_key_file" in table:
        name = table["session_key_file"]
        if not isinstance(name, str) or not name:
            issues.append((f"{where}.session_key_file", "must be a file path", _KEY_HINT))
            return ()
        try:
            with open(os.path.join(base_dir, name), encoding="ascii") as handle:
                current = parse_session_key(handle.read())
        except OSError as exc:
            reason = exc.strerror or str(exc)
            issues.append((f"{where}.session_key_file", f"cannot read {name!r}: {reason}", ""))
            return ()
        except (ValueError, UnicodeDecodeError) as exc:
            issues.append((f"{where}.session_key_file", f"{name!r}: {exc}", _KEY_HINT))
            return ()
    previous = table.get("session_key_previous", [])
    if not isinstance(previous, list):
        issues.append(
            (f"{where}.session_key_previous", "must be an array of keys", 'e.g. ["9f0c..."]')
        )
        return ()
    keys: list[bytes] = [current] if current is not None else []
    for number, value in enumerate(previous, 1):
        try:
            if not isinstance(value, str):
                raise ValueError("must be a string")
            keys.append(parse_session_key(value))
        except ValueError as exc:
            issues.append((f"{where}.session_key_previous {number}", str(exc), _KEY_HINT))
            return ()
    if previous and current is None:
        issues.append(
            (
                f"{where}.session_key_previous",
                "is set without session_key",
                "previous keys only open old entries: set the current session_key too",
            )
        )
        return ()
    return tuple(keys)
