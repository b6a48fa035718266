"""The command as a real process: bad input gives a clear error and exit 2, never a
traceback; a request l7lb would refuse is explained (exit 0)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from explain_helpers import POLICIES, run_cli

SPLIT = str(POLICIES / "path-split.toml")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["-c", "/nonexistent.toml", "http://h/"], b"", "cannot read the file"),
        (["-c", SPLIT, "ftp://h/"], b"", "the scheme must be http or https"),
        (["-c", SPLIT, "--from", "me", "http://h:8080/"], b"", "--from 'me' is not an IP"),
        (["-c", SPLIT, "-H", "broken", "http://h:8080/"], b"", "write it as 'Name: value'"),
        (["-c", SPLIT, "http://192.0.2.1:9999/"], b"", "no vip listens on 192.0.2.1:9999"),
        (["-c", SPLIT, "--vip", "nope", "http://h:8080/"], b"", "no vip named 'nope'"),
        (["-c", SPLIT], b"", "no request on stdin"),
        (["-c", SPLIT, "-"], b"\n\n", "no request on stdin"),
        (["-c", SPLIT, "--live", "http://h:8080/"], b"", "sets no admin_socket"),
        (["-c", SPLIT, "--bogus"], b"", "unrecognized arguments: --bogus"),
        (["http://h/"], b"", "the following arguments are required: -c/--config"),
    ],
)
def test_bad_input_is_a_clear_error(args: list[str], stdin: bytes, message: str) -> None:
    res = run_cli(*args, stdin=stdin)
    assert res.rc == 2, res
    assert message in res.err
    assert "Traceback" not in res.err and res.out == ""


def test_invalid_configuration_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[vip]]\nname = "v"\nlisten = ["127.0.0.1:80"]\n  [[vip.route]]\n  pool = "nope"\n'
    )
    res = run_cli("-c", str(bad), "http://127.0.0.1/")
    assert res.rc == 2
    assert f'{bad}: vip "v" route 1 pool' in res.err
    assert "Traceback" not in res.err


def test_hostile_raw_requests_are_explained_as_l7lb_answers_them() -> None:
    for raw, status in (
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)), "400"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "400"),
        (b"GET /" + b"x" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", "414"),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n", "431"),
    ):
        res = run_cli("-c", SPLIT, stdin=raw)
        assert res.rc == 0, res.err
        assert f"answer      {status}:" in res.out, res.out[-300:]
        assert "Traceback" not in res.err


def test_help_and_usage() -> None:
    res = run_cli("--help")
    assert res.rc == 0 and "--live" in res.out and "--json" in res.out
    usage = subprocess.run(
        [sys.executable, "-m", "l7lb", "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    assert "explain -c FILE [URL]" in usage
