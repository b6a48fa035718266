"""A small ``ctypes`` shim into the libssl the stdlib ``ssl`` module links.

The stdlib exposes neither OpenSSL's external session cache callbacks nor the
ticket key callback; l7lb needs both so sessions resume across workers and
directors (see "Facts we verified" in DESIGN.md). We reach the ``SSL_CTX *``
of an ``ssl.SSLContext`` through its object layout and call libssl directly.

Safety rules this module keeps:

* It only binds the library already mapped into this process by ``_ssl``
  (read from ``/proc/self/maps``) and checks ``OpenSSL_version_num`` against
  ``ssl.OPENSSL_VERSION_NUMBER``: calling a *different* libssl with our
  pointer would corrupt memory.
* ``self_check`` proves the pointer arithmetic on this interpreter before
  anything else uses it.
* Every ctypes callback object is stored on the ``SessionHooks`` /
  ``TicketKeyHooks`` object, which the ``ssl.SSLContext`` itself keeps alive
  (connections reference their context); when the hooks are freed they first
  take their callbacks off the ``SSL_CTX``. OpenSSL would otherwise call freed
  trampolines and crash.
* Callbacks never raise into C: any Python error becomes "no session" /
  "unknown ticket key", which costs a full handshake and nothing else.

Binding to VIP and SNI name (nginx CVE-2014-3616): the cache key and the
ticket key material are derived from the VIP name and the SNI name the client
sent, so a session issued for one name is simply not found under another.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import hmac
import logging
import os
import ssl
from collections.abc import Callable
from typing import Any

from l7lb.tls.clienthello import ClientHelloError, parse_sni_extension
from l7lb.tls.ticketkeys import TicketKeyRing

log = logging.getLogger("l7lb.tls")

SSL_CTRL_SET_SESS_CACHE_SIZE = 42
SSL_CTRL_SET_SESS_CACHE_MODE = 44
SSL_CTRL_GET_SESS_CACHE_MODE = 45
SSL_SESS_CACHE_OFF = 0x0000
SSL_SESS_CACHE_SERVER = 0x0002
SSL_SESS_CACHE_NO_INTERNAL_STORE = 0x0200
SSL_SESS_CACHE_NO_INTERNAL = 0x0300
TLSEXT_NAMETYPE_host_name = 0
OSSL_PARAM_UTF8_STRING = 4
OSSL_PARAM_OCTET_STRING = 5
SSL_MAX_SID_CTX_LENGTH = 32


TLS1_3_VERSION = 0x0304
_OP_NO_TICKET = int(ssl.OP_NO_TICKET)


class ShimError(RuntimeError):
    """The ctypes shim cannot be used on this platform; resumption stays worker-local."""


class _OsslParam(ctypes.Structure):
    _fields_ = (
        ("key", ctypes.c_char_p),
        ("data_type", ctypes.c_uint),
        ("data", ctypes.c_void_p),
        ("data_size", ctypes.c_size_t),
        ("return_size", ctypes.c_size_t),
    )


NEW_SESSION_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
REMOVE_SESSION_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
GET_SESSION_CB = ctypes.CFUNCTYPE(
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_ubyte),
    ctypes.c_int,
    ctypes.POINTER(ctypes.c_int),
)
TICKET_KEY_CB = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,  # SSL *
    # plain addresses, not POINTER(c_ubyte): ctypes would build two pointer
    # objects for every ticket
    ctypes.c_void_p,  # key_name[16]
    ctypes.c_void_p,  # iv[16]
    ctypes.c_void_p,  # EVP_CIPHER_CTX *
    ctypes.c_void_p,  # EVP_MAC_CTX *
    ctypes.c_int,  # enc
)


def _mapped_library(stem: str) -> str:
    """Path of the already-mapped shared object whose basename starts with ``stem``."""
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as f:
            for line in f:
                path = line.rstrip("\n").split(maxsplit=5)[-1]
                if os.path.basename(path).startswith(stem + ".so"):
                    return path
    except OSError as exc:
        raise ShimError(f"cannot read /proc/self/maps: {exc}") from None
    raise ShimError(f"{stem} is not mapped into this process (static OpenSSL build?)")


class _Lib:
    """Typed prototypes of the libssl/libcrypto functions we call."""

    def __init__(self) -> None:
        import _ssl  # noqa: F401  - make sure the stdlib's libssl is mapped

        self.ssl_path = _mapped_library("libssl")
        self.crypto_path = _mapped_library("libcrypto")
        try:
            ssl_lib = ctypes.CDLL(self.ssl_path)
            crypto = ctypes.CDLL(self.crypto_path)
        except OSError as exc:
            raise ShimError(f"cannot load {self.ssl_path}: {exc}") from None
        try:
            self._bind(ssl_lib, crypto)
        except AttributeError as exc:
            raise ShimError(f"missing OpenSSL symbol: {exc}") from None
        version = self.OpenSSL_version_num()
        if version != ssl.OPENSSL_VERSION_NUMBER:
            raise ShimError(
                f"{self.ssl_path} is version {version:#x} but the ssl module was built "
                f"against {ssl.OPENSSL_VERSION_NUMBER:#x}"
            )
        if version < 0x30000000:
            raise ShimError(f"OpenSSL {version:#x} < 3.0: no EVP ticket key callback")

    def _bind(self, s: ctypes.CDLL, c: ctypes.CDLL) -> None:
        vp, i, ul, lg = ctypes.c_void_p, ctypes.c_int, ctypes.c_ulong, ctypes.c_long

        def fn(lib: ctypes.CDLL, name: str, restype: Any, *argtypes: Any) -> Any:
            f = getattr(lib, name)
            f.restype = restype
            f.argtypes = argtypes
            return f

        self.OpenSSL_version_num = fn(c, "OpenSSL_version_num", ul)
        self.SSL_CTX_get_num_tickets = fn(s, "SSL_CTX_get_num_tickets", ctypes.c_size_t, vp)
        self.SSL_CTX_ctrl = fn(s, "SSL_CTX_ctrl", lg, vp, i, lg, vp)
        self.SSL_CTX_set_ciphersuites = fn(s, "SSL_CTX_set_ciphersuites", i, vp, ctypes.c_char_p)
        self.SSL_CTX_set_timeout = fn(s, "SSL_CTX_set_timeout", lg, vp, lg)
        self.SSL_CTX_set_session_id_context = fn(
            s, "SSL_CTX_set_session_id_context", i, vp, ctypes.c_char_p, ctypes.c_uint
        )
        self.SSL_CTX_sess_set_new_cb = fn(s, "SSL_CTX_sess_set_new_cb", None, vp, NEW_SESSION_CB)
        self.SSL_CTX_sess_set_remove_cb = fn(
            s, "SSL_CTX_sess_set_remove_cb", None, vp, REMOVE_SESSION_CB
        )
        self.SSL_CTX_sess_set_get_cb = fn(s, "SSL_CTX_sess_set_get_cb", None, vp, GET_SESSION_CB)
        self.SSL_CTX_set_tlsext_ticket_key_evp_cb = fn(
            s, "SSL_CTX_set_tlsext_ticket_key_evp_cb", i, vp, TICKET_KEY_CB
        )
        self.SSL_SESSION_get_id = fn(
            s,
            "SSL_SESSION_get_id",
            ctypes.POINTER(ctypes.c_ubyte),
            vp,
            ctypes.POINTER(ctypes.c_uint),
        )
        self.SSL_SESSION_get0_hostname = fn(s, "SSL_SESSION_get0_hostname", ctypes.c_char_p, vp)
        self.SSL_SESSION_get_protocol_version = fn(
            s, "SSL_SESSION_get_protocol_version", ctypes.c_int, vp
        )
        self.i2d_SSL_SESSION = fn(s, "i2d_SSL_SESSION", i, vp, ctypes.POINTER(ctypes.c_char_p))
        self.d2i_SSL_SESSION = fn(s, "d2i_SSL_SESSION", vp, vp, ctypes.POINTER(ctypes.c_char_p), lg)
        self.SSL_SESSION_free = fn(s, "SSL_SESSION_free", None, vp)
        self.SSL_get_servername = fn(s, "SSL_get_servername", ctypes.c_char_p, vp, i)
        self.SSL_get_SSL_CTX = fn(s, "SSL_get_SSL_CTX", vp, vp)
        self.SSL_is_server = fn(s, "SSL_is_server", i, vp)
        self.SSL_set_session_id_context = fn(
            s, "SSL_set_session_id_context", i, vp, ctypes.c_char_p, ctypes.c_uint
        )
        self.SSL_CTX_add_session = fn(s, "SSL_CTX_add_session", i, vp, vp)
        self.SSL_SESSION_get0_id_context = fn(
            s,
            "SSL_SESSION_get0_id_context",
            ctypes.POINTER(ctypes.c_ubyte),
            vp,
            ctypes.POINTER(ctypes.c_uint),
        )
        self.SSL_client_hello_get0_ext = fn(
            s,
            "SSL_client_hello_get0_ext",
            i,
            vp,
            ctypes.c_uint,
            ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte)),
            ctypes.POINTER(ctypes.c_size_t),
        )
        self.RAND_bytes = fn(c, "RAND_bytes", i, vp, i)
        self.ERR_clear_error = fn(c, "ERR_clear_error", None)
        self.EVP_aes_256_cbc = fn(c, "EVP_aes_256_cbc", vp)
        self.EVP_CIPHER_fetch = fn(c, "EVP_CIPHER_fetch", vp, vp, ctypes.c_char_p, ctypes.c_char_p)
        self.EVP_EncryptInit_ex = fn(c, "EVP_EncryptInit_ex", i, vp, vp, vp, vp, vp)
        self.EVP_DecryptInit_ex = fn(c, "EVP_DecryptInit_ex", i, vp, vp, vp, vp, vp)
        self.EVP_MAC_CTX_set_params = fn(
            c, "EVP_MAC_CTX_set_params", i, vp, ctypes.POINTER(_OsslParam)
        )


_lib: _Lib | None = None


def lib() -> _Lib:
    """The bound library (loaded once); raises ``ShimError`` if unusable."""
    global _lib
    if _lib is None:
        _lib = _Lib()
    return _lib


def ssl_ctx_pointer(ctx: ssl.SSLContext) -> int:
    """The ``SSL_CTX *`` inside an ``ssl.SSLContext``.

    CPython's ``PySSLContext`` struct starts with ``PyObject_HEAD`` followed by
    ``SSL_CTX *ctx``; ``object.__basicsize__`` is the size of that header.
    Only valid while ``ctx`` is alive.
    """
    if not isinstance(ctx, ssl.SSLContext):
        raise ShimError("not an ssl.SSLContext")
    ptr = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    if not ptr:
        raise ShimError("SSLContext holds no SSL_CTX")
    return ptr


# CPython's ``PySSLSocket`` (the ``_ssl._SSLSocket`` of a connection) starts with
# ``PyObject_HEAD``, then ``PyObject *Socket``, then ``SSL *ssl``.
_SSL_OFFSET = object.__basicsize__ + ctypes.sizeof(ctypes.c_void_p)


def ssl_pointer(sslobj: object) -> int:
    """The ``SSL *`` of a connection's ``_ssl._SSLSocket`` (``SSLContext._wrap_bio``).

    Same layout reasoning as ``ssl_ctx_pointer``, proven by ``self_check``; only
    valid while ``sslobj`` is alive.
    """
    ptr = ctypes.c_void_p.from_address(id(sslobj) + _SSL_OFFSET).value
    if not ptr:
        raise ShimError("SSL object holds no SSL")
    return ptr


def self_check() -> bool:
    """True if the shim binds the right libssl and finds the right ``SSL_CTX`` and ``SSL``.

    Sets ``num_tickets`` through the stdlib and reads it back through ctypes:
    a wrong pointer or a different libssl gives another number (or nothing).
    Then the ``SSL *`` of a server connection must name that ``SSL_CTX`` as its
    own and say it is a server.
    """
    try:
        library = lib()
        for n in (3, 7):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.num_tickets = n
            if library.SSL_CTX_get_num_tickets(ssl_ctx_pointer(ctx)) != n:
                return False
            conn = ctx._wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), True, None, owner=None)  # type: ignore[attr-defined]
            ptr = ssl_pointer(conn)
            if library.SSL_get_SSL_CTX(ptr) != ssl_ctx_pointer(ctx):
                return False
            if library.SSL_is_server(ptr) != 1:
                return False
        return True
    except Exception as exc:
        log.debug("TLS shim self-check failed: %s", exc)
        return False


class CloseNotify:
    """``closer(sslobj)`` queues a connection's close_notify with one ``SSL_shutdown``.

    ``_ssl._SSLSocket.shutdown()`` calls ``SSL_shutdown`` a second time when the first
    returns 0 (sent, the peer's not seen yet), gets "want read" and raises it as an
    ``SSLWantReadError``: on every close, a second call, an error string and an
    exception for a result a server that closes at once does not need. This is
    one call; an error it leaves on OpenSSL's queue is cleared, so that it is not
    reported for another connection's later failure.
    """

    __slots__ = ("_clear", "_pointer_at", "_shutdown")

    def __init__(self, library: _Lib) -> None:
        # Without argtypes, as SessionBinder: the SSL * goes over as the c_void_p
        # that reads it from the _ssl object.
        # PyDLL: OpenSSL only writes the alert to a memory BIO, nothing blocks, so
        # the GIL is kept (releasing and taking it back costs as much as the call)
        self._shutdown = ctypes.PyDLL(library.ssl_path)["SSL_shutdown"]
        self._shutdown.restype = ctypes.c_int
        self._clear = library.ERR_clear_error
        self._pointer_at = ctypes.c_void_p.from_address

    def __call__(self, sslobj: object) -> None:
        ptr = self._pointer_at(id(sslobj) + _SSL_OFFSET)
        if ptr.value and self._shutdown(ptr) < 0:
            self._clear()


_close_notify: CloseNotify | bool | None = False  # False: not decided yet


def close_notify() -> CloseNotify | None:
    """The shared ``CloseNotify``; None if the shim cannot be used here (decided once)."""
    global _close_notify
    if _close_notify is False:
        try:
            _close_notify = CloseNotify(lib()) if self_check() else None
        except ShimError:
            _close_notify = None
    return _close_notify  # type: ignore[return-value]


def set_session_id_context(ctx: ssl.SSLContext, sid_ctx: bytes) -> None:
    """Replace CPython's fixed "Python" session id context (max 32 bytes)."""
    if not 0 < len(sid_ctx) <= SSL_MAX_SID_CTX_LENGTH:
        raise ValueError("session id context must be 1..32 bytes")
    if lib().SSL_CTX_set_session_id_context(ssl_ctx_pointer(ctx), sid_ctx, len(sid_ctx)) != 1:
        raise ShimError("SSL_CTX_set_session_id_context failed")


def set_ciphersuites(ctx: ssl.SSLContext, suites: str) -> None:
    """TLS 1.3 suites: the stdlib's ``set_ciphers`` only sets the TLS 1.2 list."""
    if lib().SSL_CTX_set_ciphersuites(ssl_ctx_pointer(ctx), suites.encode()) != 1:
        raise ShimError(f"no usable TLS 1.3 suite in {suites!r}")


def session_cache_mode(ctx: ssl.SSLContext) -> int:
    return int(lib().SSL_CTX_ctrl(ssl_ctx_pointer(ctx), SSL_CTRL_GET_SESS_CACHE_MODE, 0, None))


def disable_session_cache(ctx: ssl.SSLContext) -> None:
    lib().SSL_CTX_ctrl(ssl_ctx_pointer(ctx), SSL_CTRL_SET_SESS_CACHE_MODE, SSL_SESS_CACHE_OFF, None)


class _ServerNameReader:
    """``current_server_name`` with its ctypes out-parameters made once.

    OpenSSL calls our hooks synchronously on the event loop's thread, never
    re-entrantly, so one set of out-parameters serves every call.
    """

    __slots__ = ("_get0_ext", "_get_servername", "_out", "_out_ref", "_outlen", "_outlen_ref")

    def __init__(self, library: _Lib) -> None:
        self._get0_ext = library.SSL_client_hello_get0_ext
        self._get_servername = library.SSL_get_servername
        self._out = ctypes.POINTER(ctypes.c_ubyte)()
        self._outlen = ctypes.c_size_t()
        self._out_ref = ctypes.byref(self._out)
        self._outlen_ref = ctypes.byref(self._outlen)

    def __call__(self, ssl_ptr: int) -> str:
        if self._get0_ext(ssl_ptr, 0, self._out_ref, self._outlen_ref) == 1:
            n = self._outlen.value
            if n:
                try:
                    return parse_sni_extension(ctypes.string_at(self._out, n)) or ""
                except ClientHelloError:
                    return ""
        return self.settled(ssl_ptr)

    def settled(self, ssl_ptr: int) -> str:
        """The name once OpenSSL has processed the ClientHello (when tickets are
        issued): there the ClientHello is gone and ``SSL_get_servername`` has it."""
        name = self._get_servername(ssl_ptr, TLSEXT_NAMETYPE_host_name)
        return name.decode("ascii", "replace").lower() if name else ""


_server_name_reader: _ServerNameReader | None = None


def current_server_name(ssl_ptr: int) -> str:
    """The SNI name of the handshake in progress on ``ssl_ptr`` ("" if none).

    During ClientHello processing (where OpenSSL looks up sessions and TLS 1.2
    tickets) the SNI extension has not been acted on yet, so we read it from
    the ClientHello itself; later (issuing tickets) ``SSL_get_servername`` has it.
    """
    global _server_name_reader
    if _server_name_reader is None:
        _server_name_reader = _ServerNameReader(lib())
    return _server_name_reader(ssl_ptr)


def _bind_lifetime(ctx: ssl.SSLContext, hooks: object) -> None:
    """Keep ``hooks`` alive as long as ``ctx``.

    Every connection made on the context references it, so its callbacks
    stay valid while any connection is open, even after the ``VipTls`` that
    built them is dropped (a reload swaps it). The hooks reference the context
    too; when the collector frees both, ``__del__`` first detaches the
    callbacks from the SSL_CTX (PEP 442 runs finalizers before clearing).
    """
    vars(ctx).setdefault("_l7lb_shim_hooks", []).append(hooks)


KeyFunc = Callable[[str, bytes], bytes]  # (sni, session id) -> cache key


class SessionHooks:
    """Session-ID cache on one VIP's ``SSL_CTX``: OpenSSL's own, fed from ours.

    ``lookup(key) -> blob | None`` and ``store(key, blob)`` are synchronous
    (OpenSSL calls them mid-handshake); ``remove(key)`` is optional. ``key_for``
    turns (SNI name, session id) into the cache key, binding VIP and name.

    OpenSSL first looks a session id up in its internal cache, in C, and calls
    ``lookup`` (through a ctypes trampoline into Python) only on a miss: a client
    resuming on the worker that holds its session costs no Python at all. That
    internal cache is keyed by session id alone, so it only holds sessions whose
    session id context names their SNI name (``SessionBinder``, set by the
    listener before the handshake): OpenSSL refuses a session whose context
    differs from the connection's, as a cache miss. Sessions it created
    without that binding (a connection that did not go through the listener's
    ClientHello parse) are served by ``lookup`` only, whose key has the name.
    OpenSSL stores nothing itself (``NO_INTERNAL_STORE``): new sessions are
    added here, so TLS 1.3 sessions that resume from stateless tickets are
    never held.
    """

    def __init__(
        self,
        ctx: ssl.SSLContext,
        *,
        key_for: KeyFunc,
        lookup: Callable[[bytes], bytes | None],
        store: Callable[[bytes, bytes], None],
        remove: Callable[[bytes], None] | None = None,
        lifetime: float = 300.0,
        unbound_context: bytes = b"",
        max_entries: int = 20000,
    ) -> None:
        library = lib()
        self._lib = library
        self.key_for = key_for
        self.lookup = lookup
        self.store = store
        self.remove = remove
        # the session id context of the SSL_CTX: a session made under it is not
        # bound to its name, so it stays out of OpenSSL's internal cache
        self.unbound_context = unbound_context
        self.ctx = ctx  # the SSL_CTX lives as long as these hooks
        ptr = ssl_ctx_pointer(ctx)
        # Keep the trampolines referenced by self: see the module docstring.
        self._new_cb = NEW_SESSION_CB(self._on_new)
        self._get_cb = GET_SESSION_CB(self._on_get)
        self._remove_cb = REMOVE_SESSION_CB(self._on_remove)
        library.SSL_CTX_set_timeout(ptr, max(1, int(lifetime)))
        library.SSL_CTX_sess_set_new_cb(ptr, self._new_cb)
        library.SSL_CTX_sess_set_get_cb(ptr, self._get_cb)
        library.SSL_CTX_sess_set_remove_cb(ptr, self._remove_cb)
        library.SSL_CTX_ctrl(
            ptr,
            SSL_CTRL_SET_SESS_CACHE_MODE,
            SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL_STORE,
            None,
        )
        library.SSL_CTX_ctrl(ptr, SSL_CTRL_SET_SESS_CACHE_SIZE, max(1, max_entries), None)
        self._add_session = library.SSL_CTX_add_session
        self._ctx_ptr = ptr
        self._ptr: int | None = ptr
        _bind_lifetime(ctx, self)

    def detach(self) -> None:
        """Take the callbacks off the ``SSL_CTX`` (idempotent; also done when freed).

        The ``SSL_CTX`` can outlive these hooks: every connection and session
        made on it holds a reference. Freeing such a connection calls the
        remove callback, and OpenSSL must then not jump into a freed ctypes
        trampoline (it did: a segfault when the old contexts of a dropped
        ``VipTls`` closed their connections).
        """
        ptr, self._ptr = self._ptr, None
        if ptr:
            self._lib.SSL_CTX_sess_set_new_cb(ptr, NEW_SESSION_CB())
            self._lib.SSL_CTX_sess_set_get_cb(ptr, GET_SESSION_CB())
            self._lib.SSL_CTX_sess_set_remove_cb(ptr, REMOVE_SESSION_CB())

    def __del__(self) -> None:
        # Runs before the garbage collector clears anything (PEP 442), so
        # ``self.ctx`` and its SSL_CTX are still alive here.
        with contextlib.suppress(Exception):
            self.detach()

    def _session_id(self, sess: int) -> bytes:
        n = ctypes.c_uint()
        p = self._lib.SSL_SESSION_get_id(sess, ctypes.byref(n))
        return ctypes.string_at(p, n.value) if p and n.value else b""

    def _on_new(self, ssl_ptr: int, sess: int) -> int:
        try:
            # the raw int (``_ssl._SSLContext.options``): ``SSLContext.options``
            # builds an ``enum.Flag`` and ``in`` on it is slow for a per-ticket check
            if (
                not super(ssl.SSLContext, self.ctx).options & _OP_NO_TICKET
                and self._lib.SSL_SESSION_get_protocol_version(sess) == TLS1_3_VERSION
            ):
                # a TLS 1.3 session with tickets on resumes from its stateless ticket:
                # caching and publishing it would cost a store write per handshake for
                # nothing (it measured 58 % of a worker's time under s_time -new)
                return 0
            sid = self._session_id(sess)
            if sid:
                size = self._lib.i2d_SSL_SESSION(sess, None)
                if 0 < size <= 65536:
                    buf = ctypes.create_string_buffer(size)
                    pp = ctypes.c_char_p(ctypes.addressof(buf))
                    if self._lib.i2d_SSL_SESSION(sess, ctypes.byref(pp)) == size:
                        self.store(self.key_for(current_server_name(ssl_ptr), sid), buf.raw)
                if self._ptr and self._id_context(sess) != self.unbound_context:
                    # bound to its name: later resumptions here are found in C
                    self._add_session(self._ctx_ptr, sess)  # the cache takes its own reference
        except Exception:
            log.exception("TLS session store callback failed")
        return 0  # we keep no reference to the SSL_SESSION

    def _id_context(self, sess: int) -> bytes:
        n = ctypes.c_uint()
        p = self._lib.SSL_SESSION_get0_id_context(sess, ctypes.byref(n))
        return ctypes.string_at(p, n.value) if p and n.value else b""

    def _on_get(self, ssl_ptr: int, data: Any, length: int, copy: Any) -> int | None:
        try:
            copy[0] = 0  # the session we return is ours to give: no extra reference
            if not 0 < length <= 64:
                return None
            sid = ctypes.string_at(data, length)
            blob = self.lookup(self.key_for(current_server_name(ssl_ptr), sid))
            if not blob:
                return None
            buf = ctypes.create_string_buffer(blob, len(blob))
            pp = ctypes.c_char_p(ctypes.addressof(buf))
            sess: int | None = self._lib.d2i_SSL_SESSION(None, ctypes.byref(pp), len(blob))
            if not sess:
                return None
            if self._ptr and self._id_context(sess) != self.unbound_context:
                # (from the shared store, or OpenSSL's cache was full): the next
                # resumption on this worker is found in C
                self._add_session(self._ctx_ptr, sess)
            return sess  # our reference goes to the connection (copy = 0)
        except Exception:
            log.exception("TLS session lookup callback failed")
            return None

    def _on_remove(self, ctx_ptr: int, sess: int) -> None:
        if self.remove is None:
            return
        try:
            sid = self._session_id(sess)
            host = self._lib.SSL_SESSION_get0_hostname(sess)
            name = host.decode("ascii", "replace").lower() if host else ""
            if sid:
                self.remove(self.key_for(name, sid))
        except Exception:
            log.exception("TLS session remove callback failed")


class SessionBinder:
    """Binds each connection's sessions to its SNI name, before the handshake.

    ``binder(sslobj, name)`` sets the session id context of one connection
    (an ``_ssl._SSLSocket`` not yet handshaking) to ``context_for(name)``.
    A session carries the context it was made under, and OpenSSL resumes one
    only on a connection with the same context, which is what lets
    ``SessionHooks`` keep sessions in OpenSSL's internal cache, keyed by session
    id alone, without letting a session issued for one name resume under
    another (nginx CVE-2014-3616).
    """

    __slots__ = ("_contexts", "_pointer_at", "_set", "context_for")

    def __init__(self, context_for: Callable[[str], bytes]) -> None:
        self.context_for = context_for
        self._contexts: dict[str, tuple[bytes, int]] = {}
        # Per connection, so called without argtypes: the SSL * goes over as the
        # c_void_p that reads it from the _ssl object, the context as bytes and an
        # int (ctypes' per-argument conversions cost as much as the call).
        library = lib()
        # PyDLL: a copy of at most 32 bytes, the GIL is kept
        self._set = ctypes.PyDLL(library.ssl_path)["SSL_set_session_id_context"]
        self._set.restype = ctypes.c_int
        self._pointer_at = ctypes.c_void_p.from_address

    def __call__(self, sslobj: object, name: str) -> None:
        known = self._contexts.get(name)
        if known is None:
            sid_ctx = self.context_for(name)
            if not 0 < len(sid_ctx) <= SSL_MAX_SID_CTX_LENGTH:
                raise ValueError("session id context must be 1..32 bytes")
            if len(self._contexts) >= 4096:  # bounded against SNI floods
                self._contexts.clear()
            known = self._contexts[name] = (sid_ctx, len(sid_ctx))
        ptr = self._pointer_at(id(sslobj) + _SSL_OFFSET)
        if not ptr.value:
            raise ShimError("SSL object holds no SSL")
        if self._set(ptr, known[0], known[1]) != 1:
            raise ShimError("SSL_set_session_id_context failed")


_KeyName = ctypes.c_char * 16  # the key_name[16] of a ticket


class _TicketKeyMaterial:
    """One derived ticket key, with the ctypes buffers the callback hands to OpenSSL.

    Built once per (ring key, SNI name) and reused for every ticket: the AES key
    buffer and the ``OSSL_PARAM`` array that sets the HMAC key and digest.
    OpenSSL copies both during the call (key schedule, MAC context), so sharing
    them between connections is safe.
    """

    __slots__ = ("aes", "aes_buf", "digest", "mac", "mac_buf", "mac_params", "name")

    def __init__(self, name: bytes, aes: bytes, mac: bytes, digest: Any) -> None:
        self.name = name
        self.aes = aes
        self.mac = mac
        self.aes_buf = ctypes.create_string_buffer(aes, len(aes))
        self.mac_buf = ctypes.create_string_buffer(mac, len(mac))
        self.digest = digest  # the "SHA256" buffer the params point at: keep it alive
        params = (_OsslParam * 3)()
        params[0] = _OsslParam(
            b"key", OSSL_PARAM_OCTET_STRING, ctypes.addressof(self.mac_buf), len(mac), 0
        )
        params[1] = _OsslParam(
            b"digest", OSSL_PARAM_UTF8_STRING, ctypes.addressof(digest), len(digest.value), 0
        )
        params[2] = _OsslParam(None, 0, None, 0, 0)
        self.mac_params = params


class TicketKeyHooks:
    """Rotating session-ticket keys on one VIP's ``SSL_CTX``.

    ``ring()`` returns the current ``TicketKeyRing`` (the supervisor rotates it;
    workers swap it in). The AES and HMAC keys and the 16-byte key name are
    derived from each ring key *and* the VIP and SNI name, so a ticket issued
    for one name carries a key name no other name knows (full handshake there).
    """

    def __init__(self, ctx: ssl.SSLContext, *, vip: str, ring: Callable[[], TicketKeyRing]) -> None:
        library = lib()
        self._lib = library
        self.ctx = ctx
        self.vip = vip.encode()
        self.ring = ring
        self._derived: dict[tuple[bytes, str], _TicketKeyMaterial] = {}
        # Fetched once: the legacy EVP_aes_256_cbc() makes every EVP_*Init_ex
        # look the implementation up again in OpenSSL 3's provider store.
        self._cipher = library.EVP_CIPHER_fetch(None, b"AES-256-CBC", None)
        if not self._cipher:
            self._cipher = library.EVP_aes_256_cbc()
        self._digest = ctypes.create_string_buffer(b"SHA256")
        # bound once: the callback runs for every ticket issued or presented
        self._server_name = _ServerNameReader(library)
        self._encrypt_init = library.EVP_EncryptInit_ex
        self._decrypt_init = library.EVP_DecryptInit_ex
        self._mac_set_params = library.EVP_MAC_CTX_set_params
        self._rand_bytes = library.RAND_bytes
        self._memmove = ctypes.memmove
        self._cb = TICKET_KEY_CB(self._on_ticket)
        ptr = ssl_ctx_pointer(ctx)
        if library.SSL_CTX_set_tlsext_ticket_key_evp_cb(ptr, self._cb) != 1:
            raise ShimError("SSL_CTX_set_tlsext_ticket_key_evp_cb failed")
        self._ptr: int | None = ptr
        _bind_lifetime(ctx, self)

    def detach(self) -> None:
        """Take the callback off the ``SSL_CTX`` (see ``SessionHooks.detach``).

        A handshake on the context afterwards gets OpenSSL's built-in ticket
        keys: its tickets resume on this context only, and never crash.
        """
        ptr, self._ptr = self._ptr, None
        if ptr:
            self._lib.SSL_CTX_set_tlsext_ticket_key_evp_cb(ptr, TICKET_KEY_CB())

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.detach()

    def derive(self, secret: bytes, sni: str) -> tuple[bytes, bytes, bytes]:
        """(key name, AES-256 key, HMAC key) for one ring key, this VIP and ``sni``."""
        m = self._material(secret, sni)
        return m.name, m.aes, m.mac

    def _material(self, secret: bytes, sni: str) -> _TicketKeyMaterial:
        cache_key = (secret, sni)
        got = self._derived.get(cache_key)
        if got is None:
            label = self.vip + b"\x00" + sni.encode()

            def prf(purpose: bytes) -> bytes:
                return hmac.digest(secret, purpose + b"\x00" + label, hashlib.sha256)

            got = _TicketKeyMaterial(
                prf(b"l7lb ticket name")[:16],
                prf(b"l7lb ticket aes"),
                prf(b"l7lb ticket mac"),
                self._digest,
            )
            if len(self._derived) > 4096:  # names x keys; bounded against SNI floods
                self._derived.clear()
            self._derived[cache_key] = got
        return got

    def _on_ticket(
        self, ssl_ptr: int, key_name: Any, iv: Any, cctx: int, hctx: int, enc: int
    ) -> int:
        try:
            ring = self.ring()
            if enc:
                m = self._material(ring.current.secret, self._server_name.settled(ssl_ptr))
                self._memmove(key_name, m.name, 16)
                if self._rand_bytes(iv, 16) != 1:
                    return -1
                if self._encrypt_init(cctx, self._cipher, None, m.aes_buf, iv) != 1:
                    return -1
                return 1 if self._mac_set_params(hctx, m.mac_params) == 1 else -1
            wanted = _KeyName.from_address(key_name).raw  # a third of string_at's cost
            sni = self._server_name(ssl_ptr)
            for index, key in enumerate(ring.accepted()):
                m = self._material(key.secret, sni)
                if hmac.compare_digest(m.name, wanted):
                    if self._decrypt_init(cctx, self._cipher, None, m.aes_buf, iv) != 1:
                        return -1
                    if self._mac_set_params(hctx, m.mac_params) != 1:
                        return -1
                    # 2: still valid, but the client should get a ticket under the new key
                    return 1 if index == 0 else 2
            return 0  # unknown key (rotated out, other VIP/name, other cluster)
        except Exception:
            log.exception("TLS ticket key callback failed")
            return 0 if not enc else -1
