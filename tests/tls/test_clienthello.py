"""ClientHello parser: hand-built hellos, hostile bytes, real hellos from real clients."""

from __future__ import annotations

import socket
import ssl
import struct
import subprocess
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.tls.clienthello import (
    NEED_MORE,
    ClientHello,
    ClientHelloError,
    looks_like_http,
    parse_client_hello,
)


def ext(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def v16(b: bytes) -> bytes:
    return struct.pack("!H", len(b)) + b


def sni_ext(*names: bytes) -> bytes:
    return ext(0, v16(b"".join(b"\x00" + v16(n) for n in names)))


def hello(exts: bytes = b"", sid: bytes = b"\x11" * 32, record_split: int | None = None) -> bytes:
    body = (
        b"\x03\x03"
        + b"\x42" * 32
        + bytes([len(sid)])
        + sid
        + v16(b"\x13\x01\xc0\x2f")
        + b"\x01\x00"
        + v16(exts)
    )
    msg = b"\x01" + len(body).to_bytes(3, "big") + body
    if record_split is None:
        return b"\x16\x03\x01" + v16(msg)
    a, b = msg[:record_split], msg[record_split:]
    return b"\x16\x03\x01" + v16(a) + b"\x16\x03\x01" + v16(b)


FULL_EXTS = (
    sni_ext(b"WWW.Example.com")
    + ext(16, v16(b"\x02h2\x08http/1.1"))
    + ext(43, b"\x04\x03\x04\x03\x03")
    + ext(35, b"")
    + ext(
        41,
        v16(v16(b"I" * 40) + b"\x00\x00\x00\x01" + v16(b"J" * 20) + b"\x00" * 4)
        + v16(b"\x20" + b"B" * 32),
    )
)


def test_parses_all_fields() -> None:
    h = parse_client_hello(hello(FULL_EXTS))
    assert isinstance(h, ClientHello)
    assert h.server_name == "www.example.com"
    assert h.session_id == b"\x11" * 32
    assert h.alpn == (b"h2", b"http/1.1")
    assert h.supported_versions == (0x0304, 0x0303)
    assert h.offers_tls13
    assert h.psk_identities == (b"I" * 40, b"J" * 20)
    assert h.session_ticket == b""
    assert h.legacy_version == 0x0303


def test_minimal_hello_without_extensions() -> None:
    h = parse_client_hello(hello(b"", sid=b""))
    assert isinstance(h, ClientHello)
    assert h.server_name is None and h.session_id == b"" and h.psk_identities == ()
    assert h.session_ticket is None and not h.offers_tls13


def test_every_strict_prefix_needs_more() -> None:
    data = hello(FULL_EXTS)
    for n in range(len(data)):
        assert parse_client_hello(data[:n]) is NEED_MORE, n


def test_hello_split_over_two_records() -> None:
    data = hello(FULL_EXTS, record_split=10)
    h = parse_client_hello(data)
    assert isinstance(h, ClientHello) and h.server_name == "www.example.com"
    for n in range(len(data)):
        assert parse_client_hello(data[:n]) is NEED_MORE


@pytest.mark.parametrize(
    "data",
    [
        b"\x17\x03\x03\x00\x05hello",  # application data record
        b"\x16\x02\x00\x00\x05",  # SSLv2-ish version
        b"\x16\x03\x01\x00\x00",  # empty record
        b"\x16\x03\x01\x40\x01",  # record longer than 2^14
        b"\x16\x03\x01\x00\x04\x02\x00\x00\x00",  # ServerHello, not ClientHello
        b"\x16\x03\x01\x00\x04\x01\xff\xff\xff",  # absurd handshake length
        hello(sni_ext(b"a\x00b")),  # NUL in host name
        hello(sni_ext(b"a.example.")),  # trailing dot
        hello(sni_ext(b"a.example", b"b.example")),  # two host names
        hello(ext(0, b"\x00\x10")),  # SNI list overruns
        hello(ext(16, v16(b"\x00"))),  # empty ALPN name
        hello(ext(43, b"\x03\x03\x04\x03")),  # odd versions length
        hello(ext(16, v16(b"\x02h2")) + ext(16, v16(b"\x02h2"))),  # duplicate extension
        hello(ext(41, v16(v16(b"x") + b"\0\0\0\0") + v16(b"\x01b")) + ext(0, b"")),  # psk not last
        hello(b"", sid=b"\x11" * 33),  # session id > 32
    ],
)
def test_malformed_hellos_are_refused(data: bytes) -> None:
    with pytest.raises(ClientHelloError):
        parse_client_hello(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        result = parse_client_hello(data)
    except ClientHelloError:
        return
    assert result is NEED_MORE or isinstance(result, ClientHello)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_real_hellos_never_crash(data: st.DataObject) -> None:
    raw = bytearray(hello(FULL_EXTS))
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        result = parse_client_hello(bytes(raw[:cut]))
    except ClientHelloError:
        return
    assert result is NEED_MORE or isinstance(result, ClientHello)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"GET / HTTP/1.1\r\n", True),
        (b"POST /x HTTP/1.0\r\n", True),
        (b"PROPFIND / HTTP/1.1", True),
        (b"GE", False),
        (b"\x16\x03\x01\x02\x00", False),
        (b"get / HTTP/1.1", False),
        (b"\x00\x01\x02 abc", False),
        (b"", False),
    ],
)
def test_looks_like_http(data: bytes, expected: bool) -> None:
    assert looks_like_http(data) is expected


