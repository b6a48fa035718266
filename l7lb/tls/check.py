"""What ``l7lb check`` reports about one VIP's certificates.

Per certificate: the names it covers. Problems (errors): unreadable files,
key/certificate mismatch, chain out of order, expired. Warnings: expiry
within ``warn_days``, route host names no certificate covers (clients would
get the default certificate and a name mismatch).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from l7lb.tls.certinfo import CertificateError, CertInfo, check_pair, describe
from l7lb.tls.settings import Issue, TlsSettings
from l7lb.tls.sni import SniMap


@dataclass
class TlsReport:
    covers: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (cert, names)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)


def check_tls(
    settings: TlsSettings,
    where: str,
    route_hosts: Iterable[str] = (),
    *,
    now: dt.datetime | None = None,
    warn_days: int = 30,
) -> TlsReport:
    now = now or dt.datetime.now(dt.UTC)
    report = TlsReport()
    names: SniMap[str] = SniMap()
    for i, cert in enumerate(settings.certificates):
        path = f"{where}.certificates[{i}]"
        info: CertInfo | None = None
        try:
            info = check_pair(cert.cert, cert.key, now=now)
        except CertificateError as exc:
            report.errors.append((path, str(exc), "fix the file, or run `l7lb certs show` on it"))
            try:
                info = describe(cert.cert)  # still report its names if it is readable
            except CertificateError:
                continue
        report.covers.append((cert.cert, info.names))
        names.add(info.names, cert.cert)
        left = info.not_after - now
        if dt.timedelta(0) < left < dt.timedelta(days=warn_days):
            report.warnings.append(
                (
                    path,
                    f"{cert.cert} expires in {left.days} days ({info.not_after:%Y-%m-%d})",
                    "renew it: `l7lb certs new --cn ...` makes the key and CSR",
                )
            )
    for host in route_hosts:
        probe = "l7lb-probe" + host[1:] if host.startswith("*.") else host
        if not names.covers(probe):
            report.warnings.append(
                (
                    where,
                    f"route host {host!r} is covered by no certificate",
                    "add a certificate whose SAN lists it, or clients see a name mismatch",
                )
            )
    return report
