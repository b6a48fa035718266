"""End-to-end routing table: host, path, method, header, source; redirect,
static and fallback actions; both parser back ends."""

from __future__ import annotations

import pytest
from procs import free_port, start_backend, start_proxy
from test_proxy_http import raw_exchange, request


def _config(port: int, api: str, web: str, admin: str, parser: str, dead: int) -> str:
    return f"""
[http]
parser = "{parser}"

[[vip]]
name = "site"
listen = ["127.0.0.1:{port}"]

  [[vip.route]]
  name = "old"
  path_prefix = "/old/"
  redirect = {{ location = "https://{{host}}/new{{path}}{{query}}", status = 301 }}

  [[vip.route]]
  name = "static"
  path_regex = "^/robots\\\\.txt$"
  respond = {{ status = 200, body = "User-agent: *\\n", content_type = "text/plain" }}

  [[vip.route]]
  host = "admin.example.com"
  source = ["10.0.0.0/8"]
  pool = "admin"

  [[vip.route]]
  host = "*.example.com"
  header = {{ "X-Beta" = "1" }}
  pool = "admin"

  [[vip.route]]
  host = ["www.example.com", "example.com"]
  path_prefix = "/api"
  method = ["GET", "POST"]
  pool = "api"

  [[vip.route]]
  host = ["www.example.com", "example.com"]
  pool = "web"

  [[vip.route]]
  host = "down.example.com"
  pool = "dead"

[pool.api]
  [[pool.api.server]]
  address = "{api}"

[pool.web]
  [[pool.web.server]]
  address = "{web}"

[pool.admin]
  [[pool.admin.server]]
  address = "{admin}"

[pool.dead]
fallback = {{ status = 503, body = "sorry, down for maintenance\\n" }}
  [[pool.dead.server]]
  address = "127.0.0.1:{dead}"
"""


@pytest.fixture(scope="module", params=["httptools", "h11"])
def site(request, tmp_path_factory):
    """One site per parser for the whole module: its tests only send requests."""
    tmp_path = tmp_path_factory.mktemp(f"site-{request.param}")
    bs = {n: start_backend(n) for n in ("api", "web", "admin")}
    port = free_port()
    cfg = _config(
        port, bs["api"].address, bs["web"].address, bs["admin"].address, request.param, free_port()
    )
    p = start_proxy(tmp_path, cfg, port)
    yield port
    p.stop()
    for b in bs.values():
        b.stop()


def who(
    port: int,
    path: str = "/",
    host: str = "www.example.com",
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    h = {"Host": host, **(headers or {})}
    status, _, body = request(port, path, method=method, headers=h)
    return status, body


def test_routing_table(site):
    assert who(site, "/api/v1") == (200, b"api\n")
    assert who(site, "/api/v1", host="EXAMPLE.com:80") == (200, b"api\n")
    assert who(site, "/api/v1", method="DELETE") == (200, b"web\n")  # method not in the api route
    assert who(site, "/index.html") == (200, b"web\n")
    assert who(site, "/", host="shop.example.com", headers={"X-Beta": "1"}) == (200, b"admin\n")
    # source 127.0.0.1 is not in 10.0.0.0/8, and no other route covers admin.example.com
    status, body = who(site, "/", host="admin.example.com")
    assert status == 404 and b"no route" in body
    assert who(site, "/", host="other.org")[0] == 404


def test_redirect_static_and_fallback(site):
    status, headers, _ = request(site, "/old/page?x=1", headers={"Host": "www.example.com"})
    assert status == 301
    assert headers["location"] == "https://www.example.com/new/old/page?x=1"
    status, headers, body = request(site, "/robots.txt", headers={"Host": "any"})
    assert (status, body) == (200, b"User-agent: *\n")
    status, body = who(site, "/", host="down.example.com")
    assert (status, body) == (503, b"sorry, down for maintenance\n")


def test_absolute_form_target_routes_on_its_authority(site):
    out = raw_exchange(
        site,
        b"GET http://www.example.com/api/x HTTP/1.1\r\n"
        b"Host: ignored.org\r\nConnection: close\r\n\r\n",
    )
    assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b"api\n")
