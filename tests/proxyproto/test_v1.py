"""Version 1 (the text line), byte for byte: what decodes, what encodes, what is refused."""

from __future__ import annotations

import pytest

from l7lb.proxyproto.header import Command, Family, ProxyError, ProxyHeader, Transport
from l7lb.proxyproto.v1 import decode_v1, encode_v1

TCP4 = b"PROXY TCP4 192.0.2.7 198.51.100.10 56324 443\r\n"
TCP6 = b"PROXY TCP6 2001:db8::7 2001:db8::10 56324 443\r\n"


def test_tcp4_line() -> None:
    header, used = decode_v1(TCP4 + b"GET / HTTP/1.1\r\n")  # type: ignore[misc]
    assert used == len(TCP4)
    assert header == ProxyHeader(
        1,
        Command.PROXY,
        Family.INET,
        Transport.STREAM,
        ("192.0.2.7", 56324),
        ("198.51.100.10", 443),
    )
    assert header.relayed
    assert encode_v1(header) == TCP4


def test_tcp6_line_is_canonicalised() -> None:
    line = b"PROXY TCP6 2001:DB8:0:0:0:0:0:7 2001:db8::10 1 65535\r\n"
    header, used = decode_v1(line)  # type: ignore[misc]
    assert used == len(line)
    assert header.source == ("2001:db8::7", 1)
    assert header.destination == ("2001:db8::10", 65535)
    assert header.family is Family.INET6
    assert encode_v1(header) == b"PROXY TCP6 2001:db8::7 2001:db8::10 1 65535\r\n"


def test_longest_tcp6_line_fits() -> None:
    full = ":".join(["ffff"] * 8)
    line = f"PROXY TCP6 {full} {full} 65535 65535\r\n".encode()
    assert len(line) == 104
    header, used = decode_v1(line)  # type: ignore[misc]
    assert used == 104 and header.source == ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535)


@pytest.mark.parametrize(
    "line",
    [
        b"PROXY UNKNOWN\r\n",
        b"PROXY UNKNOWN ffff::1 ffff::2 65535 65535\r\n",
        b"PROXY UNKNOWN anything at all, even \x01 bytes\r\n",
    ],
)
def test_unknown_uses_the_real_endpoints(line: bytes) -> None:
    header, used = decode_v1(line + b"rest")  # type: ignore[misc]
    assert used == len(line)
    assert header == ProxyHeader(1, Command.PROXY, Family.UNSPEC, Transport.UNSPEC)
    assert not header.relayed
    assert encode_v1(header) == b"PROXY UNKNOWN\r\n"


def test_worst_case_unknown_line_of_107_bytes() -> None:
    full = ":".join(["ffff"] * 8)
    line = f"PROXY UNKNOWN {full} {full} 65535 65535\r\n".encode()
    assert len(line) == 107
    assert decode_v1(line) is not None
    # one byte more and the CRLF is past the limit
    longer = line[:-2] + b"5\r\n"
    with pytest.raises(ProxyError) as err:
        decode_v1(longer)
    assert err.value.reason == "v1_too_long"


@pytest.mark.parametrize(
    "partial",
    [b"P", b"PROX", b"PROXY ", b"PROXY TCP4 1.2.3.4", TCP4[:-1], TCP4[:-2]],
)
def test_incomplete_lines_wait(partial: bytes) -> None:
    assert decode_v1(partial) is None


def test_no_crlf_within_107_bytes() -> None:
    with pytest.raises(ProxyError) as err:
        decode_v1(b"PROXY TCP4 " + b"1" * 200)
    assert err.value.reason == "v1_too_long"
    # refused as soon as 107 bytes are in, not later
    with pytest.raises(ProxyError):
        decode_v1((b"PROXY TCP4 " + b"1" * 200)[:107])
    assert decode_v1((b"PROXY TCP4 " + b"1" * 200)[:106]) is None


