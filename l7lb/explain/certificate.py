"""Which certificate a TLS client gets from a VIP, and whether it covers the name.

``l7lb.tls.context.build_vip_tls`` groups the certificates that serve the same
names into one context (an RSA and an ECDSA certificate side by side: the
client's signature algorithms pick one) and maps names to groups with an
``SniMap``, first certificate first. Its SNI callback then answers: no SNI,
the default certificate; a known name, that name's group; an unknown name,
the default, or an ``unrecognized_name`` alert under ``strict_sni``. The same
map, built here from the same files with ``certinfo.describe`` (the key files
are not read), gives the same answer without making SSL contexts.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field

from l7lb.tls.certinfo import CertificateError, CertInfo, describe
from l7lb.tls.settings import TlsSettings
from l7lb.tls.sni import SniMap


@dataclass(frozen=True, slots=True)
class CertSummary:
    path: str
    names: tuple[str, ...]
    key: str  # "EC 256", "RSA 2048"
    not_after: str  # ISO date, UTC
    expired: bool


@dataclass(frozen=True, slots=True)
class CertChoice:
    sni: str | None  # what the client sends
    # "exact" | "wildcard" | "default-no-sni" | "default-unknown" | "refused", or
    # "unknown": a certificate file cannot be read, so neither can the answer be
    outcome: str
    certificates: tuple[CertSummary, ...]  # the group that serves (empty when refused)
    name_ok: bool | None  # the served certificate covers the URL's host (None: unknown)
    problems: tuple[str, ...] = field(default=())  # unreadable files, expired certificates

    @property
    def refused(self) -> bool:
        return self.outcome == "refused"


def _summary(info: CertInfo, now: dt.datetime) -> CertSummary:
    return CertSummary(
        path=info.path,
        names=info.names,
        key=f"{info.key_type} {info.key_size}",
        not_after=info.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        expired=info.not_after <= now,
    )


def choose_certificate(
    settings: TlsSettings, sni: str | None, url_host: str, now: dt.datetime | None = None
) -> CertChoice:
    """The certificate(s) a client sending ``sni`` gets; ``url_host`` is the
    name the client then checks the certificate against."""
    now = now or dt.datetime.now(dt.UTC)
    problems: list[str] = []
    infos: list[CertInfo | None] = []
    for cert in settings.certificates:
        try:
            infos.append(describe(cert.cert))
        except CertificateError as exc:
            problems.append(str(exc))
            infos.append(None)
    # as build_vip_tls: one group per set of names, names mapped in file order
    groups: dict[frozenset[str], list[CertInfo]] = {}
    names: SniMap[frozenset[str]] = SniMap()
    for info in infos:
        if info is None:
            continue
        key = frozenset(info.names)
        groups.setdefault(key, []).append(info)
        names.add(info.names, key)
    default_info = infos[settings.default_certificate]
    default = frozenset(default_info.names) if default_info is not None else None

    chosen: frozenset[str] | None
    if sni is None:
        chosen, outcome = default, "default-no-sni"
    else:
        chosen = names.lookup(sni)
        if chosen is not None:
            exact = sni.lower().rstrip(".") in names.exact
            outcome = "exact" if exact else "wildcard"
        elif problems:
            chosen, outcome = None, "unknown"  # an unreadable certificate may name it
        elif settings.strict_sni:
            chosen, outcome = None, "refused"
        else:
            chosen, outcome = default, "default-unknown"
    if chosen is None:
        if outcome not in ("refused", "unknown"):
            problems.append("the default certificate cannot be read: which one serves is unknown")
        served: tuple[CertSummary, ...] = ()
        name_ok: bool | None = None
    else:
        served = tuple(_summary(i, now) for i in groups[chosen])
        check: SniMap[bool] = SniMap()
        check.add(chosen, True)
        # the client checks the URL's host (an IP literal is checked against IP SANs,
        # which l7lb does not read: unknown)
        name_ok = check.covers(url_host) if sni is not None or not _is_ip(url_host) else None
    for s in served:
        if s.expired:
            problems.append(f"{s.path} expired on {s.not_after}")
    return CertChoice(sni, outcome, served, name_ok, tuple(problems))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
