"""Per-VIP contexts driven in-process through memory BIOs (real OpenSSL, no sockets).

Covers SNI selection, strict SNI, RSA and ECDSA side by side, the session-ID
cache and rotating ticket keys through the ctypes shim, and the VIP/name binding.
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from l7lb.tls import shim
from l7lb.tls.certinfo import CertificateError
from l7lb.tls.context import Resumption, VipTls, build_vip_tls
from l7lb.tls.settings import parse_tls_table
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
) -> Result:
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = cctx.wrap_bio(c_in, c_out, server_hostname=sni, session=session)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
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
    assert r.client.selected_alpn_protocol() == "http/1.1"
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


VERSIONS = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]


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
