import pytest
from harness.loadtools import (
    ParseError,
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
