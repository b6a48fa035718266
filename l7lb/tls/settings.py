"""Typed TLS settings of one VIP, parsed from its ``[vip.tls]`` table.

``parse_tls_table`` is sans-IO: it checks types and values and returns
``(path, message, hint)`` issues for ``l7lb.config.load`` to merge with its
own. Files are not opened here; ``l7lb.tls.context`` loads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from l7lb.config.durations import parse_durations

Issue = tuple[str, str, str]  # (key path, what is wrong, how to fix it)

# Mozilla "intermediate" TLS 1.2 list: forward-secret AEAD suites only.
DEFAULT_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
)
DEFAULT_CIPHERSUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

# Upper bound of ``tickets_per_handshake``: every ticket is a callback and an
# encryption on the handshake's CPU; browsers keep a handful per host at most.
MAX_TICKETS_PER_HANDSHAKE = 8

# ALPN protocols l7lb can serve, and the default offer (in the server's order of preference)
ALPN_PROTOCOLS = ("h2", "http/1.1")
DEFAULT_ALPN = ("h2", "http/1.1")


@dataclass(frozen=True, slots=True)
class Certificate:
    cert: str  # PEM chain file: leaf first, then intermediates
    key: str  # PEM private key file


@dataclass(frozen=True, slots=True)
class TlsSettings:
    certificates: tuple[Certificate, ...]
    default_certificate: int = 0  # index into ``certificates``: no SNI / unknown name
    strict_sni: bool = False  # refuse unknown names (alert unrecognized_name)
    min_version: str = "1.2"  # "1.2" | "1.3"
    ciphers: str = DEFAULT_CIPHERS  # TLS 1.2 cipher list (OpenSSL syntax)
    ciphersuites: str = DEFAULT_CIPHERSUITES  # TLS 1.3 suites
    tickets: bool = True
    # TLS 1.3 tickets sent after a full handshake (OpenSSL's num_tickets, default 2);
    # each costs a ticket-key callback and an encryption, see docs/configuration.md
    tickets_per_handshake: int = 1
    ticket_rotation: float = 3600.0  # seconds a ticket key is current
    session_cache: bool = True  # server-side session-ID cache
    session_lifetime: float = 300.0  # seconds
    handshake_timeout: float = 5.0  # from accept to the end of the handshake
    # ALPN protocols offered, preferred first: ("http/1.1",) turns HTTP/2 off on this VIP
    alpn: tuple[str, ...] = DEFAULT_ALPN


_KNOWN = {
    "certificates",
    "default_certificate",
    "strict_sni",
    "min_version",
    "ciphers",
    "ciphersuites",
    "tickets",
    "tickets_per_handshake",
    "ticket_rotation",
    "session_cache",
    "session_lifetime",
    "handshake_timeout",
    "alpn",
}


def parse_tls_table(table: dict[str, Any], where: str) -> tuple[TlsSettings | None, list[Issue]]:
    """Build ``TlsSettings`` from a ``[vip.tls]`` table; ``where`` prefixes key paths."""
    issues: list[Issue] = []
    if not isinstance(table, dict):
        return None, [(where, "must be a table", "write [vip.tls] with certificates = [...]")]
    for key in table:
        if key not in _KNOWN:
            issues.append(
                (f"{where}.{key}", "unknown key", "known keys: " + ", ".join(sorted(_KNOWN)))
            )

    certs = _parse_certificates(table.get("certificates"), f"{where}.certificates", issues)
    kw: dict[str, Any] = {}

    default = table.get("default_certificate", 0)
    if isinstance(default, bool) or not isinstance(default, int | str):
        issues.append(
            (
                f"{where}.default_certificate",
                "must be an index or a certificate file path",
                "e.g. default_certificate = 0",
            )
        )
    elif isinstance(default, str):
        paths = [c.cert for c in certs]
        if default in paths:
            kw["default_certificate"] = paths.index(default)
        else:
            issues.append(
                (
                    f"{where}.default_certificate",
                    f"{default!r} is not one of the listed certificates",
                    "use the cert path of an entry in certificates, or its index",
                )
            )
    elif certs and not 0 <= default < len(certs):
        issues.append(
            (
                f"{where}.default_certificate",
                f"index {default} out of range",
                f"use 0..{len(certs) - 1}",
            )
        )
    else:
        kw["default_certificate"] = default

    for key in ("strict_sni", "tickets", "session_cache"):
        if key in table:
            if isinstance(table[key], bool):
                kw[key] = table[key]
            else:
                issues.append((f"{where}.{key}", "must be true or false", f"{key} = true"))

    if "tickets_per_handshake" in table:
        n = table["tickets_per_handshake"]
        if isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_TICKETS_PER_HANDSHAKE:
            kw["tickets_per_handshake"] = n
        else:
            issues.append(
                (
                    f"{where}.tickets_per_handshake",
                    f"must be an integer from 0 to {MAX_TICKETS_PER_HANDSHAKE}, got {n!r}",
                    "tickets_per_handshake = 1 (2 for clients that open parallel connections)",
                )
            )

    if "min_version" in table:
        mv = table["min_version"]
        if mv in ("1.2", "1.3"):
            kw["min_version"] = mv
        else:
            issues.append(
                (
                    f"{where}.min_version",
                    f"unsupported value {mv!r}",
                    'use "1.2" (default) or "1.3"; older versions are insecure',
                )
            )

    for key in ("ciphers", "ciphersuites"):
        if key in table:
            val = table[key]
            if isinstance(val, str) and val.strip():
                kw[key] = val.strip()
            else:
                issues.append(
                    (f"{where}.{key}", "must be a non-empty OpenSSL list", "omit it for defaults")
                )

    if "alpn" in table:
        alpn = _parse_alpn(table["alpn"], f"{where}.alpn", issues)
        if alpn is not None:
            kw["alpn"] = alpn

    limits = {
        "ticket_rotation": (1.0, 7 * 86400.0, "1h"),
        "session_lifetime": (1.0, 86400.0, "5m"),
        "handshake_timeout": (0.1, 300.0, "5s"),
    }
    kw.update(parse_durations(table, limits, where, issues))

    if issues or not certs:
        return None, issues
    return TlsSettings(certificates=tuple(certs), **kw), issues


def _parse_alpn(raw: Any, where: str, issues: list[Issue]) -> tuple[str, ...] | None:
    hint = 'alpn = ["h2", "http/1.1"] (the default), or ["http/1.1"] to turn HTTP/2 off'
    if not isinstance(raw, list) or not raw or not all(isinstance(p, str) for p in raw):
        issues.append((where, "must be a non-empty list of protocol names", hint))
        return None
    unknown = [p for p in raw if p not in ALPN_PROTOCOLS]
    if unknown:
        issues.append(
            (
                where,
                f"unknown protocol {unknown[0]!r}",
                "l7lb serves " + " and ".join(ALPN_PROTOCOLS),
            )
        )
        return None
    if len(set(raw)) != len(raw):
        issues.append((where, "a protocol is listed twice", hint))
        return None
    return tuple(raw)


def _parse_certificates(raw: Any, where: str, issues: list[Issue]) -> list[Certificate]:
    hint = 'certificates = [{cert = "certs/www.pem", key = "certs/www.key"}]'
    if raw is None:
        issues.append((where, "missing: a TLS VIP needs at least one certificate", hint))
        return []
    if not isinstance(raw, list) or not raw:
        issues.append((where, "must be a non-empty list of {cert, key} tables", hint))
        return []
    out = []
    for i, entry in enumerate(raw):
        path = f"{where}[{i}]"
        if not isinstance(entry, dict):
            issues.append((path, "must be a table with cert and key", hint))
            continue
        extra = set(entry) - {"cert", "key"}
        if extra:
            issues.append((path, f"unknown keys {sorted(extra)}", "only cert and key"))
        cert, key = entry.get("cert"), entry.get("key")
        ok = True
        for name, val in (("cert", cert), ("key", key)):
            if not isinstance(val, str) or not val:
                issues.append((f"{path}.{name}", "must be a file path", hint))
                ok = False
        if ok:
            out.append(Certificate(cert=str(cert), key=str(key)))
    return out
