"""``serve_tls`` in this process on uvloop: reload by runtime swap, the shim-less fallback,
silent clients and the session server prefetch path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvloop
from cryptography import x509

from l7lb.tls import context as context_mod
from l7lb.tls import shim
from l7lb.tls.context import Resumption, VipTls, build_vip_tls
from l7lb.tls.listener import TlsServer, serve_tls
from l7lb.tls.session_server import SessionServerClient
from l7lb.tls.settings import parse_tls_table


class Echo(asyncio.Protocol):
    def __init__(self, arrival: object = None) -> None:
        self.arrival = arrival  # what the gate hands the application (l7lb.proxyproto)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


def vip(name: str, pair: tuple[str, str], res: Resumption | None = None, **kw: Any) -> VipTls:
    settings, issues = parse_tls_table(
        {"certificates": [{"cert": pair[0], "key": pair[1]}], **kw}, "t"
    )
    assert settings is not None, issues
    return build_vip_tls(name, settings, resumption=res)


def client_ctx(version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = version
    return ctx


def connect(
    port: int, cctx: ssl.SSLContext, sni: str, session: ssl.SSLSession | None = None
) -> tuple[str, bool, ssl.SSLSession | None]:
    """Blocking client (run in a thread): returns (peer CN, session reused, session)."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        cctx.wrap_socket(raw, server_hostname=sni, session=session) as s,
    ):
        s.sendall(b"ping")
        assert s.recv(4) == b"ping"
        der = s.getpeercert(binary_form=True)
        assert der is not None
        cn = x509.load_der_x509_certificate(der).subject.rfc4514_string()
        return cn, bool(s.session_reused), s.session


def openssl_hits(rt: VipTls) -> tuple[int, int]:
    """(SSL_CTX_sess_hits, SSL_CTX_sess_cb_hits) of the VIP's front context."""
    ptr = shim.ssl_ctx_pointer(rt.context)
    ctrl = shim.lib().SSL_CTX_ctrl
    return int(ctrl(ptr, 27, 0, None)), int(ctrl(ptr, 28, 0, None))


