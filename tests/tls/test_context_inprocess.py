"""Per-VIP contexts driven in-process through memory BIOs (real OpenSSL, no sockets).

Covers SNI selection, strict SNI, RSA and ECDSA side by side, the session-ID
cache and rotating ticket keys through the ctypes shim, and the VIP/name binding.
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from l7lb.tls import shim
from l7lb.tls.certinfo import CertificateError
from l7lb.tls.context import Resumption, VipTls, build_vip_tls, make_context
from l7lb.tls.settings import TlsSettings, parse_tls_table
from l7lb.tls.ticketkeys import TicketKeyRing, TicketRingHolder


def vip_tls(name: str, table: dict[str, Any], resumption: Resumption | None = None) -> VipTls:
    settings, issues = parse_tls_table(table, f"vip.{name}.tls")
    assert settings is not None, issues
    return build_vip_tls(name, settings, resumption=resumption)


def client_ctx(maximum: ssl.TLSVersion | None = None, ciphers: str | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if maximum is not None:
        ctx.maximum_version = maximum
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


class Result:
    def __init__(self, client: ssl.SSLObject, server: ssl.SSLObject) -> None:
        self.client, self.server = client, server
        der = client.getpeercert(binary_form=True)
        assert der is not None
        self.cert_sha = hashlib.sha256(der).hexdigest()
        self.reused = server.session_reused
        self.session = client.session


def handshake(
    server_ctx: ssl.SSLContext,
    cctx: ssl.SSLContext,
    sni: str | None,
    session: ssl.SSLSession | None = None,
    bind: VipTls | None = None,
) -> Result:
    """One handshake over memory BIOs. ``bind``: bind the server connection's
    sessions to ``sni`` first, as the listener does after reading the ClientHello."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = cctx.wrap_bio(c_in, c_out, server_hostname=sni, session=session)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    if bind is not None:
        assert bind.bind_session is not None
        bind.bind_session(server._sslobj, sni or "")  # type: ignore[attr-defined]
    done = {id(client): False, id(server): False}
    for _ in range(10):
        for obj in (client, server):
            if not done[id(obj)]:
                try:
                    obj.do_handshake()
                    done[id(obj)] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            break
    assert all(done.values()), "handshake did not finish"
    # TLS 1.3 tickets arrive after the handshake: let the client read them.
    c_in.write(s_out.read())
    with contextlib.suppress(ssl.SSLWantReadError):
        client.read(1)
    if bind is not None:
        # the server's close_notify, as TlsStream sends it: OpenSSL drops the
        # session of a connection freed without one (a "bad" session)
        with contextlib.suppress(ssl.SSLWantReadError):
            server.unwrap()
    return Result(client, server)


