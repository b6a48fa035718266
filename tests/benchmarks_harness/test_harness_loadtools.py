import re
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from harness.loadtools import (
    DISTINCT_COOKIES_LUA,
    H2LOAD,
    WRK,
    ParseError,
    h2load_command,
    parse_h2load,
    parse_s_time,
    parse_wrk,
    s_time_command,
    wrk_command,
)

WRK_OK = """\
Running 5s test @ http://127.0.0.1:40001/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.40ms  207.33us   5.10ms   88.20%
    Req/Sec    35.87k     1.10k   37.50k    72.00%
  178500 requests in 5.00s, 27.41MB read
Requests/sec:  35693.70
Transfer/sec:      5.48MB
"""

WRK_ERRORS = """\
Running 2s test @ http://127.0.0.1:40001/1mib
  1 threads and 50 connections
  2450 requests in 2.01s, 2.40GB read
  Socket errors: connect 3, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:   1218.90
Transfer/sec:      1.19GB
"""


def test_wrk_plain() -> None:
    r = parse_wrk(WRK_OK)
    assert r.requests == 178500
    assert r.seconds == 5.0
    assert r.bytes_read == round(27.41 * 1024 * 1024)  # wrk's MB is binary
    assert (r.socket_errors, r.non_2xx, r.errors) == (0, 0, 0)


def test_wrk_errors_and_units() -> None:
    r = parse_wrk(WRK_ERRORS)
    assert r.requests == 2450
    assert r.seconds == pytest.approx(2.01)
    assert r.bytes_read == round(2.40 * 1024**3)
    assert r.socket_errors == 6
    assert r.non_2xx == 7
    assert r.errors == 13


@pytest.mark.parametrize(("text", "seconds"), [("1.00m", 60.0), ("500.00ms", 0.5)])
def test_wrk_duration_units(text: str, seconds: float) -> None:
    r = parse_wrk(f"  10 requests in {text}, 100.00B read\n")
    assert r.seconds == pytest.approx(seconds)
    assert r.bytes_read == 100


def test_wrk_garbage_is_an_error() -> None:
    with pytest.raises(ParseError):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


S_TIME_NEW = """\
Collecting connection statistics for 5 seconds
*****************************

1000 connections in 0.51s; 1960.78 connections/user sec, bytes read 5190000
1000 connections in 2 real seconds, 5190 bytes read per connection
"""

S_TIME_REUSE = """\


Now timing with session id reuse.
starting
*rrrrrrrrr

3241 connections in 0.75s; 4321.33 connections/user sec, bytes read 15148434
3241 connections in 2 real seconds, 4674 bytes read per connection
"""


def test_s_time_new() -> None:
    r = parse_s_time(S_TIME_NEW)
    assert r.connections == 1000
    assert r.resumed == 0


def test_s_time_reuse_counts_resumed_marks() -> None:
    r = parse_s_time(S_TIME_REUSE)
    assert r.connections == 3241
    assert r.resumed == 9  # "r" marks; the "*" is the first, full handshake


def test_s_time_garbage_is_an_error() -> None:
    with pytest.raises(ParseError):
        parse_s_time("connect:errno=111\n")


def test_wrk_command_keepalive_and_close() -> None:
    ka = wrk_command("http://127.0.0.1:1/", 5, 50, 1)
    assert ka[1:5] == ["-t1", "-c50", "-d5s", "--timeout"]
    assert "-H" not in ka
    assert ka[-1] == "http://127.0.0.1:1/"
    close = wrk_command("http://127.0.0.1:1/", 2.5, headers=("Connection: close",))
    assert "-d2.5s" in close
    assert close[close.index("-H") + 1] == "Connection: close"


def test_s_time_command_modes() -> None:
    new = s_time_command("127.0.0.1:443", 5, reuse=False)
    assert "-new" in new and "-reuse" not in new
    assert new[new.index("-time") + 1] == "5"
    assert new[-2:] == ["-www", "/"]
    assert "-reuse" in s_time_command("127.0.0.1:443", 0.2, reuse=True)
    # s_time takes whole seconds; never 0, which would mean "default"
    assert s_time_command("h:1", 0.2, reuse=True)[5:7] == ["-time", "1"]


