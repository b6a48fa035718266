"""Per-VIP TLS: SSL contexts from ``TlsSettings``, SNI selection, resumption hooks.

One ``ssl.SSLContext`` per group of certificates serving the same names (an
RSA and an ECDSA certificate for the same names share a context: OpenSSL
keeps one certificate per key type in a context and picks the one the client's
signature algorithms allow). The default certificate's context is the
*front* context handed to the listener; its ``sni_callback`` switches the
connection to the context that serves the requested name.

OpenSSL keeps sessions and tickets on the context a connection *started* on
(``session_ctx``), so the session-cache and ticket-key hooks go on the front
context only; they key everything by VIP and SNI name (see ``shim``).
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from l7lb.tls import shim
from l7lb.tls.certinfo import CertificateError, CertInfo, check_pair
from l7lb.tls.counters import TlsCounters
from l7lb.tls.sessions import SessionCache, SessionStore, session_key
from l7lb.tls.settings import TlsSettings
from l7lb.tls.sni import SniMap
from l7lb.tls.ticketkeys import TicketKeyRing, TicketRingHolder

log = logging.getLogger("l7lb.tls")


class TlsConfigError(ValueError):
    """The TLS settings of a VIP cannot be turned into a context (message names the file)."""


@dataclass
class Resumption:
    """Worker-wide resumption state shared by all VIPs of the worker."""

    cache: SessionCache = field(default_factory=SessionCache)
    store: SessionStore | None = None  # shared store, read by the listener's prefetch
    # None: a worker-local ring is made on first use (tickets resume on this worker only)
    ticket_ring: TicketRingHolder | None = None
    prefetch_deadline: float = 0.05  # seconds a handshake waits for the store


@dataclass
class VipTls:
    """Everything the listener needs to terminate TLS for one VIP."""

    vip: str
    settings: TlsSettings
    context: ssl.SSLContext  # front context (default certificate)
    names: SniMap[ssl.SSLContext]
    certificates: tuple[CertInfo, ...]
    # what sessions and tickets are bound to: the VIP and its certificates, so a
    # session never resumes on another VIP nor under another certificate set
    # (nginx CVE-2014-3616); the SNI name is added per connection
    scope: str
    counters: TlsCounters
    cache: SessionCache | None  # None: no shared session cache on this VIP
    store: SessionStore | None
    prefetch_deadline: float
    shared: bool  # the ctypes hooks are installed (resumption across workers)
    hooks: list[object] = field(default_factory=list)  # ctypes callbacks: keep alive
    # binder(sslobj, sni) before the handshake: the connection's sessions are bound
    # to that name (shim.SessionBinder); None without a session cache
    bind_session: Callable[[Any, str], None] | None = None


_shim_state: str | None = None  # "" ok, else the reason it is unusable


def shim_status() -> str:
    """ "" if the ctypes shim passed its self-check, else why not (logged once)."""
    global _shim_state
    if _shim_state is None:
        try:
            shim.lib()
            _shim_state = "" if shim.self_check() else "self-check failed"
        except shim.ShimError as exc:
            _shim_state = str(exc)
        if _shim_state:
            log.warning(
                "TLS session sharing disabled (%s): sessions and tickets resume only on "
                "the worker that issued them",
                _shim_state,
            )
    return _shim_state


def make_context(settings: TlsSettings) -> ssl.SSLContext:
    """A server context with l7lb's protocol settings and no certificate yet."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = (
        ssl.TLSVersion.TLSv1_3 if settings.min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    )
    # Client-initiated renegotiation is a CPU DoS lever (CVE-2011-1473);
    # compression leaks secrets (CRIME).
    ctx.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    if not settings.tickets:
        ctx.options |= ssl.OP_NO_TICKET
    # TLS 1.3 tickets per full handshake (stateless, or stateful with tickets off).
    # OpenSSL's default is 2: each one costs a ticket-key callback into Python.
    ctx.num_tickets = settings.tickets_per_handshake
    try:
        ctx.set_ciphers(settings.ciphers)
    except ssl.SSLError:
        raise TlsConfigError(f"no usable TLS 1.2 cipher in {settings.ciphers!r}") from None
    if not shim_status():
        try:
            shim.set_ciphersuites(ctx, settings.ciphersuites)
        except shim.ShimError as exc:
            raise TlsConfigError(str(exc)) from None
    # the client's first protocol we also offer wins (OpenSSL's ALPN select callback)
    ctx.set_alpn_protocols(list(settings.alpn))
    return ctx