def sha(cert_path: str) -> str:
    der = x509.load_pem_x509_certificate(Path(cert_path).read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    return hashlib.sha256(der).hexdigest()


@pytest.fixture
def three(make_cert: Any) -> dict[str, tuple[str, str]]:
    return {
        "www": make_cert("www.example.test", "example.test"),
        "wild": make_cert("*.example.test"),
        "other": make_cert("other.test", kind="rsa"),
    }


def certs_table(*pairs: tuple[str, str], **kw: Any) -> dict[str, Any]:
    return {"certificates": [{"cert": c, "key": k} for c, k in pairs], **kw}


def test_sni_selects_certificate_exact_beats_wildcard(three: dict[str, tuple[str, str]]) -> None:
    rt = vip_tls("web", certs_table(three["wild"], three["www"], three["other"]))
    cases = {
        "www.example.test": "www",
        "example.test": "www",
        "shop.example.test": "wild",
        "other.test": "other",
        "unknown.test": "wild",  # default certificate = first
    }
    for name, want in cases.items():
        assert handshake(rt.context, client_ctx(), name).cert_sha == sha(three[want][0]), name
    assert handshake(rt.context, client_ctx(), None).cert_sha == sha(three["wild"][0])
    assert sorted(rt.names.names()) == sorted(
        ["www.example.test", "example.test", "*.example.test", "other.test"]
    )


def test_default_certificate_and_strict_sni(three: dict[str, tuple[str, str]]) -> None:
    rt = vip_tls(
        "web", certs_table(three["www"], three["other"], default_certificate=1, strict_sni=True)
    )
    assert handshake(rt.context, client_ctx(), None).cert_sha == sha(three["other"][0])
    with pytest.raises(ssl.SSLError):
        handshake(rt.context, client_ctx(), "unknown.test")
    assert rt.counters.failures["unknown_sni"] == 1


def test_sni_callback_only_where_there_is_a_choice(three: dict[str, tuple[str, str]]) -> None:
    """One certificate and no strict SNI: nothing to choose or refuse, so no
    Python callback runs in every handshake; several, or strict: it is there."""
    one = vip_tls("web", certs_table(three["www"]))
    assert one.context.sni_callback is None
    assert handshake(one.context, client_ctx(), "elsewhere.test").cert_sha == sha(three["www"][0])
    assert vip_tls("web", certs_table(three["www"], strict_sni=True)).context.sni_callback
    assert vip_tls("web", certs_table(three["www"], three["other"])).context.sni_callback


def test_rsa_and_ecdsa_side_by_side(make_cert: Any) -> None:
    ec = make_cert("dual.test", kind="ec")
    rsa = make_cert("dual.test", kind="rsa")
    rt = vip_tls("web", certs_table(rsa, ec))
    # A modern client gets ECDSA (server cipher preference lists ECDSA first) ...
    assert handshake(rt.context, client_ctx(), "dual.test").cert_sha == sha(ec[0])
    # ... a TLS 1.2 client that only does RSA suites gets the RSA certificate.
    rsa_only = client_ctx(ssl.TLSVersion.TLSv1_2, "ECDHE-RSA-AES128-GCM-SHA256")
    assert handshake(rt.context, rsa_only, "dual.test").cert_sha == sha(rsa[0])
    ecdsa_only = client_ctx(ssl.TLSVersion.TLSv1_2, "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert handshake(rt.context, ecdsa_only, "dual.test").cert_sha == sha(ec[0])


def test_protocol_floor_alpn_and_options(three: dict[str, tuple[str, str]]) -> None:
    rt = vip_tls("web", certs_table(three["www"], min_version="1.3"))
    assert rt.context.options & ssl.OP_NO_RENEGOTIATION
    assert rt.context.options & ssl.OP_NO_COMPRESSION
    with pytest.raises(ssl.SSLError):
        handshake(rt.context, client_ctx(ssl.TLSVersion.TLSv1_2), "www.example.test")
    cctx = client_ctx()
    cctx.set_alpn_protocols(["h2", "http/1.1"])
    r = handshake(rt.context, cctx, "www.example.test")
    assert r.client.selected_alpn_protocol() == "h2"  # [vip.tls] alpn: h2 first by default
    assert r.client.version() == "TLSv1.3"


def test_bad_certificates_are_refused_precisely(make_cert: Any, tmp_path: Any) -> None:
    good = make_cert("good.test")
    other = make_cert("other2.test")
    expired = make_cert("old.test", days=-10)
    with pytest.raises(CertificateError, match="does not match"):
        vip_tls("web", certs_table((good[0], other[1])))
    with pytest.raises(CertificateError, match="expired"):
        vip_tls("web", certs_table(expired))
    with pytest.raises(CertificateError, match="cannot read"):
        vip_tls("web", certs_table((str(tmp_path / "missing.pem"), good[1])))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(CertificateError, match="no PEM certificate"):
        vip_tls("web", certs_table((str(junk), good[1])))


def test_shim_self_check_and_pointer() -> None:
    assert shim.self_check()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.num_tickets = 5
    assert shim.lib().SSL_CTX_get_num_tickets(shim.ssl_ctx_pointer(ctx)) == 5
    assert shim.lib().OpenSSL_version_num() == ssl.OPENSSL_VERSION_NUMBER
    with pytest.raises(shim.ShimError):
        shim.ssl_ctx_pointer(object())  # type: ignore[arg-type]
    # a connection's SSL *: it names its SSL_CTX, and it is a client or a server
    for side in (ssl.PROTOCOL_TLS_SERVER, ssl.PROTOCOL_TLS_CLIENT):
        ctx = ssl.SSLContext(side)
        server_side = side == ssl.PROTOCOL_TLS_SERVER
        conn = ctx._wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side, None, owner=None)  # type: ignore[attr-defined]
        ptr = shim.ssl_pointer(conn)
        assert shim.lib().SSL_get_SSL_CTX(ptr) == shim.ssl_ctx_pointer(ctx)
        assert shim.lib().SSL_is_server(ptr) == int(server_side)


VERSIONS = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]
SSL_CTRL_SESS_NUMBER, SSL_CTRL_SESS_HIT, SSL_CTRL_SESS_CB_HIT = 20, 27, 28


