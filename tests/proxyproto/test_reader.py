"""``read_header``: which version, when to wait, when to refuse; trust, arrival, outbound."""

from __future__ import annotations

import ipaddress

import pytest

from l7lb.proxyproto.arrival import Arrival, arrival_of
from l7lb.proxyproto.header import (
    PP2_TYPE_ALPN,
    PP2_TYPE_AUTHORITY,
    Command,
    Family,
    ProxyError,
    ProxyHeader,
    Transport,
)
from l7lb.proxyproto.outbound import (
    TlsFacts,
    check_header,
    client_header,
    endpoint,
    header_for_client,
    tls_facts,
)
from l7lb.proxyproto.reader import read_header
from l7lb.proxyproto.tlv import ssl_of
from l7lb.proxyproto.trust import TrustedSources
from l7lb.proxyproto.v2 import encode_v2

V1 = b"PROXY TCP4 192.0.2.7 198.51.100.10 56324 443\r\n"
V2 = encode_v2(
    ProxyHeader(
        2,
        Command.PROXY,
        Family.INET,
        Transport.STREAM,
        ("192.0.2.7", 56324),
        ("198.51.100.10", 443),
    )
)


@pytest.mark.parametrize("raw", [V1, V2])
def test_both_versions_and_what_follows(raw: bytes) -> None:
    header, used = read_header(raw + b"GET / HTTP/1.1\r\n")  # type: ignore[misc]
    assert used == len(raw)
    assert header.source == ("192.0.2.7", 56324)
    assert header.version == (1 if raw is V1 else 2)


@pytest.mark.parametrize("raw", [V1, V2])
def test_byte_by_byte(raw: bytes) -> None:
    for n in range(len(raw)):
        assert read_header(raw[:n]) is None
    assert read_header(raw) is not None


@pytest.mark.parametrize(
    "first",
    [
        b"GET / HTTP/1.1\r\n",  # a client straight to the PROXY port
        b"\x16\x03\x01\x02\x00\x01",  # a TLS ClientHello straight to it
        b"\x00",
        b"p",
        b"\r\n\r\n\r\n",
    ],
)
def test_what_is_no_proxy_header_is_refused_at_once(first: bytes) -> None:
    with pytest.raises(ProxyError) as err:
        read_header(first)
    assert err.value.reason == "not_proxy"


def test_a_tls_record_is_named_in_the_detail() -> None:
    with pytest.raises(ProxyError) as err:
        read_header(b"\x16\x03\x01")
    assert "TLS" in err.value.detail


# ---- trust ---------------------------------------------------------------------------------


def nets(*texts: str) -> TrustedSources:
    return TrustedSources(ipaddress.ip_network(t) for t in texts)


def test_trusted_sources() -> None:
    t = nets("10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32")
    assert t.trusts("10.1.2.3")
    assert t.trusts("192.0.2.7")
    assert not t.trusts("192.0.2.8")
    assert t.trusts("2001:db8::1")
    assert t.trusts("2001:db8::1%eth0")
    assert not t.trusts("2001:db9::1")
    assert t.trusts("::ffff:10.9.9.9")  # an IPv4 peer on a dual-stack socket
    assert not t.trusts("::ffff:11.9.9.9")
    assert not t.trusts("")
    assert not t.trusts("/run/l7lb.sock")
    assert not t.trusts("not an address")
    assert "10.0.0.0/8" in repr(t)


def test_trust_everyone_must_be_written_out() -> None:
    assert not TrustedSources(()).trusts("127.0.0.1")
    everyone = nets("0.0.0.0/0", "::/0")
    assert everyone.trusts("203.0.113.9") and everyone.trusts("2001:db8::9")


# ---- arrival -------------------------------------------------------------------------------


def test_arrival_of_a_relayed_header() -> None:
    header, _ = read_header(V2)  # type: ignore[misc]
    assert arrival_of(header, "www.example.com") == Arrival(
        ("192.0.2.7", 56324), ("198.51.100.10", 443), "www.example.com"
    )


@pytest.mark.parametrize("raw", [b"PROXY UNKNOWN\r\n", encode_v2(ProxyHeader(2, Command.LOCAL))])
def test_arrival_of_local_or_unknown_keeps_the_socket(raw: bytes) -> None:
    header, _ = read_header(raw)  # type: ignore[misc]
    assert arrival_of(header) == Arrival()
    assert arrival_of(None, "sni") == Arrival(None, None, "sni")


