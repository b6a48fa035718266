"""``l7lb check FILE``: validate a configuration without starting anything."""

from __future__ import annotations

import sys

from l7lb.config.load import ConfigError, load_config
from l7lb.config.model import Config
from l7lb.config.summary import summarize
from l7lb.tls.check import check_tls
from l7lb.tls.settings import TlsSettings

EXIT_OK = 0
EXIT_INVALID = 2  # the usage-error convention: the input, not l7lb, is wrong


def check_main(path: str) -> int:
    """Print every error to stderr and return 2, or print the summary and return 0."""
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        for issue in exc.errors:
            print(issue.format(exc.origin), file=sys.stderr)
        count = len(exc.errors)
        print(f"{path}: {count} error{'' if count == 1 else 's'}", file=sys.stderr)
        return EXIT_INVALID
    sys.stdout.write(summarize(cfg))
    failed = _check_tls(cfg)
    if failed:
        print(f"{path}: {failed} TLS error{'' if failed == 1 else 's'}", file=sys.stderr)
        return EXIT_INVALID
    print(f"{path}: configuration OK")
    return EXIT_OK


def _check_tls(cfg: Config) -> int:
    """Per TLS VIP: the names each certificate covers, route hosts no certificate
    covers, certificate problems and certificates expiring within 30 days."""
    failed = 0
    for vip in cfg.vips:
        if not isinstance(vip.tls, TlsSettings):
            continue
        hosts = [h for r in vip.routes for h in r.match.hosts]
        report = check_tls(vip.tls, f'vip "{vip.name}" tls', hosts)
        print(f'vip "{vip.name}" tls:')
        for cert, names in report.covers:
            print(f"  {cert} covers {', '.join(names) or '(no DNS names)'}")
        for where, message, hint in report.warnings:
            print(f"  warning: {where}: {message}" + (f" (hint: {hint})" if hint else ""))
        for where, message, hint in report.errors:
            failed += 1
            line = f"{where}: {message}" + (f" (hint: {hint})" if hint else "")
            print(line, file=sys.stderr)
    return failed
