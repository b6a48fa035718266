"""The admin HTTP API, sans-IO: request objects in, response bytes out, byte for byte."""

from __future__ import annotations

import asyncio
import json

import pytest
from fake_supervisor import FakeSupervisor
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.admin.api import AdminApi
from l7lb.admin.bearer import Verdict, check_bearer
from l7lb.admin.http_message import AdminRequest, AdminResponse
from l7lb.admin.router import BadTarget, Router, split_target

DATE = "Tue, 01 Dec 2026 10:00:00 GMT"
TOKEN = b"0123456789abcdef0123456789abcdef"
AUTH = (b"authorization", b"Bearer " + TOKEN)


def call(
    api: AdminApi,
    method: str,
    target: str,
    headers: tuple[tuple[bytes, bytes], ...] = (),
    body: bytes = b"",
) -> bytes:
    request = AdminRequest(method, target, headers, body)
    response = asyncio.run(api.respond(request))
    return response.encode(DATE, head_only=method == "HEAD")


def head(status: str, ctype: str, length: int, *extra: str) -> bytes:
    lines = [
        f"HTTP/1.1 {status}",
        f"Date: {DATE}",
        f"Content-Type: {ctype}",
        f"Content-Length: {length}",
        "Cache-Control: no-store",
        "X-Content-Type-Options: nosniff",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


TEXT = "text/plain; charset=utf-8"


def text(status: str, body: str, *extra: str) -> bytes:
    data = body.encode()
    return head(status, TEXT, len(data), *extra) + data


def as_json(status: str, data: object) -> bytes:
    body = (json.dumps(data, indent=2) + "\n").encode()
    return head(status, "application/json", len(body)) + body


@pytest.fixture
def fake() -> FakeSupervisor:
    return FakeSupervisor()


@pytest.fixture
def api(fake: FakeSupervisor) -> AdminApi:
    return AdminApi(fake, lambda: TOKEN)


def test_healthz_follows_draining(api: AdminApi, fake: FakeSupervisor) -> None:
    assert call(api, "GET", "/healthz") == text("200 OK", "ok\n")
    # HEAD: the same head (Content-Length of the GET body), no body
    assert call(api, "HEAD", "/healthz") == head("200 OK", TEXT, 3)
    fake.state = "starting"  # workers not ready yet: not a director to send clients to
    assert call(api, "GET", "/healthz") == text("503 Service Unavailable", "starting\n")
    fake.draining = True
    assert call(api, "GET", "/healthz") == text("503 Service Unavailable", "draining\n")
    assert call(api, "GET", "/healthz?probe=keepalived") == text(
        "503 Service Unavailable", "draining\n"
    )


def test_servers_json_is_show_servers(api: AdminApi, fake: FakeSupervisor) -> None:
    row = {
        "pool": "web",
        "server": "s1",
        "address": "10.0.0.1:80",
        "weight": 1,
        "state": "up",
        "backup": False,
        "active": 0,
        "requests": 0,
        "entries": 0,
        "sticky": 0,
        "left": -1.0,
    }
    expected = {
        "servers": [
            row,
            {**row, "server": "s2", "address": "10.0.0.2:80", "weight": 3, "entries": 2},
            {**row, "server": "b1", "address": "10.0.0.9:80", "backup": True},
        ]
    }
    assert call(api, "GET", "/api/servers") == as_json("200 OK", expected)
    # absolute form is a path too (RFC 9112 section 3.2.2)
    assert call(api, "GET", "http://127.0.0.1:9100/api/servers") == as_json("200 OK", expected)


def test_limits_json_is_show_limits(api: AdminApi) -> None:
    expected = {
        "limits": [
            {
                "vip": "www",
                "source": "192.0.2.7",
                "connections": 3,
                "rate": 12.5,
                "requests": 125.0,
                "refused": 4,
                "limited": 17,
            }
        ]
    }
    assert call(api, "GET", "/api/limits") == as_json("200 OK", expected)
    assert b"GET  /api/limits" in call(api, "GET", "/")
    assert call(api, "POST", "/api/limits").startswith(b"HTTP/1.1 405")


def test_index_lists_the_endpoints(api: AdminApi) -> None:
    answer = call(api, "GET", "/")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Type: text/plain; charset=utf-8\r\n" in answer
    for line in (
        b"GET  /healthz",
        b"GET  /metrics",
        b"GET  /api/servers",
        b"POST /api/reload",
        b"Bearer TOKEN",
    ):
        assert line in answer


def test_a_browser_gets_the_stats_page(api: AdminApi) -> None:
    accept = (b"accept", b"text/html,application/xhtml+xml,*/*;q=0.8")
    answer = call(api, "GET", "/", (accept,))
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Type: text/html; charset=utf-8\r\n" in answer
    assert b"<title>l7lb statistics</title>" in answer and b"/api/stats" in answer
    assert call(api, "HEAD", "/", (accept,)).endswith(b"\r\n\r\n")


def test_drain_with_a_deadline(api: AdminApi, fake: FakeSupervisor) -> None:
    answer = call(api, "POST", "/api/servers/web/s1/drain", (AUTH,), b'{"deadline": "10m"}')
    assert answer.startswith(b"HTTP/1.1 200 OK")
    answer = call(api, "POST", "/api/servers/web/s2/drain", (AUTH,), b'{"deadline": 90}')
    assert answer.startswith(b"HTTP/1.1 200 OK")
    answer = call(api, "POST", "/api/servers/web/b1/drain", (AUTH,), b'{"deadline": ""}')
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert fake.calls == [
        ("drain", "web", "s1", "deadline 600"),
        ("drain", "web", "s2", "deadline 90"),
        ("drain", "web", "b1"),
    ]
    for body in (b'{"deadline": "soon"}', b'{"deadline": 0}', b'{"deadline": "8d"}', b"[1]", b"x"):
        answer = call(api, "POST", "/api/servers/web/s1/drain", (AUTH,), body)
        assert answer.startswith(b"HTTP/1.1 400 Bad Request"), body
        assert b"deadline" in answer
    assert len(fake.calls) == 3


def test_unknown_paths_and_methods(api: AdminApi) -> None:
    assert call(api, "GET", "/nope") == text(
        "404 Not Found", "404 Not Found: no such page (try GET /)\n"
    )
    assert call(api, "GET", "/api/servers/") == text(
        "404 Not Found", "404 Not Found: no such page (try GET /)\n"
    )
    assert call(api, "POST", "/healthz") == text(
        "405 Method Not Allowed",
        "405 Method Not Allowed: use GET, HEAD\n",
        "Allow: GET, HEAD",
    )
    # an action path read with GET: 405, never a 401 that would hint at a token
    assert call(api, "GET", "/api/servers/web/s1/drain") == text(
        "405 Method Not Allowed", "405 Method Not Allowed: use POST\n", "Allow: POST"
    )
    assert call(api, "get", "/healthz").startswith(b"HTTP/1.1 405 ")  # methods are case-sensitive
    assert call(api, "OPTIONS", "*") == text(
        "400 Bad Request", "400 Bad Request: the request-target is not a path\n"
    )
    assert call(api, "GET", "/api/%ff") == text(
        "400 Bad Request", "400 Bad Request: a path segment is not UTF-8 once decoded\n"
    )


def test_actions_need_the_token(api: AdminApi, fake: FakeSupervisor) -> None:
    unauthorized = text(
        "401 Unauthorized",
        "401 Unauthorized: send Authorization: Bearer TOKEN (the token_file's)\n",
        'WWW-Authenticate: Bearer realm="l7lb admin"',
    )
    assert call(api, "POST", "/api/servers/web/s1/drain") == unauthorized
    basic = ((b"authorization", b"Basic dXNlcjpwYXNz"),)
    assert call(api, "POST", "/api/servers/web/s1/drain", basic) == unauthorized
    wrong = ((b"authorization", b"Bearer " + TOKEN[:-1] + b"X"),)
    forbidden = text("403 Forbidden", "403 Forbidden: wrong token\n")
    assert call(api, "POST", "/api/servers/web/s1/drain", wrong) == forbidden
    assert call(api, "POST", "/api/reload", wrong) == forbidden
    assert call(api, "POST", "/api/stop") == unauthorized
    assert fake.calls == [] and not fake.draining
    # the scheme is case-insensitive; surrounding blanks do not count
    lower = ((b"authorization", b"bearer  " + TOKEN + b" "),)
    assert call(api, "POST", "/api/servers/web/s1/drain", lower).startswith(b"HTTP/1.1 200 OK")
    assert fake.calls == [("drain", "web", "s1")]


def test_no_token_file_means_no_actions(fake: FakeSupervisor) -> None:
    api = AdminApi(fake, lambda: b"")
    off = text("403 Forbidden", "403 Forbidden: actions are off: set [admin] token_file\n")
    assert call(api, "POST", "/api/servers/web/s1/drain") == off
    assert call(api, "POST", "/api/servers/web/s1/drain", (AUTH,)) == off
    assert call(api, "GET", "/healthz") == text("200 OK", "ok\n")  # reading stays open
    assert fake.calls == []


def test_server_actions_change_the_pool_state(api: AdminApi, fake: FakeSupervisor) -> None:
    state = fake.pools["web"]
    assert call(api, "POST", "/api/servers/web/s1/drain", (AUTH,)) == as_json(
        "200 OK", {"ok": True, "message": "web/s1: drain"}
    )
    assert state.by_name["s1"].admin == "drain"
    assert call(api, "POST", "/api/servers/web/s2/maint", (AUTH,)) == as_json(
        "200 OK", {"ok": True, "message": "web/s2: maint"}
    )
    assert call(api, "POST", "/api/servers/web/s1/ready", (AUTH,)) == as_json(
        "200 OK", {"ok": True, "message": "web/s1: ready"}
    )
    assert call(api, "POST", "/api/servers/web/s1/weight", (AUTH,), b'{"weight": 0}') == as_json(
        "200 OK", {"ok": True, "message": "web/s1: weight 0"}
    )
    assert state.by_name["s1"].weight == 0 and state.by_name["s2"].admin == "maint"
    servers = json.loads(call(api, "GET", "/api/servers").partition(b"\r\n\r\n")[2])
    assert [(r["server"], r["state"]) for r in servers["servers"]] == [
        ("s1", "drain"),  # weight 0 reads as drain, as in show servers
        ("s2", "maint"),
        ("b1", "up"),
    ]
    assert fake.calls == [
        ("drain", "web", "s1"),
        ("maint", "web", "s2"),
        ("ready", "web", "s1"),
        ("set-weight", "web", "s1", "0"),
    ]


@pytest.mark.parametrize(
    ("target", "body", "status", "error"),
    [
        ("/api/servers/nosuch/s1/drain", b"", "404 Not Found", "no pool named 'nosuch'"),
        ("/api/servers/web/s9/drain", b"", "404 Not Found", "pool 'web' has no server 's9'"),
        (
            "/api/servers/web/s1/explode",
            b"",
            "404 Not Found",
            "no action 'explode' (actions: drain, maint, ready, weight)",
        ),
        (
            "/api/servers/web/s1/weight",
            b"",
            "400 Bad Request",
            'send a JSON body {"weight": N}, N from 0 to 256',
        ),
        (
            "/api/servers/web/s1/weight",
            b'{"weight": 257}',
            "400 Bad Request",
            "weight must be an integer from 0 to 256, not 257",
        ),
        (
            "/api/servers/web/s1/weight",
            b'{"weight": true}',
            "400 Bad Request",
            "weight must be an integer from 0 to 256, not True",
        ),
        (
            "/api/servers/web/s1/weight",
            b"[1]",
            "400 Bad Request",
            'send a JSON body {"weight": N}, N from 0 to 256',
        ),
        (
            "/api/servers/web/s1/weight",
            b"\xff\xfe",
            "400 Bad Request",
            'send a JSON body {"weight": N}, N from 0 to 256',
        ),
    ],
)
def test_action_errors(
    api: AdminApi, fake: FakeSupervisor, target: str, body: bytes, status: str, error: str
) -> None:
    assert call(api, "POST", target, (AUTH,), body) == as_json(
        status, {"ok": False, "error": error}
    )
    assert fake.calls == []


def test_names_are_percent_decoded(fake: FakeSupervisor, api: AdminApi) -> None:
    answer = call(api, "POST", "/api/servers/web/s%31/maint", (AUTH,))
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert fake.calls == [("maint", "web", "s1")]
    missing = call(api, "POST", "/api/servers/web/web%201/maint", (AUTH,))
    assert b"pool 'web' has no server 'web 1'" in missing


def test_reload_verdicts(api: AdminApi, fake: FakeSupervisor) -> None:
    assert call(api, "POST", "/api/reload", (AUTH,)) == as_json(
        "200 OK",
        {"accepted": True, "generation": 2, "config": "/etc/l7lb.toml", "errors": []},
    )
    fake.reload_errors = ('pool "web" scheduler: unknown value "fastest"',)
    assert call(api, "POST", "/api/reload", (AUTH,)) == as_json(
        "422 Unprocessable Entity",
        {
            "accepted": False,
            "generation": 2,
            "config": "/etc/l7lb.toml",
            "errors": ['pool "web" scheduler: unknown value "fastest"'],
        },
    )


def test_stop(api: AdminApi, fake: FakeSupervisor) -> None:
    assert call(api, "POST", "/api/stop", (AUTH,)) == as_json(
        "202 Accepted", {"stopping": True, "pid": 4242}
    )
    assert call(api, "GET", "/healthz") == text("503 Service Unavailable", "draining\n")


def test_a_new_route_is_one_add(fake: FakeSupervisor) -> None:
    router = Router(lambda: TOKEN)

    async def metrics(request: AdminRequest, params: dict[str, str]) -> AdminResponse:
        return AdminResponse(200, b"up 1\n", "text/plain; version=0.0.4")

    router.add("GET", "/metrics", metrics)
    response = asyncio.run(router.respond(AdminRequest("GET", "/metrics")))
    assert response.encode(DATE) == head("200 OK", "text/plain; version=0.0.4", 5) + b"up 1\n"
    with pytest.raises(ValueError, match="must start with /"):
        router.add("GET", "metrics", metrics)


def test_split_target() -> None:
    assert split_target("/") == ([""], "")
    assert split_target("/a/b?x=1") == (["a", "b"], "x=1")
    assert split_target("https://h:1") == ([""], "")
    assert split_target("/a%2Fb/c") == (["a/b", "c"], "")  # an encoded slash stays in its segment
    for bad in ("*", "h:1", "ftp://h/x", ""):
        with pytest.raises(BadTarget):
            split_target(bad)


def test_bearer_rules() -> None:
    assert check_bearer(b"Bearer " + TOKEN, TOKEN) is Verdict.ALLOWED
    assert check_bearer(None, TOKEN) is Verdict.MISSING
    assert check_bearer(b"", TOKEN) is Verdict.MISSING
    assert check_bearer(b"Token " + TOKEN, TOKEN) is Verdict.MISSING
    assert check_bearer(b"Bearer", TOKEN) is Verdict.WRONG
    assert check_bearer(b"Bearer " + TOKEN + b"x", TOKEN) is Verdict.WRONG
    assert check_bearer(b"Bearer " + TOKEN, b"") is Verdict.DISABLED


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_only_the_token_opens(given_token: bytes) -> None:
    verdict = check_bearer(b"Bearer " + given_token, TOKEN)
    assert (verdict is Verdict.ALLOWED) == (given_token.strip() == TOKEN)