# h2load 1.52 against nginx 1.22 (`listen ... ssl http2`), 10 clients x 10 streams, 2 s; nginx's
# default of 1,000 requests per connection made every client stop early (GOAWAY, then 54
# requests that failed): exactly what the parser must expose.
H2LOAD_GOAWAY = """\
starting benchmark...
spawning thread #0: 10 total client(s). Timing-based test with 0s of warm-up time and 2s of main \
duration for measurements.
Warm-up started for thread #0.
progress: 10% of clients started
Warm-up phase is over for thread #0.
Main benchmark duration is started for thread #0.
TLS Protocol: TLSv1.3
Cipher: TLS_AES_128_GCM_SHA256
Server Temp Key: X25519 253 bits
Application protocol: h2
Process Request Failure:2
Main benchmark duration is over for thread #0. Stopping all clients.
Stopped all clients for thread #0

finished in 2.01s, 5000.00 req/s, 386.06KB/s
requests: 10054 total, 10090 started, 10054 done, 10000 succeeded, 54 failed, 54 errored, 0 timeout
status codes: 10000 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 772.13KB (790660) total, 478.52KB (490000) headers (space savings 50.51%), 117.19KB \
(120000) data
                     min         max         mean         sd        +/- sd
time for request:       26us     17.05ms      3.03ms      2.46ms    68.39%
req/s           :    2346.67     2644.59     2431.94       92.54    80.00%
"""

# a server that selected http/1.1 (h2load then falls back to it unless told --npn-list=h2)
H2LOAD_HTTP11 = """\
TLS Protocol: TLSv1.3
Cipher: TLS_AES_128_GCM_SHA256
Server Temp Key: X25519 253 bits
Application protocol: http/1.1

finished in 1.00s, 0.00 req/s, 8.86KB/s
requests: 0 total, 4 started, 0 done, 0 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 2 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 8.86KB (9072) total, 42B (42) headers (space savings 0.00%), 8.77KB (8984) data
"""


def test_h2load_summary() -> None:
    r = parse_h2load(H2LOAD_GOAWAY)
    assert r.seconds == pytest.approx(2.01)
    assert (r.total, r.started, r.done, r.succeeded) == (10054, 10090, 10054, 10000)
    assert (r.failed, r.errored, r.timeout, r.status_4xx_5xx) == (54, 54, 0, 0)
    assert r.errors == 54  # failed already counts the errored ones
    assert r.bytes_read == 790660
    assert r.protocol == "h2"
    assert r.tls == "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519"


def test_h2load_that_fell_back_to_http11_says_so() -> None:
    r = parse_h2load(H2LOAD_HTTP11)
    assert r.protocol == "http/1.1"
    assert r.succeeded == 0


@pytest.mark.parametrize(
    "text",
    ["No protocol negotiated. Aborted\n", "finished in 1.00s, 0.00 req/s, 0B/s\n", ""],
)
def test_h2load_garbage_is_an_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse_h2load(text)


def test_h2load_command() -> None:
    argv = h2load_command("https://127.0.0.1:1/", 5, 50, 10)
    assert argv == [
        H2LOAD,
        "--clients=50",
        "--max-concurrent-streams=10",
        "--threads=1",
        "--duration=5000ms",
        "--npn-list=h2",
        "https://127.0.0.1:1/",
    ]
    # h2load takes whole seconds as a bare number: fractions go as milliseconds
    assert "--duration=2500ms" in h2load_command("https://h/", 2.5, 1, 1)


def test_wrk_command_with_distinct_cookies() -> None:
    argv = wrk_command("http://h:1/", 5, 50, 1, ("Connection: close",), cookie_prefix="SRV=a")
    assert argv[argv.index("-s") + 1] == str(DISTINCT_COOKIES_LUA)
    assert argv[-3:] == ["http://h:1/", "--", "SRV=a"]  # the script's argument after the URL
    assert argv[argv.index("-H") + 1] == "Connection: close"
    assert wrk_command("http://h:1/", 5, cookie_prefix="")[-2:] == ["--", ""]
    assert "-s" not in wrk_command("http://h:1/", 5)
    with pytest.raises(ValueError, match="Cookie"):
        wrk_command("http://h:1/", 5, headers=("Cookie: a=b",), cookie_prefix="SRV=a")


