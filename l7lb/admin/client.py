"""``l7lb admin [-s SOCKET | -c CONFIG] COMMAND ...``: send one command to a
running supervisor and print its answer.

Exit status: 0 done, 1 the supervisor answered ``error: ...``, 2 usage or
connection problems (bad command, no socket configured, nobody listening).
"""

from __future__ import annotations

import argparse
import socket
import sys

from l7lb.admin.commands import HELP, AdminError, parse_command

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
_MAX_ANSWER = 16 * 1024 * 1024  # a show servers of a very large site, with room


def send_command(path: str, line: str, timeout: float = 10.0) -> str:
    """Send ``line`` to the admin socket at ``path``; the whole answer.
    OSError when the socket cannot be reached or the answer does not come."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(line.encode("utf-8") + b"\n")
        chunks: list[bytes] = []
        size = 0
        while size < _MAX_ANSWER:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def _socket_path(args: argparse.Namespace) -> str | None:
    if args.socket:
        return str(args.socket)
    from l7lb.config.load import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for issue in exc.errors:
            print(issue.format(exc.origin), file=sys.stderr)
        return None
    if not config.admin_socket:
        print(
            f"l7lb admin: {args.config} sets no admin_socket "
            '(add admin_socket = "/run/l7lb/admin.sock" and restart)',
            file=sys.stderr,
        )
        return None
    return config.admin_socket


def admin_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="l7lb admin",
        description="Send one command to a running l7lb.",
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("-s", "--socket", help="the admin socket path")
    where.add_argument("-c", "--config", help="read admin_socket from this configuration")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="e.g. show servers")
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on errors, 0 on --help
        return int(exc.code or 0)
    line = " ".join(args.command)
    try:
        parse_command(line)  # refuse a malformed command before connecting
    except AdminError as exc:
        print(f"l7lb admin: {exc}", file=sys.stderr)
        return EXIT_USAGE
    path = _socket_path(args)
    if path is None:
        return EXIT_USAGE
    try:
        answer = send_command(path, line)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        print(f"l7lb admin: cannot reach {path}: {reason} (is l7lb running?)", file=sys.stderr)
        return EXIT_USAGE
    if not answer:
        print(f"l7lb admin: {path} closed without an answer", file=sys.stderr)
        return EXIT_USAGE
    if answer.startswith("error:"):
        sys.stderr.write(answer)
        return EXIT_ERROR
    sys.stdout.write(answer)
    return EXIT_OK
