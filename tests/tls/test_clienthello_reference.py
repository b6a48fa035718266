"""The lean ClientHello parser agrees with the earlier cursor-based one, byte for byte.

``clienthello_reference.py`` is a copy of the parser before the speed rewrite.
On any input both must return the same fields, both ``NEED_MORE``, or both raise
``ClientHelloError`` with the same message (the listener logs it).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import struct
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l7lb.tls import clienthello as lean


def _load_reference() -> ModuleType:
    name = "l7lb_tests_clienthello_reference"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, Path(__file__).with_name("clienthello_reference.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look the module up while building the class
    spec.loader.exec_module(module)
    return module


ref = _load_reference()


def outcome(module: ModuleType, func: str, data: bytes) -> tuple[str, object]:
    try:
        result = getattr(module, func)(data)
    except module.ClientHelloError as exc:
        return ("error", str(exc))
    if result is module.NEED_MORE:
        return ("need_more", None)
    if dataclasses.is_dataclass(result):
        return ("hello", dataclasses.astuple(result))  # type: ignore[arg-type]
    return ("value", result)


def assert_agree(data: bytes) -> None:
    assert outcome(lean, "parse_client_hello", data) == outcome(ref, "parse_client_hello", data), (
        data.hex()
    )


def ext(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def v16(b: bytes) -> bytes:
    return struct.pack("!H", len(b)) + b


def hello_bytes(
    exts: bytes | None,
    sid: bytes = b"\x11" * 32,
    splits: tuple[int, ...] = (),
    trailer: bytes = b"",
    suites: bytes = b"\x13\x01\xc0\x2f",
    compression: bytes = b"\x01\x00",
) -> bytes:
    body = b"\x03\x03" + b"\x42" * 32 + bytes([len(sid)]) + sid + v16(suites)
    body += compression + (v16(exts) if exts is not None else b"") + trailer
    msg = b"\x01" + len(body).to_bytes(3, "big") + body
    out, prev = b"", 0
    for cut in (*sorted(set(splits)), len(msg)):
        if prev < cut <= len(msg):
            out += b"\x16\x03\x01" + v16(msg[prev:cut])
            prev = cut
    return out


def sni_ext(*names: tuple[int, bytes]) -> bytes:
    return ext(0, v16(b"".join(bytes([t]) + v16(n) for t, n in names)))


PSK = ext(
    41,
    v16(v16(b"I" * 40) + b"\x00\x00\x00\x01" + v16(b"J" * 300) + b"\x00" * 4)
    + v16(b"\x20" + b"B" * 32),
)
FULL = (
    sni_ext((0, b"WWW.Example.com"), (7, b"ignored"))
    + ext(16, v16(b"\x02h2\x08http/1.1"))
    + ext(43, b"\x04\x03\x04\x03\x03")
    + ext(35, b"T" * 100)
    + ext(0xFE0D, b"\x00" * 50)  # unknown extensions are skipped
    + PSK
)

# Each extension in a valid form and in broken ones, to be combined below.
PIECES = [
    sni_ext((0, b"a.example")),
    sni_ext((0, b"A-b_c.Example")),
    sni_ext((1, b"x"), (0, b"b.example")),
    sni_ext((0, b"a.example"), (0, b"b.example")),
    sni_ext((0, b"a.example.")),
    sni_ext((0, b"a b")),
    sni_ext((0, b"\xc3\xa9.example")),
    sni_ext((0, b"")),
    sni_ext((0, b"x" * 256)),
    ext(0, b""),
    ext(0, b"\x00"),
    ext(0, b"\x00\x01\x00"),
    ext(0, b"\x00\x02\x00\x00"),
    ext(0, b"\x00\x03\x00\x00\x05"),
    ext(0, v16(b"\x00" + v16(b"a.b")) + b"x"),
    ext(16, v16(b"\x08http/1.1")),
    ext(16, v16(b"")),
    ext(16, v16(b"\x00")),
    ext(16, v16(b"\x05h2")),
    ext(16, v16(b"\x02h2") + b"!"),
    ext(16, b"\x00"),
    ext(43, b"\x02\x03\x04"),
    ext(43, b"\x00"),
    ext(43, b""),
    ext(43, b"\x03\x03\x04\x03"),
    ext(43, b"\x04\x03\x04"),
    ext(43, b"\x02\x03\x04\x00"),
    ext(35, b""),
    ext(35, b"\x01\x02"),
    PSK,
    ext(41, v16(b"") + v16(b"\x01b")),
    ext(41, v16(v16(b"") + b"\0\0\0\0") + v16(b"\x01b")),
    ext(41, v16(v16(b"x") + b"\0\0") + v16(b"\x01b")),
    ext(41, v16(v16(b"x") + b"\0\0\0\0") + b"\x00"),
    ext(41, v16(v16(b"x") + b"\0\0\0\0") + v16(b"\x01b") + b"!"),
    ext(41, v16(v16(b"x") + b"\0\0\0\0") + b"\x00\x09"),
    ext(41, v16(v16(b"x") + b"\0\0\0\0" + b"\x00")),
    ext(41, b"\x00"),
    ext(41, b"\x00\x09"),
    ext(41, v16(b"\x00\x09xx")),
    ext(0xFF01, b"\x00"),
    b"\x00",
    b"\x00\x10\x00",
    b"\x00\x10\x00\x09",
]


def test_reference_agrees_on_hand_built_hellos() -> None:
    cases = [
        hello_bytes(FULL),
        hello_bytes(None, sid=b""),
        hello_bytes(b""),
        hello_bytes(FULL, splits=(1,)),
        hello_bytes(FULL, splits=(3, 50, 200)),
        hello_bytes(FULL, sid=b"\x01" * 33),
        hello_bytes(FULL + ext(0, b"")),  # duplicate
        hello_bytes(PSK + ext(16, v16(b"\x02h2"))),  # psk not last
        hello_bytes(FULL, trailer=b"\x00"),  # bytes after the extensions
        hello_bytes(b"", trailer=ext(0, b"")),
        hello_bytes(ext(16, v16(b"\x02h2")), trailer=PSK),
        hello_bytes(None, trailer=b"\x00"),
        hello_bytes(FULL, suites=b""),
        hello_bytes(FULL, suites=b"\x13"),
        hello_bytes(FULL, suites=b"\x13\x01\xc0"),
        hello_bytes(FULL, compression=b"\x00"),
        hello_bytes(FULL, compression=b"\x02\x00\x01"),
        hello_bytes(b"", compression=b"\x05\x00"),
    ]
    cases += [hello_bytes(p) for p in PIECES]
    cases += [hello_bytes(a + b) for a in PIECES for b in PIECES]
    for data in cases:
        assert_agree(data)
        for n in range(0, len(data), 7):
            assert_agree(data[:n])


def test_reference_agrees_on_record_layer_edges() -> None:
    good = hello_bytes(FULL)
    msg = good[5:]
    cases = [
        b"",
        b"\x16",
        b"\x16\x03\x01\x00",
        b"\x17\x03\x03\x00\x05hello",
        b"\x16\x02\x00\x00\x05",
        b"\x16\x03\x01\x00\x00",
        b"\x16\x03\x01\x40\x01",
        b"\x16\x03\x01\x00\x04\x02\x00\x00\x00",
        b"\x16\x03\x01\x00\x04\x01\xff\xff\xff",
        b"\x16\x03\x01\x00\x04\x01\x00\x00\x10",  # too short
        b"\x16\x03\x01\x00\x03\x01\x00\x00" + b"\x16\x03\x01\x00\x01\x30",
        good + b"trailing bytes after the record are not looked at",
        # one record holding more than the message (a second message after it)
        b"\x16\x03\x01" + v16(msg + b"\x02\x00\x00\x00"),
        # the record is longer than the message, and not all there yet
        (b"\x16\x03\x01" + v16(msg + b"\x00" * 40))[: len(good) + 10],
        # an alert record in the middle of a split hello
        b"\x16\x03\x01" + v16(msg[:20]) + b"\x15\x03\x03\x00\x02\x02\x28",
        b"\x16\x03\x01" + v16(msg[:20]) + b"\x16\x04\x01\x00\x05" + msg[20:25],
        b"\x16\x03\x01" + v16(msg[:2]) + b"\x16\x03\x01" + v16(msg[2:]),
    ]
    for data in cases:
        assert_agree(data)
        for n in range(len(data)):
            assert_agree(data[:n])


def test_reference_agrees_on_real_python_hello() -> None:
    # A ClientHello from Python's ssl (the hot path the listener sees), built in memory.
    import ssl

    ctx = ssl.create_default_context()
    ctx.set_alpn_protocols(["http/1.1"])
    out = ssl.MemoryBIO()
    obj = ctx.wrap_bio(ssl.MemoryBIO(), out, server_hostname="shop.example.org")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    data = out.read()
    assert isinstance(lean.parse_client_hello(data), lean.ClientHello)
    for n in range(len(data) + 1):
        assert_agree(data[:n])


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=600))
def test_reference_agrees_on_random_bytes(data: bytes) -> None:
    assert_agree(data)
    assert_agree(b"\x16\x03\x01" + v16(data))


@settings(max_examples=600, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), max_size=5),
    st.lists(st.integers(1, 400), max_size=3),
    st.binary(max_size=33),
    st.sampled_from([b"", b"\x00", *PIECES[:3]]),
)
def test_reference_agrees_on_combined_extensions(
    pieces: list[bytes], splits: list[int], sid: bytes, trailer: bytes
) -> None:
    assert_agree(hello_bytes(b"".join(pieces), sid=sid, splits=tuple(splits), trailer=trailer))


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_reference_agrees_on_mutated_hellos(data: st.DataObject) -> None:
    splits = tuple(data.draw(st.lists(st.integers(1, 600), max_size=3)))
    raw = bytearray(hello_bytes(FULL, splits=splits))
    for _ in range(data.draw(st.integers(1, 6))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    assert_agree(bytes(raw[:cut]))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80))
def test_reference_agrees_on_sni_extension_bodies(body: bytes) -> None:
    assert outcome(lean, "parse_sni_extension", body) == outcome(ref, "parse_sni_extension", body)
    named = v16(b"\x00" + v16(body[:40]))
    assert outcome(lean, "parse_sni_extension", named) == outcome(ref, "parse_sni_extension", named)