def test_cr_as_the_107th_byte_is_too_long() -> None:
    line = b"PROXY UNKNOWN " + b"x" * 92 + b"\r"
    assert len(line) == 107
    with pytest.raises(ProxyError) as err:
        decode_v1(line)
    assert err.value.reason == "v1_too_long"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"PROXZ TCP4", "not_proxy"),
        (b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "not_proxy"),
        (b"PROXY TCP4 192.0.2.7 198.51.100.10 56324 443\n", "v1_syntax"),  # bare LF
        (b"PROXY TCP4 192.0.2.7 198.51.100.10 56324 443\rX", "v1_syntax"),  # bare CR
        (b"PROXY TCP4 192.0.2.7 198.51.100.10 56324\r\n", "v1_syntax"),  # 5 fields
        (b"PROXY TCP4 192.0.2.7 198.51.100.10 56324 443 x\r\n", "v1_syntax"),  # 7
        (b"PROXY  TCP4 192.0.2.7 198.51.100.10 56324 443\r\n", "v1_syntax"),  # 2 spaces
        (b"PROXY TCP4 192.0.2.7  198.51.100.10 56324 443\r\n", "v1_syntax"),
        (b"PROXY TCP4 192.0.2.7 198.51.100.10 56324 443 \r\n", "v1_syntax"),  # trailing
        (b"PROXY UDP4 192.0.2.7 198.51.100.10 56324 443\r\n", "v1_syntax"),
        (b"PROXY UNKNOWNX\r\n", "v1_syntax"),
        (b"PROXY\r\n", "v1_syntax"),
        (b"PROXY \r\n", "v1_syntax"),
        (b"PROXY TCP4 192.0.2.300 198.51.100.10 56324 443\r\n", "v1_address"),
        (b"PROXY TCP4 192.0.2.07 198.51.100.10 56324 443\r\n", "v1_address"),  # octal?
        (b"PROXY TCP4 192.0.2 198.51.100.10 56324 443\r\n", "v1_address"),
        (b"PROXY TCP4 2001:db8::7 198.51.100.10 56324 443\r\n", "v1_address"),  # family
        (b"PROXY TCP6 192.0.2.7 2001:db8::10 56324 443\r\n", "v1_address"),
        (b"PROXY TCP6 2001:db8::7%eth0 2001:db8::10 56324 443\r\n", "v1_address"),
        (b"PROXY TCP6 [2001:db8::7] 2001:db8::10 56324 443\r\n", "v1_address"),
        (b"PROXY TCP6 2001:db8:::7 2001:db8::10 56324 443\r\n", "v1_address"),
        (b"PROXY TCP4 localhost 198.51.100.10 56324 443\r\n", "v1_address"),
        (b"PROXY TCP4 192.0.2.7 198.51.100.10 65536 443\r\n", "v1_port"),
        (b"PROXY TCP4 192.0.2.7 198.51.100.10 056324 443\r\n", "v1_port"),
        (b"PROXY TCP4 192.0.2.7 198.51.100.10 -1 443\r\n", "v1_port"),
        (b"PROXY TCP4 192.0.2.7 198.51.100.10 +1 443\r\n", "v1_port"),
        (b"PROXY TCP4 192.0.2.7 198.51.100.10 1 0x1bb\r\n", "v1_port"),
        (b"PROXY TCP4 192.0.2.7 198.51.100.10 1 \r\n", "v1_port"),
    ],
)
def test_malformed_lines_are_refused(line: bytes, reason: str) -> None:
    with pytest.raises(ProxyError) as err:
        decode_v1(line)
    assert err.value.reason == reason
    assert str(err.value).startswith(reason)


def test_port_zero_is_a_port() -> None:
    header, _ = decode_v1(b"PROXY TCP4 0.0.0.0 255.255.255.255 0 0\r\n")  # type: ignore[misc]
    assert header.source == ("0.0.0.0", 0) and header.destination == ("255.255.255.255", 0)


def test_encoding_what_v1_cannot_say_gives_unknown() -> None:
    local = ProxyHeader(2, Command.LOCAL)
    unix = ProxyHeader(2, Command.PROXY, Family.UNIX, Transport.STREAM, unix_paths=(b"/a", b"/b"))
    udp = ProxyHeader(
        2, Command.PROXY, Family.INET, Transport.DGRAM, ("1.2.3.4", 1), ("5.6.7.8", 2)
    )
    for header in (local, unix, udp):
        assert encode_v1(header) == b"PROXY UNKNOWN\r\n"


def test_encoding_refuses_a_bad_port() -> None:
    bad = ProxyHeader(
        1, Command.PROXY, Family.INET, Transport.STREAM, ("1.2.3.4", 70000), ("5.6.7.8", 2)
    )
    with pytest.raises(ValueError):
        encode_v1(bad)
