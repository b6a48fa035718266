"""Configuration files for the backend and for each proxy under test, as text.

Every proxy gets the same job: one listener on 127.0.0.1, one pool of nginx realservers, keep-alive
toward the backend with connection reuse, no access log, the same X-Forwarded-For work. Pure
functions: the runner writes their output to a temporary directory.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import tlsparams

SMALL_BODY = "hello world\n"
ONE_MIB = 1024 * 1024
COOKIE_NAME = "SRV"
# Persistence secret for the benchmark only (issue 4: at least 16 bytes).
COOKIE_SECRET = "benchmark-only-secret-0123456789"


@dataclass(frozen=True)
class Cert:
    """A PEM certificate and its key as separate files, plus both concatenated (HAProxy)."""

    cert: str
    key: str
    combined: str


def nginx_backend(ports: list[int], root: str, tmp: str) -> str:
    """The realservers: one nginx worker answering on every port in ``ports``.

    ``keepalive_requests`` is raised because nginx otherwise closes a kept-alive connection
    after 1,000 requests, which would make every proxy reconnect constantly.
    """
    listens = "\n".join(f"        listen 127.0.0.1:{p} reuseport backlog=4096;" for p in ports)
    return f"""\
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 16384;
pid {tmp}/backend-nginx.pid;
error_log {tmp}/backend-nginx.error.log warn;
events {{
    worker_connections 8192;
}}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy_temp;
    fastcgi_temp_path {tmp}/fastcgi_temp;
    uwsgi_temp_path {tmp}/uwsgi_temp;
    scgi_temp_path {tmp}/scgi_temp;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    sendfile on;
    tcp_nopush on;
    server {{
{listens}
        root {root};
        add_header X-Backend $server_port always;
        location = / {{
            default_type text/plain;
            return 200 "{SMALL_BODY.strip()}\\n";
        }}
        location = /1mib {{
            default_type application/octet-stream;
        }}
    }}
}}
"""


def nginx_proxy(
    listen: int, backends: list[int], tmp: str, cert: Cert | None, http2: bool = False
) -> str:
    """nginx as a reverse proxy: one worker, upstream keep-alive, no access log. TLS with the
    parameters of ``tlsparams`` (OpenSSL's two TLS 1.3 tickets are nginx's default).
    ``http2``: ALPN h2 on the TLS listener (nginx 1.22 spells it ``listen ... ssl http2``);
    ``keepalive_requests`` below also bounds HTTP/2 requests per connection since 1.19.7."""
    servers = "\n".join(f"        server 127.0.0.1:{p};" for p in backends)
    tls = ""
    ssl = ""
    proto = "http"
    if cert is not None:
        ssl = " ssl http2" if http2 else " ssl"
        proto = "https"
        tls = f"""
        ssl_certificate {cert.cert};
        ssl_certificate_key {cert.key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers {tlsparams.TLS12_CIPHERS};
        ssl_conf_command Ciphersuites {tlsparams.TLS13_SUITE};
        ssl_ecdh_curve {tlsparams.GROUP};
        ssl_prefer_server_ciphers on;
        ssl_session_cache shared:BENCH:10m;
        ssl_session_tickets on;"""
    return f"""\
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 16384;
pid {tmp}/proxy-nginx.pid;
error_log {tmp}/proxy-nginx.error.log warn;
events {{
    worker_connections 8192;
}}
http {{
    access_log off;
    client_body_temp_path {tmp}/pclient_body;
    proxy_temp_path {tmp}/pproxy_temp;
    fastcgi_temp_path {tmp}/pfastcgi_temp;
    uwsgi_temp_path {tmp}/puwsgi_temp;
    scgi_temp_path {tmp}/pscgi_temp;
    keepalive_requests 1000000;
    upstream realservers {{
{servers}
        keepalive 256;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{listen}{ssl} backlog=4096;{tls}
        location / {{
            proxy_pass http://realservers;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto {proto};
            proxy_buffering on;
        }}
    }}
}}
"""


def haproxy(
    listen: int, backends: list[int], cert: Cert | None, cookie: bool, http2: bool = False
) -> str:
    """HAProxy 2.6 with one thread. ``maxconn 4000``: 10000 needs more file descriptors than
    this machine's limit allows and HAProxy refuses to start. TLS with the parameters of
    ``tlsparams`` (two TLS 1.3 tickets is OpenSSL's default; HAProxy 2.6 documents no setting
    for it); ``http2``: ALPN ``h2,http/1.1`` on the TLS listener."""
    bind = f"bind 127.0.0.1:{listen}"
    proto = "http"
    if cert is not None:
        bind += f" ssl crt {cert.combined} alpn " + ("h2,http/1.1" if http2 else "http/1.1")
        proto = "https"
    cookie_line = f"    cookie {COOKIE_NAME} insert indirect nocache\n" if cookie else ""
    servers = "".join(
        f"    server s{i} 127.0.0.1:{p}" + (f" cookie s{i}" if cookie else "") + "\n"
        for i, p in enumerate(backends, 1)
    )
    return f"""\
global
    nbthread 1
    maxconn 4000
    ssl-default-bind-options ssl-min-ver TLSv1.2
    ssl-default-bind-ciphers {tlsparams.TLS12_CIPHERS}
    ssl-default-bind-ciphersuites {tlsparams.TLS13_SUITE}
    ssl-default-bind-curves {tlsparams.GROUP}

defaults
    mode http
    timeout connect 3s
    timeout client 30s
    timeout server 60s
    timeout http-keep-alive 2s
    option http-keep-alive
    option forwardfor
    http-reuse always

frontend bench
    {bind}
    http-request set-header X-Forwarded-Proto {proto}
    default_backend realservers

backend realservers
    balance roundrobin
{cookie_line}{servers}"""


def l7lb(listen: int, backends: list[int], parser: str, cert: Cert | None, cookie: bool) -> str:
    """l7lb with one VIP and one pool. The ``[vip.tls]`` and ``[pool.*.persistence]`` tables
    follow issues 3 and 4; a version of l7lb that does not accept them yet exits with status 2
    and the scenario is reported as skipped with l7lb's own message. TLS with the parameters of
    ``tlsparams``: the cipher lists and the ticket count here, the group (l7lb has no key for
    it) from the ``OPENSSL_CONF`` file the runner puts in its environment."""
    lines = [
        "workers = 1",
        "",
        "[http]",
        f'parser = "{parser}"',
        "",
        "[log]",
        'access = "off"',
        'level = "warning"',
        "",
        "[[vip]]",
        'name = "bench"',
        f'listen = ["127.0.0.1:{listen}"]',
    ]
    if cert is not None:
        lines += [
            "",
            "  [vip.tls]",
            f'  certificates = [{{cert = "{cert.cert}", key = "{cert.key}"}}]',
            f'  ciphers = "{tlsparams.TLS12_CIPHERS}"',
            f'  ciphersuites = "{tlsparams.TLS13_SUITE}"',
            # l7lb's default is 1; HAProxy and nginx send OpenSSL's 2
            f"  tickets_per_handshake = {tlsparams.TICKETS}",
        ]
    lines += [
        "",
        "  [[vip.route]]",
        '  pool = "bench"',
        "",
        "[pool.bench]",
        'scheduler = "rr"',
        "max_idle = 256",
        'idle_timeout = "30s"',
    ]
    if cookie:
        lines += [
            "",
            "  [pool.bench.persistence]",
            '  mode = "cookie"',  # insertion, like HAProxy's "cookie SRV insert"
            f'  name = "{COOKIE_NAME}"',
            f'  secret = "{COOKIE_SECRET}"',
            "  indirect = true",
            "  nocache = true",
        ]
    for i, p in enumerate(backends, 1):
        lines += ["", "  [[pool.bench.server]]", f'  name = "s{i}"', f'  address = "127.0.0.1:{p}"']
    return "\n".join(lines) + "\n"


def nginx_validation_target(
    plain: int, limited: int, tls: int, rate: int, cert: Cert, root: str, tmp: str, h2: int
) -> str:
    """The target validate_bench.py aims wrk, s_time and `l7lb bench` at (no proxy): nginx
    serving the 12-byte file ``/hello`` on three ports.

    ``limited`` delays requests to ``rate`` per second (``limit_req`` without ``nodelay``
    queues, it does not refuse, within the burst): there the target is the bottleneck and the
    clients must agree. A static file, not ``return``: ``return`` answers in the rewrite phase,
    before ``limit_req`` runs. ``tls`` logs ``$ssl_session_reused`` per request ("r" resumed,
    "." full): the server's own count of handshakes to hold the clients' counts against.
    ``h2`` serves HTTP/2 over TLS and logs each request's connection number, protocol and
    status: the server's count of h2load's requests and connections."""
    return f"""\
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 16384;
pid {tmp}/validate-nginx.pid;
error_log {tmp}/validate-nginx.error.log warn;
events {{
    worker_connections 8192;
}}
http {{
    access_log off;
    client_body_temp_path {tmp}/vclient_body;
    proxy_temp_path {tmp}/vproxy_temp;
    fastcgi_temp_path {tmp}/vfastcgi_temp;
    uwsgi_temp_path {tmp}/vuwsgi_temp;
    scgi_temp_path {tmp}/vscgi_temp;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    default_type text/plain;
    root {root};
    limit_req_zone $server_port zone=validate:1m rate={rate}r/s;
    log_format reused "$ssl_session_reused";
    log_format streams "$connection $server_protocol $status";
    server {{
        listen 127.0.0.1:{plain} reuseport backlog=4096;
    }}
    server {{
        listen 127.0.0.1:{limited} reuseport backlog=4096;
        limit_req zone=validate burst=100000;
    }}
    server {{
        listen 127.0.0.1:{tls} ssl backlog=4096;
        ssl_certificate {cert.cert};
        ssl_certificate_key {cert.key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:VALIDATE:10m;
        ssl_session_tickets on;
        access_log {tmp}/validate-tls.log reused;
    }}
    server {{
        listen 127.0.0.1:{h2} ssl http2 backlog=4096;
        ssl_certificate {cert.cert};
        ssl_certificate_key {cert.key};
        ssl_protocols TLSv1.2 TLSv1.3;
        access_log {tmp}/validate-h2.log streams;
    }}
}}
"""