def run_with_server(
    rt: VipTls, body: Callable[[TlsServer, int], Awaitable[None]], timeout: float = 5.0
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(64)
        port = lsock.getsockname()[1]
        server = await serve_tls(loop, lsock, rt, Echo, handshake_timeout=timeout)
        try:
            await body(server, port)
        finally:
            server.close()
            await server.wait_closed()
            lsock.close()

    uvloop.run(asyncio.wait_for(main(), 30))


def test_reload_swaps_certificates_and_keeps_counters(make_cert: Any) -> None:
    a, b = make_cert("one.test"), make_cert("two.test", "one.test")
    rt = vip("web", a)

    async def body(server: TlsServer, port: int) -> None:
        loop = asyncio.get_running_loop()
        cn, _, _ = await loop.run_in_executor(None, connect, port, client_ctx(), "one.test")
        assert cn == "CN=one.test"
        settings, _ = parse_tls_table({"certificates": [{"cert": b[0], "key": b[1]}]}, "t")
        assert settings is not None
        server.runtime = build_vip_tls("web", settings, counters=rt.counters)
        cn, _, _ = await loop.run_in_executor(None, connect, port, client_ctx(), "one.test")
        assert cn == "CN=two.test"
        assert server.runtime.counters.full == 2

    run_with_server(rt, body)


def test_fallback_without_shim_still_resumes_locally(
    make_cert: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context_mod, "_shim_state", "disabled by the test")
    rt = vip("web", make_cert("one.test"))
    assert not rt.shared and rt.cache is None

    async def body(server: TlsServer, port: int) -> None:
        loop = asyncio.get_running_loop()
        cctx = client_ctx()
        _, reused, sess = await loop.run_in_executor(None, connect, port, cctx, "one.test")
        assert not reused
        _, reused, _ = await loop.run_in_executor(None, connect, port, cctx, "one.test", sess)
        assert reused
        assert dict(rt.counters.resumed) == {"ticket": 1}

    run_with_server(rt, body)


def test_silent_client_is_cut_at_the_deadline(make_cert: Any) -> None:
    rt = vip("web", make_cert("one.test"))

    async def body(server: TlsServer, port: int) -> None:
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        t0 = loop.time()
        assert await asyncio.wait_for(reader.read(100), 3) == b""
        assert 0.4 < loop.time() - t0 < 2.0
        writer.close()
        assert rt.counters.failures["handshake_timeout"] == 1
        # A full ClientHello, then silence: cut at the same deadline, mid-handshake.
        obj = ssl.create_default_context().wrap_bio(
            ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname="one.test"
        )
        with contextlib.suppress(ssl.SSLWantReadError):
            obj.do_handshake()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(out.read())
        while await asyncio.wait_for(reader.read(65536), 3):
            pass  # the ServerHello flight, then EOF at the deadline
        writer.close()
        assert rt.counters.failures["handshake_timeout"] == 2
        assert server.pending == 0

    run_with_server(rt, body, timeout=0.5)


def test_session_id_resumes_through_prefetch(
    make_cert: Any,
    server_proc: tuple[str, subprocess.Popen[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Worker A issues; worker B (own LRU) resumes only via the session server,
    then from its own caches: no prefetch at all, so a session server that
    stopped answering does not matter (issue 15: nor does it cost a task)."""
    pair = make_cert("one.test", "two.test")
    path, store_proc = server_proc

    async def main() -> None:
        loop = asyncio.get_running_loop()
        servers, ports, runtimes = [], [], []
        for _ in range(2):
            client = SessionServerClient(path)
            await client.ticket_ring()  # connected, as a worker is from its start
            res = Resumption(store=client)
            res.cache.publish = client.publish
            rt = vip("web", pair, res, tickets=False)
            lsock = socket.socket()
            lsock.bind(("127.0.0.1", 0))
            lsock.listen(16)
            ports.append(lsock.getsockname()[1])
            servers.append(await serve_tls(loop, lsock, rt, Echo))
            runtimes.append(rt)
        cctx = client_ctx()
        _, reused, sess = await loop.run_in_executor(None, connect, ports[0], cctx, "one.test")
        assert not reused
        # no pause: the session was written to the store during the handshake
        _, reused, _ = await loop.run_in_executor(None, connect, ports[1], cctx, "one.test", sess)
        assert reused
        assert dict(runtimes[1].counters.resumed) == {"session_id": 1}
        # From now on B needs no store: stop it (a prefetch would now wait 50 ms and
        # log a miss); B resumes from OpenSSL's cache, A too.
        os.kill(store_proc.pid, signal.SIGSTOP)
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="l7lb.tls"):
            for port in (ports[1], ports[0], ports[1]):
                _, reused, _ = await loop.run_in_executor(
                    None, connect, port, cctx, "one.test", sess
                )
                assert reused
            # under another name (same certificate, same VIP): a full handshake
            _, reused, _ = await loop.run_in_executor(
                None, connect, ports[0], cctx, "two.test", sess
            )
            assert not reused
        misses = [r.getMessage() for r in caplog.records if "prefetch miss" in r.getMessage()]
        assert len(misses) == 1 and "sni=two.test" in misses[0], misses
        assert dict(runtimes[1].counters.resumed) == {"session_id": 3}
        # OpenSSL's counters: resumptions, and those that needed the lookup callback
        # (into Python): only B's first, whose session came from the store
        assert [openssl_hits(rt) for rt in runtimes] == [(1, 0), (3, 1)]
        for s in servers:
            s.close()
            await s.wait_closed()

    uvloop.run(asyncio.wait_for(main(), 30))


def test_rejected_connection_is_logged_with_the_peer(
    make_cert: Any, caplog: pytest.LogCaptureFixture
) -> None:
    rt = vip("web", make_cert("one.test"))

    async def body(server: TlsServer, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        local = writer.get_extra_info("sockname")
        writer.write(b"\x00\x01garbage that is not TLS at all\r\n")
        with contextlib.suppress(ConnectionResetError):  # closed with our bytes unread
            assert await asyncio.wait_for(reader.read(100), 3) == b""
        writer.close()
        assert rt.counters.failures["garbage"] == 1
        lines = [r.getMessage() for r in caplog.records if "closed: garbage" in r.getMessage()]
        assert lines == [f"tls vip=web peer=127.0.0.1:{local[1]} closed: garbage"]

    with caplog.at_level("INFO", logger="l7lb.tls"):
        run_with_server(rt, body)
