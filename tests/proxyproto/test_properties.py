"""Property tests of the codec: round trips, every split point, and arbitrary bytes."""

from __future__ import annotations

import ipaddress

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from l7lb.proxyproto.header import (
    PP2_TYPE_ALPN,
    PP2_TYPE_NOOP,
    V2_SIGNATURE,
    Command,
    Family,
    ProxyError,
    ProxyHeader,
    Tlv,
    Transport,
)
from l7lb.proxyproto.reader import read_header
from l7lb.proxyproto.tlv import ssl_tlv
from l7lb.proxyproto.v1 import decode_v1, encode_v1
from l7lb.proxyproto.v2 import decode_v2, encode_v2

ipv4 = st.builds(lambda n: str(ipaddress.IPv4Address(n)), st.integers(0, 2**32 - 1))
ipv6 = st.builds(lambda n: str(ipaddress.IPv6Address(n)), st.integers(0, 2**128 - 1))
port = st.integers(0, 65535)


@st.composite
def tcp_headers(draw: st.DrawFn, version: int) -> ProxyHeader:
    six = draw(st.booleans())
    addr = ipv6 if six else ipv4
    return ProxyHeader(
        version,
        Command.PROXY,
        Family.INET6 if six else Family.INET,
        Transport.STREAM,
        (draw(addr), draw(port)),
        (draw(addr), draw(port)),
    )


tlv_types = st.sampled_from([PP2_TYPE_ALPN, PP2_TYPE_NOOP, 0x30, 0xE0, 0xEF, 0xF7])
tlvs = st.lists(st.builds(Tlv, tlv_types, st.binary(max_size=40)), max_size=4).map(tuple)


@st.composite
def v2_headers(draw: st.DrawFn) -> ProxyHeader:
    kind = draw(st.sampled_from(["tcp", "udp", "unix", "unspec", "local"]))
    extra = draw(tlvs)
    if draw(st.booleans()):
        extra = (*extra, ssl_tlv(draw(st.sampled_from(["TLSv1.2", "TLSv1.3"])), "X"))
    if kind == "local":
        return ProxyHeader(2, Command.LOCAL)
    if kind == "unspec":
        return ProxyHeader(2, Command.PROXY, tlvs=extra)
    if kind == "unix":
        path = st.binary(max_size=108).map(lambda b: b.rstrip(b"\x00"))
        return ProxyHeader(
            2,
            Command.PROXY,
            Family.UNIX,
            draw(st.sampled_from([Transport.STREAM, Transport.DGRAM])),
            unix_paths=(draw(path), draw(path)),
            tlvs=extra,
        )
    base = draw(tcp_headers(2))
    transport = Transport.STREAM if kind == "tcp" else Transport.DGRAM
    return ProxyHeader(
        2, Command.PROXY, base.family, transport, base.source, base.destination, tlvs=extra
    )


@given(tcp_headers(1), st.binary(max_size=20))
def test_v1_round_trip(header: ProxyHeader, rest: bytes) -> None:
    raw = encode_v1(header)
    assert len(raw) <= 107
    assert decode_v1(raw + rest) == (header, len(raw))
    assert read_header(raw + rest) == (header, len(raw))


@given(v2_headers(), st.booleans(), st.binary(max_size=20))
def test_v2_round_trip(header: ProxyHeader, checksum: bool, rest: bytes) -> None:
    raw = encode_v2(header, checksum=checksum)
    decoded, used = decode_v2(raw + rest)  # type: ignore[misc]
    assert used == len(raw)
    if checksum and header.command is Command.PROXY:
        assert decoded.tlvs[:-1] == header.tlvs and decoded.tlvs[-1].type == 0x03
        assert decoded.tlvs[:-1] == header.tlvs
        decoded = ProxyHeader(
            decoded.version,
            decoded.command,
            decoded.family,
            decoded.transport,
            decoded.source,
            decoded.destination,
            decoded.unix_paths,
            decoded.tlvs[:-1],
        )
    assert decoded == header


@given(st.one_of(tcp_headers(1).map(encode_v1), v2_headers().map(encode_v2)), st.data())
def test_every_prefix_waits_and_the_whole_decodes(raw: bytes, data: st.DataObject) -> None:
    """A header cut anywhere is incomplete, never an error: fragmentation is not malformation
    (2.2 lets TCP deliver it a byte at a time)."""
    cut = data.draw(st.integers(0, len(raw) - 1))
    assert read_header(raw[:cut]) is None
    assert read_header(raw) is not None


@given(st.binary(max_size=300))
@example(V2_SIGNATURE + b"\x21\x11\x00\x0c")
@example(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")
@settings(max_examples=500)
def test_arbitrary_bytes_give_a_header_a_wait_or_a_reason(raw: bytes) -> None:
    try:
        result = read_header(raw)
    except ProxyError as exc:
        assert exc.reason
        return
    if result is not None:
        header, used = result
        assert 0 < used <= len(raw)
        # what decoded re-encodes to something that decodes the same
        again = encode_v1(header) if header.version == 1 else encode_v2(header)
        assert read_header(again) is not None


@given(st.binary(min_size=1, max_size=120))
def test_refusal_is_final(raw: bytes) -> None:
    """Once bytes are refused, more bytes never make them a header (the gate closes at once)."""
    try:
        read_header(raw)
    except ProxyError:
        for more in (b"", b"\r\n", b" 1 2\r\n", bytes(64)):
            try:
                read_header(raw + more)
            except ProxyError:
                continue
            raise AssertionError(f"{raw + more!r} decoded after {raw!r} was refused") from None


@given(st.binary(min_size=1, max_size=1).filter(lambda b: b not in (b"P", b"\r")))
def test_the_first_byte_decides(first: bytes) -> None:
    assume(first not in (b"P", b"\r"))
    try:
        read_header(first)
    except ProxyError as exc:
        assert exc.reason == "not_proxy"
    else:
        raise AssertionError("a byte that starts no PROXY header was not refused")
