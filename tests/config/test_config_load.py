"""Every validation rule of l7lb.config.load: the key path and the message."""

from __future__ import annotations

import ipaddress
import textwrap
from pathlib import Path

import pytest

from l7lb.config.load import ConfigError, ConfigIssue, load_config, parse_address, parse_config
from l7lb.config.model import Address, HeaderMatch, Scheduler, StaticResponse

POOL = """
[pool.web]
  [[pool.web.server]]
  address = "10.0.0.1:80"
"""


def vip(route: str = 'pool = "web"', listen: str = '"127.0.0.1:8080"', extra: str = "") -> str:
    return f"""
[[vip]]
name = "www"
listen = [{listen}]
{extra}
  [[vip.route]]
  {route}
"""


def issues(text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text))
    return info.value.errors


def one(text: str) -> ConfigIssue:
    found = issues(text)
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------- valid input


def test_minimal_config_loads_with_defaults() -> None:
    text = vip() + POOL
    cfg = parse_config(text)
    assert cfg.source == text
    assert cfg.workers == 0
    assert cfg.timeouts.keepalive == 2.0
    assert cfg.http.parser == "auto"
    assert cfg.log.format == "combined"
    (v,) = cfg.vips
    assert v.name == "www"
    assert v.listen == (Address("127.0.0.1", 8080),)
    assert v.routes[0].name == "route 1"
    assert v.routes[0].pool == "web"
    pool = cfg.pools["web"]
    assert pool.scheduler is Scheduler.WRR
    assert pool.servers[0].name == "web-1"
    assert pool.servers[0].weight == 1


def test_full_example_from_the_brief_loads() -> None:
    text = """
    workers = 2
    admin_socket = "/run/l7lb.sock"
    [timeouts]
    request_head="10s"
    keepalive="500ms"
    backend_connect=3
    backend_response="1m"
    client_idle="1h"
    drain=0
    [http]
    parser="h11"
    max_head_size=8192
    max_headers=50
    max_uri_length=4096
    forwarded=true
    via="edge"
    [log]
    access="off"
    format="json"
    exclude_paths=["/healthz"]
    level="warning"
    [[vip]]
    name = "web"
    listen = ["127.0.0.1:8080", "[::1]:8080"]
      [[vip.route]]
      name = "api"
      host = ["*.Example.com", "example.com"]
      path_prefix = "/api"
      path_regex = '^/api/v[0-9]+/'
      method = ["get", "POST"]
      header = { "X-Env" = "beta", "X-Debug" = true, "X-User" = { regex = "^u" } }
      source = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]
      pool = "api"
      [[vip.route]]
      host = "old.example.com"
      redirect = { location = "https://{host}{uri}", status = 301 }
      [[vip.route]]
      respond = { status = 404, body = "nope", content_type = "text/html", headers = { X-A = "1" } }
    [pool.api]
    scheduler = "chash"
    hash_key = "header:X-User"
    max_idle = 0
    idle_timeout = "30s"
    fallback = "sorry"
      [[pool.api.server]]
      name = "api1"
      address = "10.0.0.5:80"
      weight = 0
      max_conn = 10
      backup = true
      [[pool.api.server]]
      address = "backend.internal:8080"
    [pool.sorry]
    fallback = { body = "sorry" }
    """
    cfg = parse_config(textwrap.dedent(text), "full.toml")
    assert cfg.workers == 2
    assert cfg.admin_socket == "/run/l7lb.sock"
    assert cfg.timeouts.keepalive == 0.5
    assert cfg.timeouts.backend_connect == 3.0
    assert cfg.timeouts.backend_response == 60.0
    assert cfg.timeouts.client_idle == 3600.0
    assert cfg.timeouts.drain == 0.0
    assert cfg.http.parser == "h11"
    assert cfg.http.limits.max_head_size == 8192
    assert cfg.http.limits.max_headers == 50
    assert cfg.http.limits.max_uri_length == 4096
    assert cfg.http.forwarded is True
    assert cfg.http.via == "edge"
    assert cfg.log.access == "off"
    assert cfg.log.exclude_paths == ("/healthz",)
    assert cfg.log.level == "warning"
    web = cfg.vips[0]
    assert web.listen[1] == Address("::1", 8080)
    api = web.routes[0]
    assert api.name == "api"
    assert api.match.hosts == ("*.example.com", "example.com")
    assert api.match.methods == ("GET", "POST")
    assert api.match.path_regex is not None
    assert api.match.path_regex.search("/api/v2/x")
    assert api.match.headers[0] == HeaderMatch(b"x-env", value="beta")
    assert api.match.headers[1] == HeaderMatch(b"x-debug")
    assert api.match.headers[2].regex is not None
    assert api.match.sources[2] == ipaddress.ip_network("192.0.2.7/32")
    redirect = web.routes[1].redirect
    assert redirect is not None
    assert (redirect.location, redirect.status) == ("https://{host}{uri}", 301)
    assert web.routes[2].respond == StaticResponse(404, b"nope", "text/html", (("X-A", "1"),))
    api_pool = cfg.pools["api"]
    assert api_pool.scheduler is Scheduler.CHASH
    assert api_pool.hash_key == "header:X-User"
    assert api_pool.fallback_pool == "sorry"
    assert api_pool.idle_timeout == 30.0
    assert api_pool.max_idle == 0
    first, second = api_pool.servers
    assert (first.name, first.weight, first.max_conn, first.backup) == ("api1", 0, 10, True)
    assert second.name == "api-2"
    assert second.address == Address("backend.internal", 8080)
    # fallback tables default to 503, not 200
    assert cfg.pools["sorry"].fallback_response == StaticResponse(503, b"sorry")
    assert cfg.pools["sorry"].servers == ()