@given(st.binary(max_size=64))
def test_looks_like_http_never_raises(data: bytes) -> None:
    assert looks_like_http(data) in (True, False)


# --- real ClientHellos from real clients -----------------------------------


def capture_hello(client: callable) -> bytes:  # type: ignore[valid-type]
    """Run ``client(port)`` against a raw TCP socket and return the bytes it sent first."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(5)
    port = lsock.getsockname()[1]
    t = threading.Thread(target=client, args=(port,), daemon=True)
    t.start()
    conn, _ = lsock.accept()
    conn.settimeout(5)
    data = b""
    try:
        while parse_client_hello(data) is NEED_MORE:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        conn.close()
        lsock.close()
        t.join(5)
    return data


def python_client(server_hostname: str, **kw: object):  # type: ignore[no-untyped-def]
    def run(port: int) -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        for k, v in kw.items():
            setattr(ctx, k, v)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                ctx.wrap_socket(s, server_hostname=server_hostname)
        except (OSError, ssl.SSLError):
            pass

    return run


def test_real_python_ssl_hello() -> None:
    h = parse_client_hello(capture_hello(python_client("shop.example.org")))
    assert isinstance(h, ClientHello)
    assert h.server_name == "shop.example.org"
    assert h.alpn == (b"http/1.1",)
    assert 0x0304 in h.supported_versions
    assert len(h.session_id) == 32  # TLS 1.3 middlebox-compatibility random id


def test_real_python_tls12_only_hello() -> None:
    h = parse_client_hello(
        capture_hello(python_client("old.example.org", maximum_version=ssl.TLSVersion.TLSv1_2))
    )
    assert isinstance(h, ClientHello)
    assert h.server_name == "old.example.org" and not h.offers_tls13


def test_real_openssl_s_client_hello() -> None:
    def run(port: int) -> None:
        subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "api.test"],
            input=b"",
            capture_output=True,
            timeout=10,
        )

    h = parse_client_hello(capture_hello(run))
    assert isinstance(h, ClientHello)
    assert h.server_name == "api.test"


def test_real_curl_hello() -> None:
    def run(port: int) -> None:
        subprocess.run(
            [
                "curl",
                "-sk",
                "--max-time",
                "3",
                "--resolve",
                f"curl.test:{port}:127.0.0.1",
                f"https://curl.test:{port}/",
            ],
            capture_output=True,
            timeout=10,
        )

    h = parse_client_hello(capture_hello(run))
    assert isinstance(h, ClientHello)
    assert h.server_name == "curl.test"
    assert b"http/1.1" in h.alpn