def build_vip_tls(
    vip: str,
    settings: TlsSettings,
    *,
    resumption: Resumption | None = None,
    counters: TlsCounters | None = None,
) -> VipTls:
    """Load certificates and build the contexts of one VIP.

    Raises ``TlsConfigError`` (bad settings) or ``CertificateError`` (a file
    that cannot serve: unreadable, key mismatch, expired, chain out of order);
    on reload the caller keeps the old ``VipTls`` serving.
    """
    resumption = resumption or Resumption()
    counters = counters or TlsCounters()
    infos = [check_pair(c.cert, c.key) for c in settings.certificates]

    # Group certificates that serve exactly the same names: one context each.
    groups: dict[frozenset[str], ssl.SSLContext] = {}
    key_types: dict[frozenset[str], set[str]] = {}
    ctx_of: list[ssl.SSLContext] = []
    for cert, info in zip(settings.certificates, infos, strict=True):
        group = frozenset(info.names)
        ctx = groups.get(group)
        if ctx is None:
            ctx = groups[group] = make_context(settings)
            key_types[group] = set()
        if info.key_type in key_types[group]:
            raise CertificateError(
                f"{cert.cert}: a second {info.key_type} certificate for the same names; "
                "a context holds one certificate per key type"
            )
        key_types[group].add(info.key_type)
        try:
            ctx.load_cert_chain(cert.cert, cert.key)
        except (ssl.SSLError, OSError) as exc:
            raise CertificateError(f"{cert.cert}: OpenSSL refused it: {exc}") from None
        ctx_of.append(ctx)

    names: SniMap[ssl.SSLContext] = SniMap()
    for info, ctx in zip(infos, ctx_of, strict=True):
        names.add(info.names, ctx)
    front = ctx_of[settings.default_certificate]

    def sni_callback(
        ssl_obj: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, initial: ssl.SSLContext
    ) -> int | None:
        if server_name is None:
            return None  # no SNI: the default certificate
        target = names.lookup(server_name)
        if target is None:
            if settings.strict_sni:
                counters.fail("unknown_sni")
                return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
            return None
        if target is not initial:
            ssl_obj.context = target
        return None

    if len(groups) > 1 or settings.strict_sni:
        # With one context and no strict SNI there is nothing to choose or refuse:
        # no callback, which OpenSSL would otherwise run (through Python) for
        # every handshake.
        front.sni_callback = sni_callback
    result = VipTls(
        vip=vip,
        settings=settings,
        context=front,
        names=names,
        certificates=tuple(infos),
        scope=vip
        + "#"
        + hashlib.sha256("".join(sorted(i.sha256 for i in infos)).encode()).hexdigest()[:16],
        counters=counters,
        cache=None,
        store=None,
        prefetch_deadline=resumption.prefetch_deadline,
        shared=False,
    )
    if shim_status():
        return result  # stdlib defaults: worker-local cache and tickets

    # One session id context for the whole VIP: sessions from another VIP fail
    # OpenSSL's own check too; names are told apart by the cache keys.
    scope = result.scope
    sid_ctx = hashlib.sha256(b"l7lb vip\x00" + scope.encode()).digest()
    for ctx in groups.values():
        shim.set_session_id_context(ctx, sid_ctx)
    ptr = shim.ssl_ctx_pointer(front)
    shim.lib().SSL_CTX_set_timeout(ptr, max(1, int(settings.session_lifetime)))
    if settings.session_cache:
        cache = resumption.cache
        result.hooks.append(
            shim.SessionHooks(
                front,
                key_for=lambda sni, sid: session_key(scope, sni, sid),
                lookup=cache.lookup,
                store=cache.put,
                remove=cache.remove,
                lifetime=settings.session_lifetime,
                unbound_context=sid_ctx,
                max_entries=cache.max_entries,
            )
        )
        result.cache = cache
        result.store = resumption.store
        # A context per name (never the VIP's own, above): sessions made under it
        # may live in OpenSSL's internal cache (see shim.SessionHooks).
        result.bind_session = shim.SessionBinder(
            lambda name: hashlib.sha256(
                b"l7lb name\x00" + scope.encode() + b"\x00" + name.encode()
            ).digest()
        )
    else:
        shim.disable_session_cache(front)
    if settings.tickets:
        if resumption.ticket_ring is None:
            # No supervisor ring: a worker-local one, so tickets are still bound
            # to VIP and name (OpenSSL's built-in keys are not). Not rotated.
            resumption.ticket_ring = TicketRingHolder(TicketKeyRing.generate(time.time()))
        result.hooks.append(shim.TicketKeyHooks(front, vip=scope, ring=resumption.ticket_ring))
    result.shared = True
    return result