def test_redirect_status_defaults_to_302() -> None:
    cfg = parse_config(vip('redirect = { location = "/new" }'))
    redirect = cfg.vips[0].routes[0].redirect
    assert redirect is not None and redirect.status == 302


# ---------------------------------------------------------------- all errors at once


def test_every_error_is_reported_in_one_pass() -> None:
    text = """
    workers = -1
    [http]
    parser = "fast"
    [[vip]]
    name = "www"
    listen = ["127.0.0.1:80x"]
      [[vip.route]]
      pool = "nope"
    [pool.web]
      [[pool.web.server]]
      address = "10.0.0.5"
    """
    paths = [issue.path for issue in issues(text)]
    assert paths == [
        "workers",
        "http parser",
        'vip "www" listen',
        'vip "www" route 1 pool',
        'pool "web" server 1',
    ]


def test_config_error_str_formats_every_issue() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("workers = -1\nhttp = { parser = 1 }\n", "my.toml")
    lines = str(info.value).splitlines()
    assert lines[0] == "my.toml: workers: -1 is out of range (hint: use an integer 0 or more)"
    assert lines[1].startswith("my.toml: http parser: expected a string, got an integer (1)")
    assert info.value.origin == "my.toml"


def test_issue_str_and_format() -> None:
    issue = ConfigIssue('pool "a" server 1', "bad", "fix it")
    assert str(issue) == 'pool "a" server 1: bad (hint: fix it)'
    assert issue.format("f.toml") == 'f.toml: pool "a" server 1: bad (hint: fix it)'
    assert ConfigIssue("", "no vip").format("f.toml") == "f.toml: no vip"


# ---------------------------------------------------------------- unknown keys


def test_unknown_key_suggests_the_closest_one() -> None:
    issue = one("worker = 2\n" + vip() + POOL)
    assert issue == ConfigIssue("worker", "unknown key", 'did you mean "workers"?')


def test_unknown_nested_key_names_its_path() -> None:
    text = vip() + POOL.replace('address = "10', 'weigth = 2\n  address = "10')
    assert one(text) == ConfigIssue(
        'pool "web" server 1 weigth', "unknown key", 'did you mean "weight"?'
    )


def test_key_in_the_wrong_table_says_where_it_belongs() -> None:
    issue = one('keepalive = "2s"\n' + vip() + POOL)
    assert issue.path == "keepalive"
    assert issue.hint == '"keepalive" belongs in [timeouts]'


def test_unrelated_unknown_key_lists_the_allowed_keys() -> None:
    issue = one(vip() + POOL + "[log]\nzzz = 1\n")
    assert issue.path == "log zzz"
    assert issue.hint == "keys allowed here: access, format, exclude_paths, level"