def openssl_stats(rt: VipTls) -> tuple[int, int, int]:
    """OpenSSL's own counters on the VIP's SSL_CTX: (sessions in its internal cache,
    resumptions, resumptions whose session came from the lookup callback)."""
    ptr = shim.ssl_ctx_pointer(rt.context)
    ctrl = shim.lib().SSL_CTX_ctrl
    n, hits, cb_hits = (
        int(ctrl(ptr, op, 0, None))
        for op in (SSL_CTRL_SESS_NUMBER, SSL_CTRL_SESS_HIT, SSL_CTRL_SESS_CB_HIT)
    )
    return n, hits, cb_hits


@pytest.mark.parametrize("version", VERSIONS)
def test_bound_sessions_resume_from_openssls_cache_and_keep_their_name(
    make_cert: Any, version: ssl.TLSVersion
) -> None:
    """Issue 15: a session bound to its name (as the listener binds every one)
    resumes on its worker from OpenSSL's internal cache, with no call into
    Python; under another name it does not resume, although that cache is
    keyed by session id alone. On another worker it comes through the lookup
    callback once, then from that worker's internal cache."""
    pair = make_cert("a.test", "b.test")
    cc = client_ctx(version)
    # TLS 1.3 (stateful tickets) issues a new session on every resumption, too
    new_each_time = int(version == ssl.TLSVersion.TLSv1_3)
    web = vip_tls("web", certs_table(pair, tickets=False), Resumption())
    first = handshake(web.context, cc, "a.test", bind=web)
    assert not first.reused
    assert openssl_stats(web) == (1, 0, 0)
    for n in (1, 2):
        assert handshake(web.context, cc, "a.test", first.session, bind=web).reused
        # from the internal cache, in C
        assert openssl_stats(web) == (1 + n * new_each_time, n, 0)
    other_name = handshake(web.context, cc, "b.test", first.session, bind=web)
    assert not other_name.reused
    assert openssl_stats(web)[1:] == (2, 0)
    unbound = handshake(web.context, cc, "a.test", first.session)
    assert not unbound.reused  # a connection that was not bound is another context
    # "another worker": its own LRU and SSL_CTX, the session copied in as a prefetch would
    second = Resumption()
    worker_b = vip_tls("web", certs_table(pair, tickets=False), second)
    assert web.cache is not None and len(web.cache) >= 1
    for key, (_, blob) in web.cache._items.items():
        second.cache.put_local(key, blob)
    for n in (1, 2):
        assert handshake(worker_b.context, cc, "a.test", first.session, bind=worker_b).reused
        # the callback once, then C
        assert openssl_stats(worker_b) == (1 + n * new_each_time, n, 1)
    assert not handshake(worker_b.context, cc, "b.test", first.session, bind=worker_b).reused


