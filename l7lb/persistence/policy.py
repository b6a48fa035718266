"""The persistence policy of one pool in one worker: which server a request
is stuck to, what the backend and the client see, and what other workers
must learn.

The data path calls it in this order for each request routed to a pool::

    sticky = st.lookup(target, headers, peer, now)        # before scheduling
    state = st.usable(sticky.server, loop_now)            # if sticky.server
        # "ok": use it (even when draining or weight 0)
        # "down" / "maint": pool.redispatch ? schedule normally : 503
        # "expired" (past a drain deadline): schedule normally
        # "full": queue up to pool.queue_timeout, then 503
    headers = st.request_headers(headers, sticky)         # toward the backend
    updates = st.dispatched(sticky, server, now)          # once a server is chosen
    headers, more = st.response_headers(resp_headers, server, sticky, secure, now)
    # broadcast updates + more to the other workers; they call st.apply(update, now)

``now`` is wall-clock seconds (``time.time()``): cookie values carry dates
that every director must read alike. ``usable`` compares passive back-off
deadlines, which are on the event loop's clock, so it takes ``loop.time()``.
Nothing here does I/O. Headers are lists of (lower-case name, value) pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from l7lb.balancing.pool_state import PoolState
from l7lb.balancing.server_state import ServerState
from l7lb.config.model import PersistenceMode, Pool
from l7lb.http.head_edit import HeadEdit, apply
from l7lb.persistence.admission import Admission
from l7lb.persistence.cookie import CookieCodec, CookieInfo, refresh_due
from l7lb.persistence.jsessionid import SessionIdFinder, route_of
from l7lb.persistence.prefix import prefix_set_cookie, strip_prefix, unprefix_request
from l7lb.persistence.setcookie import (
    Headers,
    SameSite,
    SetCookie,
    get_cookie,
    privatized,
    split_cookie,
    strip_cookie,
)
from l7lb.persistence.shared import StickTables, StickUpdate
from l7lb.persistence.table import StickTable, source_key

# Longer application session ids are not learned: the table's memory is
# bounded by max_entries times this, whatever clients send.
MAX_SESSION_ID: Final = 256
# Entries of the per-pool Cookie header caches before they are cleared, and the
# longest header value remembered: at most 4096 x 1 KiB per pool and worker.
_CACHE_MAX: Final = 4096
_CACHE_KEY_MAX: Final = 1024


class Sticky:
    """What ``lookup`` found: the server the request is stuck to, or None. Not changed once
    made. (A plain class: compiled, a frozen dataclass's constructor goes through
    ``object.__setattr__`` for each field, some 15,000 instructions per lookup.)"""

    __slots__ = ("cookie", "key", "server", "source")

    def __init__(
        self,
        server: ServerState | None = None,
        key: bytes | None = None,
        source: str = "",
        cookie: CookieInfo | None = None,
    ) -> None:
        self.server = server
        # the table key (session id, masked address) or prefix id that was read
        self.key = key
        # "cookie" | "prefix" | "route" | "learned" | "source" | "" (not stuck)
        self.source = source
        self.cookie = cookie  # the verified insert cookie, for refreshes

    def __repr__(self) -> str:
        server = self.server.name if self.server is not None else None
        return f"Sticky({server!r}, {self.key!r}, {self.source!r})"


NOT_STUCK: Final = Sticky()


# Bound on the Set-Cookie values remembered within one second (refreshes of old cookies
# each have their own ``issued``: a burst of them must not grow the cache).
_MINTED_MAX: Final = 1024


class Stickiness:
    """The persistence policy of one pool (see the module docstring)."""

    __slots__ = (
        "_admission",
        "_codec",
        "_cookie_checked",
        "_cookie_seen",
        "_finder",
        "_last",
        "_minted",
        "_minted_at",
        "_name",
        "_plain_cookie",
        "_quiet_when_stuck",
        "_rest",
        "_routes",
        "_secure_cookie",
        "_stripped",
        "_strips",
        "_table",
        "_table_name",
        "_tables",
        "enabled",
        "mode",
        "pool",
        "settings",
        "state",
        "uses_table",
    )

    def __init__(self, pool: Pool, state: PoolState, tables: StickTables) -> None:
        p = pool.persistence
        self.pool = pool
        self.state = state
        self.settings = p
        self.mode = p.mode
        self.enabled = p.mode is not PersistenceMode.NONE
        self._tables = tables
        self._name = p.name.encode("ascii")
        self._codec: CookieCodec | None = None
        if p.mode in (PersistenceMode.COOKIE, PersistenceMode.PREFIX):
            # ValueError without a secret: the loader always resolves one.
            self._codec = CookieCodec(p.secret, {pool.name: [s.name for s in pool.servers]})
        self._plain_cookie: SetCookie | None = None
        self._secure_cookie: SetCookie | None = None
        # Set-Cookie values minted during the second ``_minted_at``, by (server, issued,
        # secure): a value depends on nothing else, so a stream of new clients costs one
        # MAC per server and second, not one per response.
        self._minted: dict[tuple[str, int, bool], bytes] = {}
        self._minted_at = -1
        if p.mode is PersistenceMode.COOKIE:
            samesite = SameSite(p.samesite) if p.samesite else None
            # Browsers drop SameSite=None without Secure: on a plain VIP the
            # attribute is left out (the browser's default, Lax, applies).
            plain_samesite = None if samesite is SameSite.NONE else samesite
            for secure, site in ((True, samesite), (False, plain_samesite)):
                cookie = SetCookie(
                    p.name,
                    path=p.path or None,
                    domain=p.domain or None,
                    max_age=int(p.max_age) or None,
                    secure=secure,
                    httponly=p.httponly,
                    samesite=site,
                )
                if secure:
                    self._secure_cookie = cookie
                else:
                    self._plain_cookie = cookie
        # A keep-alive client sends the same Cookie header again and again: remember
        # what it meant (only when no max_idle/max_life makes the answer time-bound)
        # and what it becomes without l7lb's cookie. Bounded: cleared when full.
        self._cookie_seen: dict[bytes, Sticky] | None = (
            {} if p.mode is PersistenceMode.COOKIE and not p.max_idle and not p.max_life else None
        )
        self._stripped: dict[bytes, bytes] = {}
        self._strips = p.mode is PersistenceMode.COOKIE and p.indirect
        # which headers not seen before both caches remember: all while they earn hits
        self._admission = Admission()
        # the last header read whole and what it is without l7lb's cookie: the backend
        # head's edit asks right after the lookup, with the same object, whether or not the
        # caches remembered it
        self._last = b""
        self._rest = b""
        # the same keyed by l7lb's own cookie value, for a header not seen before whose
        # application cookies changed (only when _cookie_seen is kept; bounded the same way)
        self._cookie_checked: dict[bytes, Sticky] = {}
        # indirect without max_idle: a client whose valid cookie names the server it
        # was sent to never gets a Set-Cookie (nothing to refresh)
        self._quiet_when_stuck = p.mode is PersistenceMode.COOKIE and p.indirect and not p.max_idle
        self.uses_table = p.uses_table
        self._finder: SessionIdFinder | None = None
        self._routes: dict[bytes, ServerState] = {}
        if p.mode is PersistenceMode.JSESSIONID:
            self._finder = SessionIdFinder(
                cookie=self._name,
                path_param=p.path_param.encode("ascii") or None,
                query_param=p.query_param.encode("ascii") or None,
            )
            self._routes = {s.server.route.encode(): s for s in state.servers if s.server.route}
        self._table: StickTable | None = None
        self._table_name = p.table or pool.name
        if p.uses_table:
            self._table = tables.table(self._table_name, p.max_entries, p.timeout)

    # ---- the request ---------------------------------------------------------

    def lookup(self, target: bytes, headers: Headers, peer: str, now: float) -> Sticky:
        """The server this request is stuck to. Anything forged, expired,
        unknown or naming a server the pool does not have is NOT_STUCK: the
        request is then scheduled normally, never refused. Of ``headers`` only the
        Cookie fields are read (the engine passes just those)."""
        mode = self.mode
        if mode is PersistenceMode.NONE:
            return NOT_STUCK
        if mode is PersistenceMode.COOKIE:
            return self._lookup_cookie(headers, now)
        if mode is PersistenceMode.PREFIX:
            return self._lookup_prefix(headers)
        if mode is PersistenceMode.JSESSIONID:
            return self._lookup_session(target, headers, now)
        return self._lookup_source(peer, now)

    def _lookup_cookie(self, headers: Headers, now: float) -> Sticky:
        seen = self._cookie_seen
        if seen is None:
            return self._read_cookie(headers, now)
        value = None
        for hname, hvalue in headers:
            if hname == b"cookie":
                if value is not None:
                    return self._read_cookie(headers, now)  # several Cookie headers
                value = hvalue
        if value is None:
            return NOT_STUCK
        if len(value) > _CACHE_KEY_MAX:
            return self._read_cookie(headers, now)
        sticky = seen.get(value)
        if sticky is not None:
            self._admission.hit()
        else:
            # a Cookie header not seen before (the application's own cookies change from
            # request to request): l7lb's cookie in it may still be one already checked.
            # The same walk gives the header without it, which indirect mode sends on.
            raw, rest = split_cookie(value, self._name)
            remember = self._admission.miss()
            if self._strips:
                self._last = value
                self._rest = rest
                if remember:
                    self._keep_stripped(value, rest)
            if not raw:
                sticky = NOT_STUCK
            elif len(raw) > _CACHE_KEY_MAX:
                sticky = self._check_cookie(raw, now)
            else:
                checked = self._cookie_checked
                sticky = checked.get(raw)
                if sticky is None:
                    sticky = self._check_cookie(raw, now)
                    if len(checked) >= _CACHE_MAX:
                        checked.clear()
                    checked[raw] = sticky
            if remember:
                if len(seen) >= _CACHE_MAX:
                    seen.clear()
                seen[value] = sticky
        return sticky

    def _read_cookie(self, headers: Headers, now: float) -> Sticky:
        raw = get_cookie(headers, self._name)
        if not raw:
            return NOT_STUCK
        return self._check_cookie(raw, now)

    def _check_cookie(self, raw: bytes, now: float) -> Sticky:
        """What l7lb's cookie value ``raw`` says: its server, if the cookie is genuine (its
        MAC checks), still valid, and names a server of the pool."""
        assert self._codec is not None
        p = self.settings
        # latin-1 never fails; the codec refuses anything but base64url
        info = self._codec.read(
            raw.decode("latin-1"),
            self.pool.name,
            int(now),
            int(p.max_idle) or None,
            int(p.max_life) or None,
        )
        if info is None:
            return NOT_STUCK
        server = self.state.by_name.get(info.server)
        if server is None:
            return NOT_STUCK
        return Sticky(server, None, "cookie", info)

    def _lookup_prefix(self, headers: Headers) -> Sticky:
        server_id, _ = unprefix_request(headers, self._name)
        if server_id is None:
            return NOT_STUCK
        assert self._codec is not None
        name = self._codec.server_for_id(self.pool.name, server_id)
        server = self.state.by_name.get(name) if name is not None else None
        if server is None:
            return NOT_STUCK
        return Sticky(server, server_id.encode("ascii"), "prefix")

    def _lookup_session(self, target: bytes, headers: Headers, now: float) -> Sticky:
        assert self._finder is not None
        sid = self._finder.in_request(target, headers)
        if not sid or len(sid) > MAX_SESSION_ID:
            return NOT_STUCK
        route = route_of(sid)
        if route is not None:
            server = self._routes.get(route)
            if server is not None:
                return Sticky(server, sid, "route")
        if self._table is not None:
            name = self._table.get(sid, now)
            server = self.state.by_name.get(name) if name is not None else None
            if server is not None:
                return Sticky(server, sid, "learned")
        # keep the id: a redispatched or first request may learn it
        return Sticky(None, sid, "")

    def _lookup_source(self, peer: str, now: float) -> Sticky:
        p = self.settings
        try:
            key = source_key(peer, p.mask, p.mask6)
        except ValueError:
            return NOT_STUCK  # a Unix socket peer or "-": nothing to stick on
        assert self._table is not None
        name = self._table.get(key, now)
        server = self.state.by_name.get(name) if name is not None else None
        return Sticky(server, key, "source" if server is not None else "")

    def usable(self, s: ServerState, loop_now: float) -> str:
        """Can the stuck server take the request? "ok" (draining counts as
        ok), "down" or "maint" (redispatch or 503), "expired" (past its drain
        deadline: redispatch), "full" (queue)."""
        return self.state.sticky_state(s, loop_now)

    def request_cookies(self, headers: Headers, sticky: Sticky) -> list[bytes] | None:
        """New values for the request's Cookie fields, in order, when persistence changes
        what the backend sees: l7lb's cookie removed in ``indirect`` cookie mode, the
        server-id prefix removed in prefix mode (an empty value then drops its field).
        None when nothing changes, which is the common case and allocates nothing. Of
        ``headers`` only the Cookie fields are read."""
        mode = self.mode
        if mode is PersistenceMode.COOKIE and self.settings.indirect:
            strip = True
        elif mode is PersistenceMode.PREFIX:
            strip = False
        else:
            return None
        values: list[bytes] | None = None
        changed = False
        for name, value in headers:
            if name == b"cookie":
                new = self._stripped_value(value) if strip else strip_prefix(value, self._name)[1]
                if new is not value:
                    changed = True
                if values is None:
                    values = [new]
                else:
                    values.append(new)
        return values if changed else None

    def request_headers(self, headers: Headers, sticky: Sticky) -> Headers:
        """``headers`` with ``request_cookies`` applied (``headers`` itself when nothing
        changes)."""
        new = self.request_cookies(headers, sticky)
        if new is None:
            return headers
        values = iter(new)
        out: Headers = []
        for name, value in headers:
            if name == b"cookie":
                value = next(values)
                if not value:
                    continue
            out.append((name, value))
        return out

    def _stripped_value(self, value: bytes) -> bytes:
        """A Cookie header value without l7lb's cookie (the same object when it had none)."""
        if value is self._last:
            return self._rest
        stripped = self._stripped
        new = stripped.get(value)
        if new is None:
            new = strip_cookie(value, self._name)
            self._keep_stripped(value, new)
        return new

    def _keep_stripped(self, value: bytes, new: bytes) -> None:
        if len(value) <= _CACHE_KEY_MAX:  # longer: hostile or rare, not kept
            stripped = self._stripped
            if len(stripped) >= _CACHE_MAX:
                stripped.clear()
            stripped[value] = new

    def dispatched(self, sticky: Sticky, server: ServerState, now: float) -> list[StickUpdate]:
        """A server was chosen for the request: stick the client's address
        (source mode) or its known session id (after a redispatch) to it.
        Returns the updates to broadcast."""
        if self._table is None or sticky.key is None:
            return []
        if self.mode is PersistenceMode.SOURCE:
            return self._tables.record(self._table_name, sticky.key, server.name, now)
        if sticky.source == "learned":
            # refreshes the entry, or re-sticks the id after a redispatch. An
            # id the table does not know is left alone: another worker may
            # know it, and the backend will set a new one if it must.
            return self._tables.record(self._table_name, sticky.key, server.name, now)
        return []

    # ---- the response -----------------------------------------------------------

    def response_edit(
        self,
        fields: Callable[[bytes], Headers],
        server: ServerState,
        sticky: Sticky,
        secure: bool,
        now: float,
        edit: HeadEdit,
    ) -> list[StickUpdate]:
        """Add to ``edit`` what persistence changes in a response toward the client, and
        return the table updates to broadcast. ``fields(name)``: the realserver's fields of
        that name (Set-Cookie and Cache-Control are the only ones read, and only when they
        matter: the engine passes ``ResponseHead.fields``, which reads them from the head's
        lines). ``secure``: the client connection is TLS."""
        mode = self.mode
        if mode is PersistenceMode.COOKIE:
            if sticky.server is server and self._quiet_when_stuck:
                return []  # a valid cookie for this server: nothing to re-send
            rendered = self._set_cookie(server, sticky, secure, now)
            if rendered is not None:
                edit.add.append((b"set-cookie", rendered))
                if self.settings.nocache:
                    _keep_private(fields(b"cache-control"), edit)
            return []
        if mode is PersistenceMode.PREFIX:
            values = [v for _, v in fields(b"set-cookie")]
            if values:
                assert self._codec is not None
                server_id = self._codec.server_id(self.pool.name, server.name)
                edit.remove(b"set-cookie")
                edit.add += [
                    (b"set-cookie", prefix_set_cookie(v, self._name, server_id)) for v in values
                ]
            return []
        if mode is PersistenceMode.JSESSIONID and self._table is not None:
            return self._learn(fields(b"set-cookie"), server, now)
        return []

    def response_headers(
        self, headers: Headers, server: ServerState, sticky: Sticky, secure: bool, now: float
    ) -> tuple[Headers, list[StickUpdate]]:
        """``headers`` with ``response_edit`` applied, and the updates to broadcast."""
        edit = HeadEdit([], [])

        def fields(name: bytes) -> Headers:
            return [h for h in headers if h[0] == name]

        updates = self.response_edit(fields, server, sticky, secure, now, edit)
        if not edit.cut and not edit.add:
            return headers, updates
        return apply(headers, edit), updates

    def _set_cookie(
        self, server: ServerState, sticky: Sticky, secure: bool, now: float
    ) -> bytes | None:
        """The Set-Cookie value that sticks the client to ``server``, or None when the
        client's own cookie says so already and needs no refresh."""
        p = self.settings
        info = sticky.cookie if sticky.server is server else None
        seconds = int(now)
        if (
            info is not None
            and p.indirect
            and not refresh_due(info, seconds, int(p.max_idle) or None)
        ):
            return None  # the client's value is valid: never re-sent with indirect
        assert self._codec is not None
        issued = info.issued if info is not None else seconds
        if seconds != self._minted_at:
            self._minted.clear()
            self._minted_at = seconds
        key = (server.name, issued, secure)
        rendered = self._minted.get(key)
        if rendered is None:
            value = self._codec.encode(self.pool.name, server.name, issued, max(issued, seconds))
            cookie = self._secure_cookie if secure else self._plain_cookie
            assert cookie is not None
            rendered = cookie.render(value)
            if len(self._minted) < _MINTED_MAX:
                self._minted[key] = rendered
        return rendered

    def _learn(self, headers: Headers, server: ServerState, now: float) -> list[StickUpdate]:
        assert self._finder is not None
        sid = self._finder.in_response(headers)
        if not sid or len(sid) > MAX_SESSION_ID:
            return []
        route = route_of(sid)
        if route is not None and route in self._routes:
            return []  # the route suffix already says where it goes
        return self._tables.record(self._table_name, sid, server.name, now)

    # ---- across workers and for the admin ------------------------------------------

    def claim_needed(self, sticky: Sticky) -> bool:
        """A table mode found no entry for the request's key: another worker
        may have learned it a moment ago, so the caller asks the supervisor
        (whose copy is first-writer-wins) before scheduling."""
        return self._table is not None and sticky.server is None and sticky.key is not None

    @property
    def table_name(self) -> str:
        return self._table_name

    @property
    def proposes(self) -> bool:
        """Source mode sticks the client to whatever server it is sent to, so a
        claim carries the server this worker would pick; a learned-session miss
        only asks (the backend's response decides)."""
        return self.mode is PersistenceMode.SOURCE

    def apply(self, update: StickUpdate, now: float) -> bool:
        """An entry learned by another worker (any table of this worker)."""
        return self._tables.apply(update, now)

    def entries(self, now: float) -> dict[str, int]:
        """Live persistence entries per server of this pool (``show
        servers``); empty for the stateless modes."""
        if self._table is None:
            return {}
        counts = self._table.count_by_server(now)
        return {name: n for name, n in counts.items() if name in self.state.by_name}


def _keep_private(headers: Headers, edit: HeadEdit) -> None:  # (the Cache-Control fields)
    """The ``nocache`` mode: a response carrying a persistence cookie must not be stored by
    a shared cache (a cached Set-Cookie would stick every client of that cache to one
    server): Cache-Control gains ``private`` (see ``setcookie.privatized``)."""
    values = [v for n, v in headers if n == b"cache-control"]
    if not values:
        edit.add.append((b"cache-control", b"private"))
        return
    new = [privatized(v) for v in values]
    if any(a is not b for a, b in zip(new, values, strict=True)):
        edit.remove(b"cache-control")
        edit.add += [(b"cache-control", v) for v in new]