def test_tls_table_errors_name_their_key_path() -> None:
    paths = {i.path for i in issues(vip(extra='tls = { cert = "a.pem" }') + POOL)}
    assert 'vip "www" tls.cert' in paths  # unknown key
    assert any(p.startswith('vip "www" tls.certificates') for p in paths)  # missing certificates


def test_tls_table_is_parsed_into_the_vip() -> None:
    cfg = parse_config(
        vip(extra='tls = { certificates = [{ cert = "a.pem", key = "a.key" }], strict_sni = true }')
        + POOL
    )
    tls = cfg.vips[0].tls
    assert tls is not None and tls.strict_sni and tls.certificates[0].cert == "a.pem"


# ---------------------------------------------------------------- top level and sections


def test_no_vip_is_an_error() -> None:
    issue = one(POOL)
    assert (issue.path, issue.message) == ("", "no vip is defined")


def test_vip_without_listen() -> None:
    text = '[[vip]]\nname = "www"\n  [[vip.route]]\n  pool = "web"\n' + POOL
    assert one(text).path == 'vip "www"'
    assert one(text).message == "the vip has no listen address"


def test_vip_with_empty_listen_list() -> None:
    issue = one(vip(listen="") + POOL)
    assert (issue.path, issue.message) == ('vip "www" listen', "is an empty list")


def test_vip_written_as_a_table_not_an_array() -> None:
    issue = issues('[vip]\nname = "www"\n')[0]
    assert issue.path == "vip"
    assert issue.message == "expected an array of tables, got a table"
    assert issue.hint == "write [[vip]]"


def test_pool_written_as_an_array() -> None:
    issue = issues(vip("respond = { status = 200 }") + '[[pool]]\nname = "web"\n')[0]
    assert issue.path == "pool"
    assert issue.message.startswith("expected a table of pools, got an array")


def test_workers_must_not_be_negative() -> None:
    issue = one("workers = -1\n" + vip() + POOL)
    assert (issue.path, issue.message) == ("workers", "-1 is out of range")


def test_quoted_integer_hint_removes_the_quotes() -> None:
    issue = one('workers = "2"\n' + vip() + POOL)
    assert issue.message == 'expected an integer, got a string ("2")'
    assert issue.hint == "remove the quotes: workers = 2"


def test_boolean_is_not_an_integer() -> None:
    issue = one("workers = true\n" + vip() + POOL)
    assert issue.message == "expected an integer, got a boolean (true)"


@pytest.mark.parametrize("key", ["max_head_size", "max_headers", "max_uri_length"])
def test_http_limits_must_be_positive(key: str) -> None:
    issue = one(f"[http]\n{key} = 0\n" + vip() + POOL)
    assert (issue.path, issue.message) == (f"http {key}", "0 is out of range")


def test_http_parser_choices() -> None:
    issue = one('[http]\nparser = "http11"\n' + vip() + POOL)
    assert (issue.path, issue.message) == ("http parser", 'unknown value "http11"')
    assert issue.hint.startswith('did you mean "h11"?')


def test_http_via_must_be_a_token() -> None:
    issue = one('[http]\nvia = "my proxy"\n' + vip() + POOL)
    assert (issue.path, issue.message) == ("http via", '"my proxy" is not a valid Via pseudonym')


def test_http_via_may_be_empty() -> None:
    assert parse_config('[http]\nvia = ""\n' + vip() + POOL).http.via == ""


def test_log_format_choices() -> None:
    issue = one('[log]\nformat = "jsonl"\n' + vip() + POOL)
    assert (issue.path, issue.message) == ("log format", 'unknown value "jsonl"')
    assert issue.hint.startswith('did you mean "json"?')


def test_log_level_choices() -> None:
    issue = one('[log]\nlevel = "verbose"\n' + vip() + POOL)
    assert (issue.path, issue.message) == ("log level", 'unknown value "verbose"')


def test_log_exclude_paths_must_be_paths() -> None:
    issue = one('[log]\nexclude_paths = ["healthz"]\n' + vip() + POOL)
    assert issue.path == "log exclude_paths"
    assert issue.message == 'entry 1 ("healthz") does not start with /'


# ---------------------------------------------------------------- durations in context


