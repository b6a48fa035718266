"""[pool.NAME.persistence], [pool.NAME.health], redispatch, queue_timeout,
server route and persistence_secret: defaults, values and every error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from l7lb.config.health_targets import check_targets
from l7lb.config.load import ConfigError, ConfigIssue, load_config, parse_config
from l7lb.config.model import HealthSettings, Persistence, PersistenceMode, Pool
from l7lb.config.summary import summarize
from l7lb.health.target import StatusRanges

SECRET = "0123456789abcdef-secret"
VIP = """
[[vip]]
name = "www"
listen = ["127.0.0.1:8080"]
  [[vip.route]]
  pool = "web"
"""


def config(pool_body: str = "", top: str = "", servers: str = "", **kw: str) -> str:
    if not servers:
        servers = """
            [[pool.web.server]]
            name = "a"
            address = "10.0.0.1:80"
            [[pool.web.server]]
            name = "b"
            address = "10.0.0.2:80"
        """
    return (
        top
        + VIP
        + "\n[pool.web]\n"
        + textwrap.dedent(pool_body)
        + textwrap.dedent(servers)
        + kw.get("extra", "")
    )


def web(text: str) -> Pool:
    return parse_config(text).pools["web"]


def issues(text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.errors


def one(text: str) -> ConfigIssue:
    found = issues(text)
    assert len(found) == 1, found
    return found[0]


def test_defaults_keep_old_configs_working() -> None:
    pool = web(config())
    assert pool.persistence == Persistence()
    assert not pool.persistence.enabled
    assert pool.health == HealthSettings()
    assert pool.redispatch is True and pool.queue_timeout == 0.0
    assert all(s.route == "" for s in pool.servers)


def test_cookie_mode_values_and_defaults() -> None:
    pool = web(
        config(
            f"""
            redispatch = false
            queue_timeout = "2s"
            [pool.web.persistence]
            mode = "cookie"
            secret = "{SECRET}"
            max_idle = "30m"
            samesite = "Lax"
            """
        )
    )
    p = pool.persistence
    assert p.mode is PersistenceMode.COOKIE and p.name == "L7LB"
    assert p.indirect and p.nocache and p.httponly and p.path == "/"
    assert p.secret == SECRET.encode() and p.max_idle == 1800 and p.samesite == "Lax"
    assert pool.redispatch is False and pool.queue_timeout == 2.0
    assert SECRET not in repr(p)  # the key never reaches a log line
    assert "persistence: insert cookie L7LB, indirect, nocache, max_idle 30m" in summarize(
        parse_config(
            config(
                f'[pool.web.persistence]\nmode = "cookie"\nsecret = "{SECRET}"\nmax_idle = "30m"'
            )
        )
    )


def test_cookie_secret_from_top_level_and_file(tmp_path: Path) -> None:
    top = f'persistence_secret = "{SECRET}"\n'
    pool = web(config('[pool.web.persistence]\nmode = "cookie"', top=top))
    assert pool.persistence.secret == SECRET.encode()
    key = tmp_path / "cookie.key"
    key.write_bytes(b"file-secret-0123456789\n")
    path = tmp_path / "l7lb.toml"
    path.write_text(
        config('[pool.web.persistence]\nmode = "prefix"\nsecret_file = "cookie.key"', top=top)
    )
    assert load_config(str(path)).pools["web"].persistence.secret == b"file-secret-0123456789"


def test_cookie_mode_without_secret_is_an_error() -> None:
    issue = one(config('[pool.web.persistence]\nmode = "cookie"'))
    assert issue.path == 'pool "web" persistence'
    assert "needs a secret" in issue.message
    assert 'set secret = "..." (the same on every director)' in issue.hint


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ('mode = "cookie"\nsecret = "short"', "secret", "shorter than 16"),
        ('mode = "cookie"\nsecret_file = "/nonexistent/key"', "secret_file", "cannot read"),
        (f'mode = "cookie"\nsecret = "{SECRET}"\nsecret_file = "x"', "secret", "both set"),
        ('mode = "sticky"', "mode", "unknown value"),
        (
            f'mode = "cookie"\nsecret = "{SECRET}"\nmask = 24',
            "mask",
            'does not apply to mode = "cookie"',
        ),
        ('mode = "source"\nname = "X"', "name", 'does not apply to mode = "source"'),
        ('mode = "source"\nmask = 33', "mask", "out of range"),
        ('mode = "source"\nmask6 = 129', "mask6", "out of range"),
        ('mode = "source"\ntimeout = "0s"', "timeout", "longer than zero"),
        ('mode = "source"\nmax_entries = 0', "max_entries", "out of range"),
        ('mode = "source"\ntable = ""', "table", "is empty"),
        (f'mode = "cookie"\nsecret = "{SECRET}"\nsamesite = "lax"', "samesite", "unknown value"),
        (f'mode = "cookie"\nsecret = "{SECRET}"\nname = "a b"', "name", "not a valid cookie"),
        ('mode = "jsessionid"\nquery_param = "a=b"', "query_param", "not a parameter name"),
        ('mode = "jsessionid"\nfoo = 1', "foo", "unknown key"),
    ],
)
def test_persistence_errors(body: str, path: str, message: str) -> None:
    issue = one(config("[pool.web.persistence]\n" + body))
    assert issue.path == f'pool "web" persistence {path}', issue
    assert message in issue.message, issue


def test_cookie_attribute_problems_are_reported() -> None:
    body = f'mode = "cookie"\nsecret = "{SECRET}"\npath = "/a;b"'
    issue = one(config("[pool.web.persistence]\n" + body))
    assert issue.path == 'pool "web" persistence' and "path" in issue.message


def test_jsessionid_routes() -> None:
    servers = """
        [[pool.web.server]]
        address = "10.0.0.1:80"
        route = "node1"
        [[pool.web.server]]
        address = "10.0.0.2:80"
        route = "node2"
    """
    pool = web(
        config('[pool.web.persistence]\nmode = "jsessionid"\nlearn = false', servers=servers)
    )
    p = pool.persistence
    assert (p.name, p.path_param, p.query_param, p.timeout) == (
        "JSESSIONID",
        "jsessionid",
        "",
        1800,
    )
    assert [s.route for s in pool.servers] == ["node1", "node2"]
    assert not p.uses_table
    assert "route node1" in summarize(parse_config(config(servers=servers)))
    dup = servers.replace('"node2"', '"node1"')
    issue = one(config(servers=dup))
    assert issue.path == 'pool "web" server 2 route' and "already server 1's route" in issue.message
    bad = one(config(servers=servers.replace('"node2"', '"no de"')))
    assert bad.path == 'pool "web" server 2 route'
    nothing = one(config('[pool.web.persistence]\nmode = "jsessionid"\nlearn = false'))
    assert "nothing to stick on" in nothing.message


def test_source_mode_and_shared_tables() -> None:
    extra = textwrap.dedent(
        """
        [pool.tls]
        [pool.tls.persistence]
        mode = "source"
        table = "site"
        [[pool.tls.server]]
        address = "10.0.0.1:443"
        """
    )
    cfg = parse_config(
        config('[pool.web.persistence]\nmode = "source"\ntable = "site"', extra=extra)
    )
    p = cfg.pools["web"].persistence
    assert (p.mode, p.timeout, p.table, p.mask, p.mask6) == (
        PersistenceMode.SOURCE,
        360,
        "site",
        32,
        128,
    )
    assert p.uses_table
    # the same table with different settings
    issue = one(
        config(
            '[pool.web.persistence]\nmode = "source"\ntable = "site"\ntimeout = "1h"', extra=extra
        )
    )
    assert issue.path == 'pool "tls" persistence table'
    assert 'also used by pool "web"' in issue.message
    masked = web(config('[pool.web.persistence]\nmode = "source"\nmask = 24\nmask6 = 48'))
    assert (masked.persistence.mask, masked.persistence.mask6) == (24, 48)
    # default table name is the pool name
    assert web(config('[pool.web.persistence]\nmode = "source"')).persistence.table == "web"


def test_health_settings_and_targets() -> None:
    text = config(
        """
        [pool.web.health]
        check = "http"
        method = "head"
        path = "/healthz"
        host = "www.example.com"
        expect = "200,204"
        body = "OK"
        port = 8081
        interval = "5s"
        timeout = "500ms"
        rise = 1
        fall = 2
        passive_failures = 0
        """
    )
    cfg = parse_config(text)
    h = cfg.pools["web"].health
    assert (h.check, h.method, h.path, h.port, h.interval, h.timeout) == (
        "http",
        "HEAD",
        "/healthz",
        8081,
        5.0,
        0.5,
    )
    assert h.passive_failures == 0 and h.passive_backoff == 10.0 and h.log
    targets = check_targets(cfg)
    assert [t.server for t in targets] == ["a", "b"]
    t = targets[0]
    assert t.http is not None and t.http.expect == StatusRanges("200,204")
    assert t.http.host == "www.example.com" and t.http.body_contains == b"OK"
    assert t.check_address.port == 8081 and t.rise == 1 and t.fall == 2
    assert "check http HEAD /healthz expect 200,204 every 5s (rise 1, fall 2)" in summarize(cfg)
    tcp = check_targets(parse_config(config('[pool.web.health]\ncheck = "tcp"')))
    assert tcp[0].http is None and tcp[0].port is None
    assert check_targets(parse_config(config())) == []


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ('check = "ping"', "check", "unknown value"),
        ('check = "tcp"\npath = "/x"', "path", 'only applies to check = "http"'),
        ('check = "http"\npath = "x"', "path", "not a request path"),
        ('check = "http"\nexpect = "2xx"', "expect", "invalid status range"),
        ('check = "http"\nmethod = "GE T"', "method", "not an HTTP method"),
        ('check = "tcp"\nrise = 0', "rise", "out of range"),
        ('check = "tcp"\nport = 70000', "port", "out of range"),
        ('check = "tcp"\ninterval = "0s"', "interval", "longer than zero"),
        ('check = "tcp"\npassive_backoff = "0s"', "passive_backoff", "longer than zero"),
        ('check = "tcp"\ninterval = "soon"', "interval", "not a duration"),
    ],
)
def test_health_errors(body: str, path: str, message: str) -> None:
    issue = one(config("[pool.web.health]\n" + body))
    assert issue.path == f'pool "web" health {path}', issue
    assert message in issue.message, issue


def test_top_level_secret_too_short_and_misplaced_keys() -> None:
    issue = one(config(top='persistence_secret = "abc"\n'))
    assert issue.path == "persistence_secret" and "shorter than 16" in issue.message
    misplaced = one(config("mask = 24\n"))
    assert misplaced.path == 'pool "web" mask'
    assert "[pool.<name>.persistence]" in misplaced.hint
    queue = one(config('queue_timeout = "soon"\n'))
    assert queue.path == 'pool "web" queue_timeout'