def test_stateless_tls13_sessions_stay_out_of_openssls_cache(make_cert: Any) -> None:
    rt = vip_tls("web", certs_table(make_cert("a.test")), Resumption())
    cc = client_ctx(ssl.TLSVersion.TLSv1_3)
    first = handshake(rt.context, cc, "a.test", bind=rt)
    assert handshake(rt.context, cc, "a.test", first.session, bind=rt).reused
    assert openssl_stats(rt)[0] == 0
    assert rt.cache is not None and len(rt.cache) == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_session_id_cache_resumes_and_binds_names(make_cert: Any, version: ssl.TLSVersion) -> None:
    pair = make_cert("a.test", "b.test")
    cc = client_ctx(version)  # Python resumes sessions only on the context that made them
    res = Resumption()
    web = vip_tls("web", certs_table(pair, tickets=False), res)
    api = vip_tls("api", certs_table(pair, tickets=False), res)  # same worker LRU
    assert web.shared
    first = handshake(web.context, cc, "a.test")
    assert not first.reused and len(res.cache) >= 1
    again = handshake(web.context, cc, "a.test", first.session)
    assert again.reused
    # Same certificate, same LRU, but another name or VIP: full handshake.
    assert not handshake(web.context, cc, "b.test", first.session).reused
    assert not handshake(api.context, cc, "a.test", first.session).reused


@pytest.mark.parametrize("version", VERSIONS)
def test_ticket_keys_rotate_and_bind_names(make_cert: Any, version: ssl.TLSVersion) -> None:
    pair = make_cert("a.test", "b.test")
    cc = client_ctx(version)
    ring0 = TicketKeyRing.generate(0.0)

    def vip_with(ring: TicketKeyRing, name: str = "web") -> VipTls:
        res = Resumption(ticket_ring=TicketRingHolder(ring))
        return vip_tls(name, certs_table(pair, session_cache=False), res)

    issuer = vip_with(ring0)
    first = handshake(issuer.context, cc, "a.test")
    assert first.session is not None and first.session.has_ticket
    # Another "process" with the same ring resumes it.
    assert handshake(vip_with(ring0).context, cc, "a.test", first.session).reused
    # After one rotation the old key is still accepted; after two it is not.
    ring1 = ring0.rotated(10.0)
    assert handshake(vip_with(ring1).context, cc, "a.test", first.session).reused
    ring2 = ring1.rotated(20.0)
    assert not handshake(vip_with(ring2).context, cc, "a.test", first.session).reused
    # A key nobody shares: full handshake.
    stranger = vip_with(TicketKeyRing.generate(0.0))
    assert not handshake(stranger.context, cc, "a.test", first.session).reused
    # Bound to the name and the VIP.
    assert not handshake(vip_with(ring0).context, cc, "b.test", first.session).reused
    assert not handshake(vip_with(ring0, "api").context, cc, "a.test", first.session).reused


# --- TLS 1.3 tickets per full handshake ---------------------------------------


def count_tickets(cctx: ssl.SSLContext) -> list[int]:
    """NewSessionTicket messages the client reads, counted through CPython's
    message callback (after decryption: TLS 1.3 tickets are encrypted)."""
    seen: list[int] = []

    def on_message(
        conn: Any, direction: str, version: Any, ctype: Any, mtype: Any, data: Any
    ) -> None:
        if direction == "read" and mtype == ssl._TLSMessageType.NEWSESSION_TICKET:  # type: ignore[attr-defined]
            seen.append(1)

    cctx._msg_callback = on_message  # type: ignore[attr-defined]
    return seen


def test_make_context_sets_num_tickets() -> None:
    for n in (0, 1, 2, 5):
        settings = TlsSettings(certificates=(), tickets_per_handshake=n)
        ctx = make_context(settings)
        assert ctx.num_tickets == n
        assert shim.lib().SSL_CTX_get_num_tickets(shim.ssl_ctx_pointer(ctx)) == n