def test_duration_without_unit() -> None:
    issue = one('[timeouts]\nkeepalive = "2"\n' + vip() + POOL)
    assert (issue.path, issue.message) == ("timeouts keepalive", '"2" has no unit')
    assert 'write "2s"' in issue.hint


def test_duration_garbage() -> None:
    issue = one('[timeouts]\nrequest_head = "2 seconds"\n' + vip() + POOL)
    assert issue.message == '"2 seconds" is not a duration'


def test_duration_zero_is_refused_except_drain() -> None:
    issue = one("[timeouts]\nkeepalive = 0\ndrain = 0\n" + vip() + POOL)
    assert (issue.path, issue.message) == ("timeouts keepalive", "must be longer than zero")


def test_duration_negative() -> None:
    issue = one("[timeouts]\nbackend_connect = -1\n" + vip() + POOL)
    assert (issue.path, issue.message) == ("timeouts backend_connect", "-1 is negative")


def test_pool_idle_timeout_is_a_duration() -> None:
    issue = one(vip() + POOL.replace("[pool.web]", '[pool.web]\nidle_timeout = "soon"'))
    assert (issue.path, issue.message) == ('pool "web" idle_timeout', '"soon" is not a duration')


# ---------------------------------------------------------------- addresses


def test_address_port_not_a_number() -> None:
    issue = one(vip() + POOL.replace('"10.0.0.1:80"', '"10.0.0.5:80x"'))
    assert issue.path == 'pool "web" server 1'
    assert issue.message == 'address "10.0.0.5:80x": port is not a number'
    assert issue.format("f.toml") == (
        'f.toml: pool "web" server 1: address "10.0.0.5:80x": port is not a number '
        '(hint: write "host:port", e.g. "10.0.0.5:80" or "[2001:db8::5]:80")'
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("10.0.0.5", "the port is missing (write host:port)"),
        ("10.0.0.5:0", "port 0 is out of range (1-65535)"),
        ("10.0.0.5:65536", "port 65536 is out of range (1-65535)"),
        ("fe80::1:80", "an IPv6 address needs brackets: [2001:db8::1]:80"),
        ("[fe80::1:80", "the IPv6 address has no closing ]"),
        ("[10.0.0.1]:80", "'10.0.0.1' in brackets is not an IPv6 address"),
        ("[::1]80", "the port is missing (write [v6]:port)"),
        (":80", "the host is missing (0.0.0.0:port listens on every IPv4 address)"),
        ("10.0.0.256:80", "'10.0.0.256' is not a valid IPv4 address"),
        ("bad host:80", "'bad host' is neither an IP address nor a host name"),
    ],
)
def test_address_errors(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_address(text)
    assert str(info.value) == problem


def test_address_forms() -> None:
    assert parse_address("10.0.0.5:80") == Address("10.0.0.5", 80)
    assert parse_address("[2001:DB8::0:5]:443") == Address("2001:db8::5", 443)
    assert str(parse_address("[::1]:8080")) == "[::1]:8080"
    assert parse_address("Backend.Example:8080") == Address("backend.example", 8080)


def test_listen_address_error_names_the_entry() -> None:
    issue = one(vip(listen='"127.0.0.1:8080", "127.0.0.1:x"') + POOL)
    assert issue.path == 'vip "www" listen 2'
    assert issue.message == 'address "127.0.0.1:x": port is not a number'


def test_duplicate_listen_address_across_vips() -> None:
    second = '[[vip]]\nname = "other"\nlisten = "127.0.0.1:8080"\n[[vip.route]]\npool = "web"\n'
    issue = one(vip() + second + POOL)
    assert issue.path == 'vip "other" listen'
    assert issue.message == 'address 127.0.0.1:8080 is already used by vip "www" listen'


def test_wildcard_listen_overlaps_a_specific_one() -> None:
    second = '[[vip]]\nname = "other"\nlisten = "0.0.0.0:8080"\n[[vip.route]]\npool = "web"\n'
    issue = one(vip() + second + POOL)
    assert issue.message == 'address 0.0.0.0:8080 overlaps 127.0.0.1:8080 of vip "www" listen'


def test_same_port_on_different_addresses_is_fine() -> None:
    second = '[[vip]]\nname = "other"\nlisten = "127.0.0.2:8080"\n[[vip.route]]\npool = "web"\n'
    assert len(parse_config(vip() + second + POOL).vips) == 2


def test_duplicate_vip_names() -> None:
    second = '[[vip]]\nname = "www"\nlisten = "127.0.0.2:8080"\n[[vip.route]]\npool = "web"\n'
    issue = one(vip() + second + POOL)
    assert issue.path == "vip 2 name"
    assert issue.message == '"www" is already the name of vip 1'


# ---------------------------------------------------------------- routes


def test_route_without_action() -> None:
    issue = one(vip('host = "a.example"') + POOL)
    assert (issue.path, issue.message) == ('vip "www" route 1', "the route has no action")


def test_route_with_two_actions() -> None:
    issue = one(vip('pool = "web"\n  respond = { status = 200 }') + POOL)
    assert issue.path == 'vip "www" route 1'
    assert issue.message == "the route has 2 actions (pool, respond)"


def test_route_names_a_missing_pool() -> None:
    issue = one(vip('pool = "wbe"') + POOL)
    assert (issue.path, issue.message) == ('vip "www" route 1 pool', 'no pool named "wbe"')
    assert issue.hint == 'did you mean "web"? (defined pools: web)'


def test_catch_all_route_before_others_is_an_error() -> None:
    text = vip('pool = "web"') + '  [[vip.route]]\n  host = "a.example"\n  pool = "web"\n' + POOL
    issue = one(text)
    assert issue.path == 'vip "www" route 1'
    assert issue.message == (
        "has no conditions, so it matches every request and route 2 can never match"
    )


def test_path_regex_must_compile() -> None:
    issue = one(vip('path_regex = "(abc"\n  pool = "web"') + POOL)
    assert issue.path == 'vip "www" route 1 path_regex'
    assert (
        issue.message == '"(abc" does not compile: missing ), unterminated subpattern at position 0'
    )


def test_path_prefix_must_start_with_slash() -> None:
    issue = one(vip('path_prefix = "api"\n  pool = "web"') + POOL)
    assert (issue.path, issue.message) == (
        'vip "www" route 1 path_prefix',
        '"api" does not start with /',
    )


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("*", '"*": a lone * matches every host'),
        ("a*.example.com", '"a*.example.com": a wildcard must be a leading "*." and nothing else'),
        (
            "*.*.example.com",
            '"*.*.example.com": a wildcard must be a leading "*." and nothing else',
        ),
        ("example.com:8080", '"example.com:8080": a host name with a port'),
        ("[zz]", '"[zz]": not an IPv6 address'),
        ("exa mple.com", '"exa mple.com": not a host name'),
    ],
)
def test_host_errors(host: str, message: str) -> None:
    issue = one(vip(f'host = "{host}"\n  pool = "web"') + POOL)
    assert (issue.path, issue.message) == ('vip "www" route 1 host', message)