def _recording_server(heads: list[bytes], stop: threading.Event) -> int:
    """A keep-alive HTTP/1.1 server that records every request head (bounded: 200 heads)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)

    def serve(conn: socket.socket) -> None:
        buf = b""
        conn.settimeout(0.2)
        with conn:
            while not stop.is_set() and len(heads) < 200:
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    heads.append(head)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def accept() -> None:
        with srv:
            while not stop.is_set():
                try:
                    conn, _ = srv.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    port: int = srv.getsockname()[1]
    return port


@pytest.mark.skipif(shutil.which(WRK) is None, reason="wrk not installed")
def test_distinct_cookies_script_gives_every_request_its_own_cookie() -> None:
    heads: list[bytes] = []
    stop = threading.Event()
    port = _recording_server(heads, stop)
    try:
        argv = wrk_command(f"http://127.0.0.1:{port}/", 1, 2, 1, ("X-Kept: 1",), "SRV=abc")
        done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr
    finally:
        stop.set()
    assert len(heads) >= 20
    cookies = []
    for head in heads:
        lines = head.decode().split("\r\n")
        assert lines[0] == "GET / HTTP/1.1"
        assert "X-Kept: 1" in lines  # -H headers stay
        (cookie,) = [ln for ln in lines if ln.lower().startswith("cookie:")]
        assert re.fullmatch(r"Cookie: SRV=abc; session=[0-9a-f]{16}", cookie)
        cookies.append(cookie)
    assert len(set(cookies)) == len(cookies)  # no two requests alike


@pytest.mark.skipif(
    not (Path(H2LOAD).exists() and Path("/usr/sbin/nginx").exists()),
    reason="h2load (nghttp2-client) or nginx not installed",
)
def test_h2load_counts_match_what_nginx_logged() -> None:
    """The parser against a real h2load run, held to the server's own log."""
    # nginx's workers run as "nobody" when root starts it: pytest's tmp_path (under a 0700
    # directory) would answer 403, so a directory of our own in /tmp
    with tempfile.TemporaryDirectory(prefix="l7lb-h2load-") as tmp:
        _h2load_against_nginx(Path(tmp))


def _h2load_against_nginx(tmp_path: Path) -> None:
    from harness import configs
    from harness.processes import Managed, free_port
    from harness.runner import make_cert

    www = tmp_path / "www"
    www.mkdir()
    (www / "hello").write_text(configs.SMALL_BODY)
    for d in (tmp_path, www, www / "hello"):
        d.chmod(0o755)
    cert = make_cert(tmp_path, "ecdsa-p256")
    ports = [free_port() for _ in range(4)]
    conf = tmp_path / "n.conf"
    conf.write_text(
        configs.nginx_validation_target(*ports[:3], 500, cert, str(www), str(tmp_path), ports[3])
    )
    nginx = Managed("nginx", ["/usr/sbin/nginx", "-c", str(conf), "-p", str(tmp_path)],
                    tmp_path / "n.out")  # fmt: skip
    nginx.start()
    try:
        nginx.wait_listening(ports[3])
        argv = h2load_command(f"https://127.0.0.1:{ports[3]}/hello", 1, 4, 5)
        argv = [a for a in argv if not a.startswith("--duration")]
        argv.insert(1, "--requests=300")
        done = subprocess.run(argv, capture_output=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        r = parse_h2load(done.stdout.decode())
    finally:
        nginx.stop()
    log = (tmp_path / "validate-h2.log").read_text().split("\n")
    lines = [ln.split() for ln in log if ln]
    assert (r.protocol, r.succeeded, r.done, r.errors) == ("h2", 300, 300, 0)
    assert len(lines) == 300
    assert {ln[1] for ln in lines} == {"HTTP/2.0"} and {ln[2] for ln in lines} == {"200"}
    assert len({ln[0] for ln in lines}) == 4  # one connection per client
    assert r.bytes_read > 300 * len(configs.SMALL_BODY)