@pytest.mark.parametrize("tickets", [True, False])
@pytest.mark.parametrize("n", [None, 0, 1, 2, 3])
def test_tls13_client_receives_exactly_tickets_per_handshake(
    make_cert: Any, tickets: bool, n: int | None
) -> None:
    extra = {} if n is None else {"tickets_per_handshake": n}
    pair, other = make_cert("a.test"), make_cert("b.test", kind="rsa")
    rt = vip_tls("web", certs_table(pair, other, tickets=tickets, **extra))
    contexts = [rt.names.lookup("a.test"), rt.names.lookup("b.test")]
    assert contexts[0] is not contexts[1]
    for ctx in contexts:
        assert ctx is not None and ctx.num_tickets == (1 if n is None else n)
    cc = client_ctx(ssl.TLSVersion.TLSv1_3)
    got = count_tickets(cc)
    first = handshake(rt.context, cc, "a.test")
    assert len(got) == (1 if n is None else n)
    assert first.client.version() == "TLSv1.3"
    if n == 0:
        return  # nothing to resume from
    got.clear()
    again = handshake(rt.context, cc, "a.test", first.session)
    assert again.reused
    # OpenSSL: no new ticket after a stateless resumption, one after a stateful one
    assert len(got) == (0 if tickets else 1)


def test_tickets_per_handshake_leaves_tls12_alone(make_cert: Any) -> None:
    rt = vip_tls("web", certs_table(make_cert("a.test"), tickets_per_handshake=0))
    cc = client_ctx(ssl.TLSVersion.TLSv1_2)
    got = count_tickets(cc)
    first = handshake(rt.context, cc, "a.test")
    assert len(got) == 1  # an RFC 5077 ticket: num_tickets is a TLS 1.3 setting
    assert handshake(rt.context, cc, "a.test", first.session).reused


# --- lifetime of the ctypes hooks ------------------------------------------------

_LIFETIME_SCRIPT = """
import contextlib, gc, ssl, sys
from l7lb.tls.context import Resumption, build_vip_tls
from l7lb.tls.settings import parse_tls_table

def handshake(sctx, cctx, session=None):
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = cctx.wrap_bio(c_in, c_out, server_hostname="a.test", session=session)
    server = sctx.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for obj in (client, server):
            with contextlib.suppress(ssl.SSLWantReadError):
                obj.do_handshake()
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    c_in.write(s_out.read())
    with contextlib.suppress(ssl.SSLWantReadError):
        client.read(1)
    return client, server

cert, key, tickets, version = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
table = {"certificates": [{"cert": cert, "key": key}], "tickets": tickets}
settings, _ = parse_tls_table(table, "t")
rt = build_vip_tls("web", settings, resumption=Resumption())
cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
cctx.check_hostname = False
cctx.verify_mode = ssl.CERT_NONE
cctx.maximum_version = getattr(ssl.TLSVersion, version)
c1, s1 = handshake(rt.context, cctx)
c2, s2 = handshake(rt.context, cctx, c1.session)
assert s2.session_reused
ctx = rt.context
del rt  # a reload drops the VipTls while its connections live on
gc.collect()
c3, s3 = handshake(ctx, cctx, c1.session)  # the hooks still serve the old context
print("reused after drop:", s3.session_reused, flush=True)
del ctx, s1, s2, s3, c1, c2, c3  # connections close after the hooks are gone
gc.collect()
print("ok", flush=True)
"""


@pytest.mark.parametrize("tickets", ["0", "1"])
@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_hooks_outlive_a_dropped_vip_tls(make_cert: Any, tickets: str, version: str) -> None:
    """Regression: the ctypes trampolines were freed with the VipTls while its SSL_CTX
    lived on in open connections; closing them called freed code (segfault)."""
    cert, key = make_cert("a.test")
    proc = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", _LIFETIME_SCRIPT, cert, key, tickets, version],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == ["reused after drop: True", "ok"]