def test_method_must_be_a_token() -> None:
    issue = one(vip('method = "GE T"\n  pool = "web"') + POOL)
    assert (issue.path, issue.message) == (
        'vip "www" route 1 method',
        '"GE T" is not an HTTP method',
    )


def test_empty_list_condition() -> None:
    issue = one(vip('method = []\n  pool = "web"') + POOL)
    assert (issue.path, issue.message) == ('vip "www" route 1 method', "is an empty list")


def test_source_cidr_with_host_bits() -> None:
    issue = one(vip('source = "10.0.0.1/8"\n  pool = "web"') + POOL)
    assert issue.path == 'vip "www" route 1 source'
    assert issue.message == '"10.0.0.1/8" is not a network: 10.0.0.1/8 has host bits set'
    assert issue.hint == 'host bits are set: did you mean "10.0.0.0/8"?'


def test_source_not_a_network() -> None:
    issue = one(vip('source = ["10.0.0.0/33"]\n  pool = "web"') + POOL)
    assert issue.message.startswith('"10.0.0.0/33" is not a network: ')


def test_header_regex_must_compile() -> None:
    issue = one(vip('header = { "X-A" = { regex = "[" } }\n  pool = "web"') + POOL)
    assert issue.path == 'vip "www" route 1 header "X-A" regex'
    assert issue.message == '"[" does not compile: unterminated character set at position 0'


