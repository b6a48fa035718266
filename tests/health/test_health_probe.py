"""One probe against real asyncio servers on 127.0.0.1: verdicts and reasons."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest

from l7lb.config.model import Address
from l7lb.health.probe import ProbeResult, probe
from l7lb.health.target import CheckTarget, HttpCheck, StatusRanges


def target(port: int, **kw: Any) -> CheckTarget:
    return CheckTarget("web", "s1", Address("127.0.0.1", port), **kw)


def free_port() -> int:
    # bound then closed: nothing listens there (refused)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def with_backend(backend: Any, t: CheckTarget | None = None, **kw: Any) -> ProbeResult:
    await backend.start()
    try:
        return await probe(t or target(backend.port, **kw))
    finally:
        await backend.stop()


def run(backend: Any, **kw: Any) -> ProbeResult:
    return asyncio.run(with_backend(backend, **kw))


Backend: Any = None


@pytest.fixture(autouse=True)
def _backend(backend_type: type[Any]) -> None:
    global Backend
    Backend = backend_type


def test_tcp_ok_and_refused() -> None:
    assert run(Backend()) == ProbeResult(True, "connect ok")
    assert asyncio.run(probe(target(free_port()))) == ProbeResult(False, "connect refused")


def test_http_status_in_range() -> None:
    assert run(Backend(status=200), http=HttpCheck()) == ProbeResult(True, "status 200")
    assert run(Backend(status=302), http=HttpCheck()) == ProbeResult(True, "status 302")


def test_http_status_out_of_range_reason() -> None:
    result = run(Backend(status=503), http=HttpCheck())
    assert result == ProbeResult(False, "status 503 not in 200-399")
    check = HttpCheck(expect=StatusRanges("200,204"))
    assert run(Backend(status=204, body=b""), http=check).ok
    assert run(Backend(status=201), http=check) == ProbeResult(False, "status 201 not in 200,204")


def test_http_body_match() -> None:
    check = HttpCheck(body_contains=b"READY")
    assert run(Backend(body=b"status: READY\n"), http=check).ok
    assert run(Backend(body=b"xx READY yy", chunked=True), http=check).ok  # spans two chunks
    assert run(Backend(body=b"starting"), http=check) == ProbeResult(
        False, "body does not contain b'READY'"
    )


def test_http_request_bytes() -> None:
    backend = Backend()
    check = HttpCheck(method="HEAD", path="/health?deep=1", host="www.example.com")
    assert run(backend, http=check).ok
    assert backend.requests == [
        b"HEAD /health?deep=1 HTTP/1.1\r\nHost: www.example.com\r\n"
        b"User-Agent: l7lb-health\r\nConnection: close\r\n\r\n"
    ]


def test_default_host_header_is_the_address() -> None:
    backend = Backend()
    assert run(backend, http=HttpCheck()).ok
    assert b"\r\nHost: 127.0.0.1:%d\r\n" % backend.port in backend.requests[0]


def test_timeout_reason() -> None:
    result = run(Backend(delay=2.0), http=HttpCheck(), timeout=0.2)
    assert result == ProbeResult(False, "timeout after 0.2s waiting for response")


def test_closed_without_response() -> None:
    async def main() -> ProbeResult:
        async def slam(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.readuntil(b"\r\n\r\n")
            w.close()

        server = await asyncio.start_server(slam, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await probe(target(port, http=HttpCheck()))

    assert asyncio.run(main()) == ProbeResult(False, "connection closed before response")


def test_invalid_response() -> None:
    async def main() -> ProbeResult:
        async def garbage(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.readuntil(b"\r\n\r\n")
            w.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
            await w.drain()
            w.close()

        server = await asyncio.start_server(garbage, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await probe(target(port, http=HttpCheck()))

    result = asyncio.run(main())
    assert not result.ok and result.reason.startswith("invalid response")


def test_separate_check_port() -> None:
    async def main() -> tuple[ProbeResult, ProbeResult]:
        check_backend = await Backend(status=200).start()
        try:
            # the service port itself refuses; the check port answers
            t = CheckTarget(
                "web", "s1", Address("127.0.0.1", free_port()), HttpCheck(), port=check_backend.port
            )
            ok = await probe(t)
            bad = await probe(CheckTarget("web", "s1", t.address, HttpCheck()))
            return ok, bad
        finally:
            await check_backend.stop()

    ok, bad = asyncio.run(main())
    assert ok == ProbeResult(True, "status 200")
    assert bad == ProbeResult(False, "connect refused")


def test_tls_http_check_without_verification(tls_files: tuple[Path, Path]) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*tls_files)

    async def main() -> tuple[ProbeResult, ProbeResult, ProbeResult]:
        backend = await Backend(body=b"tls ok").start(ctx)
        try:
            http = await probe(
                target(backend.port, http=HttpCheck(body_contains=b"tls ok"), tls=True)
            )
            tcp = await probe(target(backend.port, tls=True))
            plain = await probe(target(backend.port, http=HttpCheck(), timeout=1.0))
            return http, tcp, plain
        finally:
            await backend.stop()

    http, tcp, plain = asyncio.run(main())
    assert http == ProbeResult(True, "status 200, body matched")
    assert tcp == ProbeResult(True, "TLS handshake ok")
    assert not plain.ok  # plain HTTP to a TLS port fails


def test_tls_to_plain_port_fails() -> None:
    # the plain server waits for a request head, the client for a ServerHello
    result = run(Backend(), http=HttpCheck(), tls=True, timeout=0.2)
    assert result == ProbeResult(False, "timeout after 0.2s connecting")