def test_hooks_detach_from_the_ssl_ctx(make_cert: Any) -> None:
    rt = vip_tls("web", certs_table(make_cert("a.test")))
    session_hooks, ticket_hooks = rt.hooks
    assert isinstance(session_hooks, shim.SessionHooks)
    assert isinstance(ticket_hooks, shim.TicketKeyHooks)
    assert vars(rt.context)["_l7lb_shim_hooks"] == [session_hooks, ticket_hooks]
    cc = client_ctx(ssl.TLSVersion.TLSv1_2)
    first = handshake(rt.context, cc, "a.test")
    assert handshake(rt.context, cc, "a.test", first.session).reused
    session_hooks.detach()
    ticket_hooks.detach()
    ticket_hooks.detach()  # idempotent
    # OpenSSL's own keys now: the ticket issued under ours no longer resumes
    second = handshake(rt.context, cc, "a.test", first.session)
    assert not second.reused


def _tls12_client() -> ssl.SSLContext:
    cctx = client_ctx(ssl.TLSVersion.TLSv1_2)
    cctx.options |= ssl.OP_NO_TICKET  # session ids only
    return cctx


def _tls12_pair(
    server_ctx: ssl.SSLContext, cctx: ssl.SSLContext, session: Any = None
) -> tuple[Any, Any, ssl.MemoryBIO, ssl.MemoryBIO]:
    """A finished TLS 1.2 handshake over memory BIOs: (server, client, their BIOs)."""
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    server = server_ctx._wrap_bio(s_in, s_out, True, None, owner=None)  # type: ignore[attr-defined]
    client = cctx.wrap_bio(c_in, c_out, session=session)
    for _ in range(4):
        with contextlib.suppress(ssl.SSLWantReadError):
            client.do_handshake()
        s_in.write(c_out.read())
        with contextlib.suppress(ssl.SSLWantReadError):
            server.do_handshake()
        c_in.write(s_out.read())
    client.do_handshake()
    return server, client, s_out, c_in


def test_close_notify_through_the_shim_keeps_the_session(make_cert: Any) -> None:
    from l7lb.tls import sslcalls

    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(*make_cert("www.example.com"))
    cctx = _tls12_client()
    server, client, s_out, c_in = _tls12_pair(sctx, cctx)
    assert shim.close_notify() is not None
    sslcalls.shutdown(server)  # one SSL_shutdown, nothing raised
    c_in.write(s_out.read())
    assert client.read(100) == b""  # the close_notify came (else: "want read")
    session = client.session
    del server
    # freed after our close_notify, the session stays resumable
    again, client2, _, _ = _tls12_pair(sctx, cctx, session)
    assert client2.session_reused and again.session_reused


def test_close_notify_leaves_no_error_for_the_next_connection(make_cert: Any) -> None:
    import ctypes

    from l7lb.tls import sslcalls

    peek = ctypes.CDLL(shim.lib().crypto_path).ERR_peek_error
    peek.restype = ctypes.c_ulong
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(*make_cert("www.example.com"))
    early = sctx._wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), True, None, owner=None)  # type: ignore[attr-defined]
    sslcalls.shutdown(early)  # before any handshake: SSL_shutdown fails ("while in init")
    assert peek() == 0  # ... and its error is not left for another connection to report


def test_close_notify_without_the_shim(make_cert: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from l7lb.tls import sslcalls

    monkeypatch.setattr(shim, "close_notify", lambda: None)
    monkeypatch.setattr(sslcalls, "_closer", None)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(*make_cert("www.example.com"))
    server, client, s_out, c_in = _tls12_pair(sctx, _tls12_client())
    sslcalls.shutdown(server)  # the _ssl method: its "want read" is swallowed
    assert sslcalls._closer is sslcalls._stdlib_shutdown
    c_in.write(s_out.read())
    assert client.read(100) == b""