def test_header_name_must_be_a_token() -> None:
    issue = one(vip('header = { "X A" = "1" }\n  pool = "web"') + POOL)
    assert issue.path == 'vip "www" route 1 header "X A"'
    assert issue.message == '"X A" is not a valid header name'


def test_header_value_of_wrong_type() -> None:
    issue = one(vip('header = { "X-A" = 1 }\n  pool = "web"') + POOL)
    assert issue.message == "expected a string, true or { regex = ... }, got an integer"


def test_redirect_status_must_be_a_redirect() -> None:
    issue = one(vip('redirect = { location = "/x", status = 200 }') + POOL)
    assert (issue.path, issue.message) == (
        'vip "www" route 1 redirect status',
        "200 is not a redirect status",
    )


def test_redirect_needs_a_location() -> None:
    issue = one(vip("redirect = { status = 301 }") + POOL)
    assert (issue.path, issue.message) == ('vip "www" route 1 redirect', "location is missing")


def test_redirect_unknown_placeholder() -> None:
    issue = one(vip('redirect = { location = "https://{hots}/" }') + POOL)
    assert issue.path == 'vip "www" route 1 redirect location'
    assert "unknown placeholder {hots}" in issue.message


@pytest.mark.parametrize("status", [99, 100, 199, 600])
def test_respond_status_range(status: int) -> None:
    issue = one(vip(f"respond = {{ status = {status} }}") + POOL)
    assert (issue.path, issue.message) == (
        'vip "www" route 1 respond status',
        f"{status} is out of range",
    )


def test_respond_204_has_no_body() -> None:
    issue = one(vip('respond = { status = 204, body = "x" }') + POOL)
    assert (issue.path, issue.message) == (
        'vip "www" route 1 respond body',
        "a 204 response has no body",
    )


def test_respond_must_not_set_framing_headers() -> None:
    issue = one(vip('respond = { headers = { "Content-Length" = "3" } }') + POOL)
    assert issue.path == 'vip "www" route 1 respond headers "Content-Length"'
    assert issue.message == "l7lb sets this header itself"


def test_respond_unknown_key() -> None:
    issue = one(vip("respond = { stauts = 503 }") + POOL)
    assert issue == ConfigIssue(
        'vip "www" route 1 respond stauts', "unknown key", 'did you mean "status"?'
    )


# ---------------------------------------------------------------- pools and servers


def test_scheduler_choices() -> None:
    issue = one(vip() + POOL.replace("[pool.web]", '[pool.web]\nscheduler = "wrrr"'))
    assert (issue.path, issue.message) == ('pool "web" scheduler', 'unknown value "wrrr"')
    assert issue.hint.startswith('did you mean "wrr"?')


def test_hash_key_needs_chash() -> None:
    issue = one(vip() + POOL.replace("[pool.web]", '[pool.web]\nhash_key = "host"'))
    assert issue.path == 'pool "web" hash_key'
    assert issue.message == 'only applies to scheduler = "chash" (this pool uses "wrr")'


def test_hash_key_values() -> None:
    head = '[pool.web]\nscheduler = "chash"\nhash_key = '
    issue = one(vip() + POOL.replace("[pool.web]", head + '"paht"'))
    assert (issue.path, issue.message) == ('pool "web" hash_key', 'unknown value "paht"')
    assert issue.hint.startswith('did you mean "path"?')
    issue = one(vip() + POOL.replace("[pool.web]", head + '"header:X User"'))
    assert issue.message == '"X User" is not a header name'


@pytest.mark.parametrize("weight", [-1, 257])
def test_weight_range(weight: int) -> None:
    issue = one(vip() + POOL + f"  weight = {weight}\n")
    assert (issue.path, issue.message) == (
        'pool "web" server 1 weight',
        f"{weight} is out of range",
    )
    assert issue.hint == "use an integer from 0 to 256"


def test_weight_bounds_are_allowed() -> None:
    text = vip() + POOL + "  weight = 0\n"
    text += '  [[pool.web.server]]\n  address = "10.0.0.2:80"\n  weight = 256\n'
    assert [s.weight for s in parse_config(text).pools["web"].servers] == [0, 256]


def test_duplicate_server_names() -> None:
    text = vip() + '[pool.web]\n[[pool.web.server]]\nname = "a"\naddress = "10.0.0.1:80"\n'
    text += '[[pool.web.server]]\nname = "a"\naddress = "10.0.0.2:80"\n'
    issue = one(text)
    assert (issue.path, issue.message) == (
        'pool "web" server 2 name',
        '"a" is already server 1\'s name',
    )


