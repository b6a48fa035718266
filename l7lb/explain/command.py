"""``l7lb explain -c FILE [options] [URL]``: the command line.

Exit status: 0 the request was explained (whatever l7lb would answer it,
404 and 503 included), 2 it could not be (bad configuration, URL, option or
request input; the admin socket unreachable with ``--live``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from l7lb.config.load import ConfigError, load_config
from l7lb.explain.decision import PoolStates
from l7lb.explain.explanation import explain, refused_request
from l7lb.explain.live import LiveError, apply_rows, fetch_rows
from l7lb.explain.report import render
from l7lb.explain.request import (
    MAX_STDIN,
    RefusedRequest,
    RequestError,
    build_from_url,
    read_raw,
)
from l7lb.explain.vip import VipError, choose_vip

EXIT_OK = 0
EXIT_USAGE = 2

EPILOG = """\
examples:
  l7lb explain -c policies/persistence-cookie.toml --from 198.51.100.7 \\
      --cookie SHOPSRV=... https://shop.example.com/cart
  printf 'GET /api/x HTTP/1.1\\r\\nHost: www.example.com\\r\\n\\r\\n' |
      l7lb explain -c FILE --vip site
  l7lb explain -c /etc/l7lb/l7lb.toml --live http://192.0.2.10/

Without a URL the request is read raw from stdin (bare LF line ends are accepted).
The VIP is the one listening on the URL's address and port (no DNS: a host name
matches by port and scheme); --vip NAME chooses it.
"""


def _fail(message: str) -> int:
    print(f"l7lb explain: {message}", file=sys.stderr)
    return EXIT_USAGE


def explain_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="l7lb explain",
        description="Where would this request go, and why? (offline; --live for server states)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("-c", "--config", required=True, help="configuration file (TOML)")
    ap.add_argument("url", nargs="?", help="http:// or https:// URL; none or - reads stdin")
    ap.add_argument("--from", dest="source", metavar="IP", help="the client's address")
    ap.add_argument(
        "--cookie", action="append", default=[], metavar="NAME=VALUE", help="send a cookie"
    )
    ap.add_argument(
        "-H", "--header", action="append", default=[], metavar="'H: v'", help="send a header"
    )
    ap.add_argument("-X", "--method", default="GET", help="request method (default GET)")
    ap.add_argument("--vip", metavar="NAME", help="the VIP the request reaches")
    ap.add_argument("--live", action="store_true", help="server states from the admin socket")
    ap.add_argument("-s", "--socket", metavar="PATH", help="admin socket (default: admin_socket)")
    ap.add_argument("--json", action="store_true", help="print JSON (docs/explain.md)")
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on errors, 0 on --help
        return int(exc.code or 0)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for issue in exc.errors:
            print(issue.format(exc.origin), file=sys.stderr)
        return EXIT_USAGE

    http = config.http
    try:
        if args.url is not None and args.url != "-":
            req = build_from_url(
                args.url,
                method=args.method,
                headers=args.header,
                cookies=args.cookie,
                source=args.source,
                parser=http.parser,
                limits=http.limits,
            )
        else:
            if args.header or args.cookie or args.method != "GET":
                return _fail("--header, --cookie and -X go with a URL; a raw request says it all")
            if sys.stdin.isatty():
                return _fail("give a URL, or pipe a raw request on stdin")
            data = sys.stdin.buffer.read(MAX_STDIN + 1)
            req = read_raw(data, source=args.source, parser=http.parser, limits=http.limits)
    except RequestError as exc:
        return _fail(str(exc))
    except RefusedRequest as exc:
        return _print(refused_request(exc.raw, exc.source, exc.status, exc.reason), args.json)

    try:
        choice = choose_vip(config, req.destination, args.vip)
    except VipError as exc:
        return _fail(str(exc))

    states = PoolStates(config)
    live_notes: list[str] | None = None
    socket_path = args.socket or config.admin_socket
    if args.live:
        if not socket_path:
            return _fail(
                f"--live: {args.config} sets no admin_socket (or give -s PATH); "
                "without it the explanation is offline"
            )
        try:
            live_notes = apply_rows(states, fetch_rows(socket_path))
        except LiveError as exc:
            return _fail(f"--live: {exc}")
    out = explain(config, req, choice, states, now=time.time(), loop_now=time.monotonic())
    if live_notes is not None:
        out["live"] = {"socket": socket_path, "notes": live_notes}
    return _print(out, args.json)


def _print(out: dict[str, object], as_json: bool) -> int:
    if as_json:
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        sys.stdout.write(render(out))
    return EXIT_OK
