"""[admin], pid_file and drain_grace in the configuration: values, defaults, errors."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from l7lb.config.load import ConfigError, load_config, parse_config
from l7lb.config.model import Address, AdminSettings
from l7lb.config.summary import summarize

POLICIES = Path(__file__).resolve().parents[2] / "policies"
TOKEN = "0123456789abcdef0123456789abcdef"
BASE = textwrap.dedent(
    """
    [[vip]]
    name = "www"
    listen = ["127.0.0.1:8080"]
      [[vip.route]]
      pool = "web"
    [pool.web]
      [[pool.web.server]]
      address = "10.0.0.1:80"
    """
)


def write(tmp_path: Path, top: str, token: str | None = TOKEN, mode: int = 0o600) -> Path:
    if token is not None:
        t = tmp_path / "admin.token"
        t.write_text(token + "\n")
        t.chmod(mode)
    cfg = tmp_path / "l7lb.toml"
    cfg.write_text(textwrap.dedent(top) + BASE)
    return cfg


def errors(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    return [str(issue) for issue in caught.value.errors]


def test_defaults_are_off() -> None:
    cfg = parse_config(BASE)
    assert cfg.admin == AdminSettings()
    assert cfg.admin.listen is None and cfg.admin.token == b""
    assert cfg.pid_file == "" and cfg.timeouts.drain_grace == 0.0


def test_full_admin_section(tmp_path: Path) -> None:
    cfg = load_config(
        str(
            write(
                tmp_path,
                """
                pid_file = "run/l7lb.pid"
                [admin]
                listen = "0.0.0.0:9100"
                token_file = "admin.token"
                max_connections = 8
                timeout = "2s"
                [timeouts]
                drain_grace = "5s"
                """,
            )
        )
    )
    assert cfg.admin.listen == Address("0.0.0.0", 9100)
    assert cfg.admin.token == TOKEN.encode()  # the newline is not part of it
    assert cfg.admin.token_file == "admin.token"
    assert (cfg.admin.max_connections, cfg.admin.timeout) == (8, 2.0)
    assert cfg.timeouts.drain_grace == 5.0
    # relative to the configuration file, wherever l7lb reload runs from
    assert cfg.pid_file == str(tmp_path / "run" / "l7lb.pid")
    assert "0123456789abcdef" not in repr(cfg.admin)  # the token never reaches a log line


def test_loopback_without_a_token_is_fine() -> None:
    for listen in ("127.0.0.1:9100", "127.0.0.2:9100", "[::1]:9100", "localhost:9100"):
        cfg = parse_config(f'[admin]\nlisten = "{listen}"\n' + BASE)
        assert cfg.admin.listen is not None and cfg.admin.token == b""


@pytest.mark.parametrize(
    "listen", ["0.0.0.0:9100", "192.0.2.1:9100", "[::]:9100", "admin.lan:9100"]
)
def test_beyond_loopback_without_a_token_is_an_error(listen: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f'[admin]\nlisten = "{listen}"\n' + BASE)
    [issue] = caught.value.errors
    assert issue.path == "admin listen"
    assert "reachable from other hosts" in issue.message and "no token_file" in issue.message
    assert 'token_file = "/etc/l7lb/admin.token"' in issue.hint
    assert 'listen = "127.0.0.1:9100"' in issue.hint


@pytest.mark.parametrize(
    ("token", "mode", "message"),
    [
        ("short", 0o600, "is 5 bytes, under 16"),
        ("has spaces in the middle of it", 0o600, "characters a bearer token cannot carry"),
        (TOKEN, 0o644, "is readable by every user"),
        ("", 0o600, "is 0 bytes"),
    ],
)
def test_bad_token_files(tmp_path: Path, token: str, mode: int, message: str) -> None:
    top = '[admin]\nlisten = "0.0.0.0:9100"\ntoken_file = "admin.token"\n'
    [issue] = errors(write(tmp_path, top, token, mode))
    assert issue.startswith("admin token_file: ") and message in issue
    if mode == 0o644:
        assert f"chmod 600 {tmp_path}/admin.token" in issue


def test_missing_token_file(tmp_path: Path) -> None:
    top = '[admin]\nlisten = "127.0.0.1:9100"\ntoken_file = "nope.token"\n'
    [issue] = errors(write(tmp_path, top, None))
    assert issue.startswith("admin token_file: cannot read 'nope.token': No such file")
    assert "openssl rand -hex 32" in issue


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ('listen = "127.0.0.1"', "admin listen: address '127.0.0.1': the port is missing"),
        ("listen = 9100", "admin listen: expected a string"),
        ('listen = "127.0.0.1:9100"\nmax_connections = 0', "admin max_connections: 0 is out of"),
        ('listen = "127.0.0.1:9100"\ntimeout = "0s"', "admin timeout: 0s is out of range"),
        ('listen = "127.0.0.1:9100"\nlisten_address = "x"', "admin listen_address: unknown key"),
        ('listen = "127.0.0.1:8080"', "admin listen: 127.0.0.1:8080 is also vip"),
        ('listen = "0.0.0.0:8080"\ntoken_file = "admin.token"', "is also vip"),
    ],
)
def test_admin_errors_name_the_key(tmp_path: Path, section: str, expected: str) -> None:
    problems = errors(write(tmp_path, "[admin]\n" + section + "\n"))
    assert any(p.startswith(expected) or expected in p for p in problems), problems


def test_admin_must_be_a_table_and_drain_grace_a_duration() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('admin = "127.0.0.1:9100"\n[timeouts]\ndrain_grace = "soon"\n' + BASE)
    paths = [issue.path for issue in caught.value.errors]
    assert sorted(paths) == ["admin", "timeouts drain_grace"]


def test_demo_policy_turns_the_admin_listener_on() -> None:
    for path in (POLICIES / "demo.toml", POLICIES.parent / "l7lb" / "demo" / "demo.toml"):
        cfg = load_config(str(path))
        assert cfg.admin.listen == Address("127.0.0.1", 9100)
        assert cfg.admin.token == b""  # loopback: reading open, actions off


def test_world_readable_check_reads_the_real_mode(tmp_path: Path) -> None:
    """The rule follows the file's mode, not its name: fixing the mode fixes it."""
    top = '[admin]\nlisten = "0.0.0.0:9100"\ntoken_file = "admin.token"\n'
    cfg_path = write(tmp_path, top, TOKEN, 0o604)
    assert errors(cfg_path)
    os.chmod(tmp_path / "admin.token", 0o640)  # group-readable is allowed (an operators' group)
    assert load_config(str(cfg_path)).admin.token == TOKEN.encode()


def test_check_summary_shows_the_admin_keys(tmp_path: Path) -> None:
    top = 'pid_file = "l7lb.pid"\n[admin]\nlisten = "0.0.0.0:9100"\ntoken_file = "admin.token"\n'
    text = summarize(load_config(str(write(tmp_path, top + '[timeouts]\ndrain_grace = "5s"\n'))))
    lines = text.splitlines()
    assert lines[0].endswith(f"; pid file {tmp_path}/l7lb.pid")
    assert lines[1] == "admin listener http://0.0.0.0:9100/; actions need the bearer token"
    assert lines[2].endswith(", drain 30s, drain_grace 5s")
    plain = summarize(parse_config('[admin]\nlisten = "127.0.0.1:9100"\n' + BASE)).splitlines()
    assert plain[1] == "admin listener http://127.0.0.1:9100/; actions off: no token_file"