def test_default_name_clashes_with_an_explicit_one() -> None:
    text = vip() + '[pool.web]\n[[pool.web.server]]\nname = "web-2"\naddress = "10.0.0.1:80"\n'
    text += '[[pool.web.server]]\naddress = "10.0.0.2:80"\n'
    assert one(text).message == '"web-2" is already server 1\'s name'


def test_duplicate_server_address() -> None:
    text = vip() + POOL + '  [[pool.web.server]]\n  address = "10.0.0.1:80"\n'
    issue = one(text)
    assert (issue.path, issue.message) == (
        'pool "web" server 2',
        "address 10.0.0.1:80 is already server 1",
    )


def test_server_without_address() -> None:
    issue = one(vip() + '[pool.web]\n[[pool.web.server]]\nname = "a"\n')
    assert (issue.path, issue.message) == ('pool "web" server 1', "the server has no address")


def test_max_conn_and_max_idle_not_negative() -> None:
    text = vip() + POOL.replace("[pool.web]", "[pool.web]\nmax_idle = -1") + "  max_conn = -5\n"
    found = issues(text)
    assert [(i.path, i.message) for i in found] == [
        ('pool "web" max_idle', "-1 is out of range"),
        ('pool "web" server 1 max_conn', "-5 is out of range"),
    ]


def test_backup_must_be_boolean() -> None:
    issue = one(vip() + POOL + '  backup = "yes"\n')
    assert issue.path == 'pool "web" server 1 backup'
    assert issue.message == 'expected true or false, got a string ("yes")'


def test_pool_without_servers_needs_a_fallback() -> None:
    issue = one(vip() + POOL + "[pool.empty]\n")
    assert (issue.path, issue.message) == (
        'pool "empty"',
        "the pool has no servers and no fallback",
    )


def test_pool_without_servers_but_with_fallback_is_fine() -> None:
    cfg = parse_config(vip('pool = "sorry"') + '[pool.sorry]\nfallback = { body = "x" }\n')
    assert cfg.pools["sorry"].servers == ()


def test_fallback_to_unknown_pool() -> None:
    issue = one(
        vip()
        + POOL.replace("[pool.web]", '[pool.web]\nfallback = "sory"')
        + '[pool.sorry]\nfallback = { body = "" }\n'
    )
    assert (issue.path, issue.message) == ('pool "web" fallback', 'no pool named "sory"')
    assert issue.hint.startswith('did you mean "sorry"?')


def test_fallback_to_itself() -> None:
    issue = one(vip() + POOL.replace("[pool.web]", '[pool.web]\nfallback = "web"'))
    assert (issue.path, issue.message) == (
        'pool "web" fallback',
        "a pool cannot fall back to itself",
    )


def test_fallback_loop() -> None:
    text = vip() + POOL.replace("[pool.web]", '[pool.web]\nfallback = "b"')
    text += '[pool.b]\nfallback = "c"\n[pool.c]\nfallback = "web"\n'
    issue = one(text)
    assert (issue.path, issue.message) == (
        'pool "web" fallback',
        "fallback loop: web -> b -> c -> web",
    )


def test_fallback_of_wrong_type() -> None:
    issue = one(vip() + POOL.replace("[pool.web]", "[pool.web]\nfallback = 503"))
    assert issue.message == "expected a pool name or a table, got an integer"


# ---------------------------------------------------------------- files


def test_toml_syntax_error_names_the_line() -> None:
    issue = one('workers = 2\nvip = [\n"x" "y"]\n')
    assert issue.path == "line 3 column 5"
    assert issue.message.startswith("not valid TOML: ")


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "l7lb.toml"
    text = vip() + POOL
    path.write_text(text)
    cfg = load_config(str(path))
    assert cfg.source == text


def test_load_config_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "absent.toml")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.origin == path
    (issue,) = info.value.errors
    assert issue.message == "cannot read the file: No such file or directory"


def test_load_config_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"workers = 1\n# caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert info.value.errors == [ConfigIssue("line 2", "not UTF-8 text", "save the file as UTF-8")]
