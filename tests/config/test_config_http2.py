"""[http2], [vip] http2 and [vip.tls] alpn: defaults, values, and errors that say the fix."""

from __future__ import annotations

import pytest

from l7lb.config.http2 import Http2Settings
from l7lb.config.load import ConfigError, parse_config

PLAIN = """
[[vip]]
name = "w"
listen = ["127.0.0.1:8080"]
{vip}
  [[vip.route]]
  pool = "p"
[pool.p]
  [[pool.p.server]]
  address = "127.0.0.1:9001"
{top}
"""
TLS = 'tls = { certificates = [{ cert = "a.pem", key = "a.key" }] %s}'


def load(vip: str = "", top: str = ""):
    return parse_config(PLAIN.format(vip=vip, top=top))


def errors(vip: str = "", top: str = "") -> list[str]:
    with pytest.raises(ConfigError) as e:
        load(vip, top)
    return [str(i) for i in e.value.errors]


def test_defaults_are_the_issue_s() -> None:
    c = load()
    assert c.http2 == Http2Settings()
    s = c.http2
    assert (s.max_concurrent_streams, s.max_header_list_size, s.header_table_size) == (
        100,
        32768,
        4096,
    )
    assert (s.max_continuation_frames, s.max_header_block_size) == (16, 65536)
    assert (s.reset_burst, s.reset_rate, s.headers_timeout) == (200, 20.0, 10.0)
    assert c.vips[0].http2 == "off"
    tls = load(vip=TLS % "").vips[0].tls
    assert tls.alpn == ("h2", "http/1.1")


def test_every_key_is_read() -> None:
    c = load(
        top="""[http2]
max_concurrent_streams = 50
max_header_list_size = 16384
header_table_size = 0
max_continuation_frames = 4
max_header_block_size = 32768
initial_window_size = 1048576
connection_window_size = 4194304
max_frame_size = 32768
stream_buffer = 131072
headers_timeout = "5s"
idle_timeout = "2m"
reset_burst = 100
reset_rate = 10
max_reset_share = 0.25
flood_burst = 50
flood_rate = 5.5
"""
    )
    assert c.http2 == Http2Settings(
        50,
        16384,
        0,
        4,
        32768,
        1048576,
        4194304,
        32768,
        131072,
        5.0,
        120.0,
        100,
        10.0,
        0.25,
        50,
        5.5,
    )


def test_prior_knowledge_and_alpn() -> None:
    assert load(vip='http2 = "prior-knowledge"').vips[0].http2 == "prior-knowledge"
    assert load(vip=TLS % ', alpn = ["http/1.1"] ').vips[0].tls.alpn == ("http/1.1",)


@pytest.mark.parametrize(
    "vip,top,expected",
    [
        (
            "",
            "[http2]\nmax_concurrent_streams = 0",
            "http2 max_concurrent_streams: 0 is out of range",
        ),
        ("", "[http2]\nmax_frame_size = 1000", "http2 max_frame_size: 1000 is out of range"),
        ("", "[http2]\ninitial_window_size = 1000", "http2 initial_window_size: 1000 is out"),
        ("", "[http2]\nreset_rate = true", "http2 reset_rate: expected a number"),
        ("", '[http2]\nheaders_timeout = "soon"', "http2 headers_timeout"),
        ("", "[http2]\nmax_streams = 10", "http2 max_streams: unknown key"),
        (
            "",
            "[http2]\nmax_header_block_size = 8192\nmax_frame_size = 16384",
            "smaller than max_frame_size",
        ),
        ('http2 = "h2c"', "", 'vip "w" http2: unknown value'),
        ('http2 = "prior-knowledge"\n' + TLS % "", "", "a TLS VIP negotiates HTTP/2 with ALPN"),
        (TLS % ', alpn = ["h3"] ', "", "unknown protocol 'h3'"),
        (TLS % ", alpn = [] ", "", "must be a non-empty list"),
        (TLS % ', alpn = ["h2", "h2"] ', "", "a protocol is listed twice"),
    ],
)
def test_errors_name_the_key_and_the_fix(vip: str, top: str, expected: str) -> None:
    found = errors(vip, top)
    assert any(expected in e for e in found), found
    assert all("hint:" in e for e in found if expected in e)


def test_the_documented_http2_section_is_the_defaults_and_lists_every_key() -> None:
    from pathlib import Path

    from l7lb.config.http2 import KEYS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    section = doc.split("## 22. `[http2]`", 1)[1]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    assert load(top=block).http2 == Http2Settings()
    for key in KEYS:
        assert f"\n### `{key}`\n" in section, key
