"""``l7lb ipvs -c FILE [--format keepalived|ipvsadm] [--sysctl]``: print the L4
configuration for the ``[ipvs]`` section of FILE on stdout."""

from __future__ import annotations

import argparse
import sys

from l7lb.config.load import ConfigError, load_config
from l7lb.ipvs.ipvsadm import render_ipvsadm
from l7lb.ipvs.keepalived import render_keepalived
from l7lb.ipvs.plan import NoIpvsSection, plan
from l7lb.ipvs.sysctl import render_sysctl

EXIT_OK = 0
EXIT_INVALID = 2  # as `l7lb check`: the input, not l7lb, is wrong

FORMATS = {"keepalived": render_keepalived, "ipvsadm": render_ipvsadm}


def ipvs_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="l7lb ipvs",
        description="Write the L4 tier (IPVS, keepalived) for the [ipvs] section of FILE.",
    )
    ap.add_argument("-c", "--config", required=True, metavar="FILE", help="configuration (TOML)")
    ap.add_argument(
        "--format",
        choices=sorted(FORMATS),
        default="keepalived",
        help="keepalived.conf (default) or ipvsadm-restore lines",
    )
    ap.add_argument(
        "--sysctl",
        action="store_true",
        help="instead: the shell script of host settings (ARP, VIP on lo, marks)",
    )
    args = ap.parse_args(argv)
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        for issue in exc.errors:
            print(issue.format(exc.origin), file=sys.stderr)
        count = len(exc.errors)
        print(f"{args.config}: {count} error{'' if count == 1 else 's'}", file=sys.stderr)
        return EXIT_INVALID
    try:
        l4 = plan(cfg, args.config)
    except NoIpvsSection:
        print(
            f"{args.config}: no [ipvs] section, nothing to write "
            "(hint: add [ipvs] with directors = [...]; see docs/lvs.md)",
            file=sys.stderr,
        )
        return EXIT_INVALID
    render = render_sysctl if args.sysctl else FORMATS[args.format]
    sys.stdout.write(render(l4))
    return EXIT_OK