# ---- outbound ------------------------------------------------------------------------------


def test_endpoint() -> None:
    assert endpoint(("10.0.0.1", 80)) == ("10.0.0.1", 80)
    assert endpoint(("fe80::1%eth0", 80, 0, 2)) == ("fe80::1", 80)
    assert endpoint(("2001:DB8::1", 80, 0, 0)) == ("2001:db8::1", 80)
    assert endpoint("/run/sock") is None
    assert endpoint(None) is None
    assert endpoint(("name.example", 80)) is None


def test_client_header_v1() -> None:
    assert client_header("v1", ("192.0.2.7", 56324), ("198.51.100.10", 443)) == V1
    assert client_header("v1", None, ("198.51.100.10", 443)) == b"PROXY UNKNOWN\r\n"
    # mixed families cannot be said on one line
    assert client_header("v1", ("2001:db8::7", 1), ("10.0.0.1", 2)) == b"PROXY UNKNOWN\r\n"


def test_client_header_v2_plain_and_tls() -> None:
    assert client_header("v2", ("192.0.2.7", 56324), ("198.51.100.10", 443)) == V2
    tls = TlsFacts("TLSv1.3", "TLS_AES_128_GCM_SHA256", "http/1.1", "www.example.com")
    raw = client_header("v2", ("192.0.2.7", 56324), ("198.51.100.10", 443), tls)
    header, used = read_header(raw)  # type: ignore[misc]
    assert used == len(raw) and raw.startswith(V2[:13])
    assert header.source == ("192.0.2.7", 56324)
    ssl = ssl_of(header)
    assert ssl is not None and ssl.version == "TLSv1.3"
    assert ssl.cipher == "TLS_AES_128_GCM_SHA256"
    assert header.authority == "www.example.com"
    assert header.tlv(PP2_TYPE_ALPN) == b"http/1.1"
    # v1 has no room for TLS facts
    assert client_header("v1", ("192.0.2.7", 56324), ("198.51.100.10", 443), tls) == V1
    # no SNI, no ALPN: no such TLVs
    bare = client_header("v2", None, None, TlsFacts("TLSv1.2"))
    header, _ = read_header(bare)  # type: ignore[misc]
    assert header.family is Family.UNSPEC
    assert header.tlv(PP2_TYPE_AUTHORITY) is None and header.tlv(PP2_TYPE_ALPN) is None


def test_check_header() -> None:
    assert check_header("v2", ("10.0.0.1", 5), ("10.0.0.2", 80)) == (
        b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"
    )
    assert check_header("v1", ("10.0.0.1", 5), ("10.0.0.2", 80)) == (
        b"PROXY TCP4 10.0.0.1 10.0.0.2 5 80\r\n"
    )


class FakeSsl:
    def version(self) -> str:
        return "TLSv1.2"

    def cipher(self) -> tuple[str, str, int]:
        return ("ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2", 128)

    def selected_alpn_protocol(self) -> None:
        return None


def test_header_for_client_prefers_the_arrival() -> None:
    info = {"peername": ("10.0.0.9", 4000), "sockname": ("10.0.0.1", 80), "ssl_object": None}
    via_socket = header_for_client("v1", None, info.get)
    assert via_socket == b"PROXY TCP4 10.0.0.9 10.0.0.1 4000 80\r\n"
    arrival = Arrival(("203.0.113.5", 1234), ("192.0.2.80", 443), None)
    assert header_for_client("v1", arrival, info.get) == (
        b"PROXY TCP4 203.0.113.5 192.0.2.80 1234 443\r\n"
    )
    # an arrival with no addresses (LOCAL, UNKNOWN, plain TLS) keeps the socket's
    assert header_for_client("v1", Arrival(None, None, "x"), info.get) == via_socket


def test_header_for_client_tls_facts() -> None:
    info = {"peername": ("10.0.0.9", 4000), "sockname": ("10.0.0.1", 443), "ssl_object": FakeSsl()}
    raw = header_for_client("v2", Arrival(None, None, "shop.example"), info.get)
    header, _ = read_header(raw)  # type: ignore[misc]
    assert header.source == ("10.0.0.9", 4000)
    ssl = ssl_of(header)
    assert ssl is not None and ssl.version == "TLSv1.2"
    assert ssl.cipher == "ECDHE-RSA-AES128-GCM-SHA256"
    assert header.authority == "shop.example"
    assert tls_facts(None, "x") is None
