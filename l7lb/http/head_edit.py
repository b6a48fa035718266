"""What changes in a head between two hops, and the two ways of applying it.

A ``HeadEdit`` names the fields to remove (every field of each name) and the fields to add.
It is worked out once per message from what the one walk over the head noted
(``RequestHead.rebuilt`` / ``ResponseHead.rebuilt``), by the same rules as
``l7lb.http.forwarding``, and then applied in one of two ways:

* ``splice``: the head came as HTTP/1.x bytes, so its own bytes are copied with the removed
  lines cut out (the codec kept the lines it split) and the new ones appended, with no
  re-serialisation (most requests cut one line, ``Connection``, and add four);
* ``apply``: the header list filtered and extended, for heads that came as a list (HTTP/2)
  or that l7lb built itself.

Both give the next hop the same fields; ``tests/http_forwarding/test_head_edit.py`` holds them
to each other and to ``forwarding``'s list functions.
"""

from __future__ import annotations

from typing import Final

from l7lb.http.events import Framing, RequestHead, ResponseHead
from l7lb.http.forwarding import (
    LocationRewriter,
    forward_additions,
    serialize_request_head,
    serialize_response_head,
)
from l7lb.http.lines import is_named, title_of
from l7lb.http.status import reason

Headers = list[tuple[bytes, bytes]]

_CRLF: Final = b"\r\n"
_SEP: Final = b": "
_HOST: Final = b"host"
_UPGRADE: Final = b"upgrade"
_XFF: Final = b"x-forwarded-for"
_VIA: Final = b"via"
_FORWARDED: Final = b"forwarded"
_COOKIE: Final = b"cookie"
_CHAINED: Final = frozenset((_XFF, _VIA, _FORWARDED))
_URLS: Final = frozenset((b"location", b"content-location", b"refresh"))
_REFRESH: Final = b"refresh"


class HeadEdit:
    """Fields to remove (by name, every field of it) and fields to append, in order.
    ``block``: the first ``covered`` fields of ``add`` already rendered as field lines (a
    ``Forwarding`` memo's), which ``splice`` copies instead of rendering them again."""

    __slots__ = ("add", "block", "covered", "cut")

    def __init__(
        self, cut: list[bytes], add: Headers, block: bytes = b"", covered: int = 0
    ) -> None:
        self.cut = cut
        self.add = add
        self.block = block
        self.covered = covered

    def remove(self, name: bytes) -> None:
        if name not in self.cut:
            self.cut.append(name)

    def __repr__(self) -> str:
        return f"HeadEdit(cut={self.cut!r}, add={self.add!r})"


class Forwarding:
    """The forwarding fields one connection's last request got, and their field lines: a
    keep-alive client asks for the same host again and again, and the fields depend only on
    what it cannot change between requests (its address, the VIP's scheme, Via and
    Forwarded settings) and on the request's Host and version. So they are worked out and
    rendered once per connection and host, not once per request. Used only for a request
    whose own fields add nothing to them (no X-Forwarded-For, Via or Forwarded to extend,
    no upgrade); the fields are those of ``forward_additions`` in every case."""

    __slots__ = ("add", "block", "client_ip", "forwarded", "host", "scheme", "version", "via")

    def __init__(self) -> None:
        self.host: bytes | None = None  # nothing worked out yet
        self.version = b""
        self.client_ip = ""
        self.scheme = b""
        self.via = b""
        self.forwarded = False
        self.add: Headers = []
        self.block = b""

    def fields(
        self,
        client_ip: str,
        scheme: bytes,
        host: bytes,
        via: bytes,
        forwarded: bool,
        version: bytes,
    ) -> Headers:
        """A new list of the fields (``block`` then holds their lines)."""
        if not (
            host == self.host
            and version == self.version
            and client_ip == self.client_ip
            and scheme == self.scheme
            and via == self.via
            and forwarded == self.forwarded
        ):
            add = forward_additions(
                [],
                [],
                [],
                client_ip=client_ip,
                scheme=scheme,
                host=host,
                via=via,
                forwarded=forwarded,
                upgrade=False,
                version=version,
            )
            self.block = b"".join([name + _SEP + value + _CRLF for name, value in add])
            self.add = add
            self.host = host
            self.version = version
            self.client_ip = client_ip
            self.scheme = scheme
            self.via = via
            self.forwarded = forwarded
        return list(self.add)


def splice(raw: bytes, lines: list[bytes], first_line: bytes, edit: HeadEdit) -> bytes:
    """``first_line`` (with its CRLF), the field lines of ``raw`` (a complete head as
    received, split into ``lines``: its start line, its field lines, two empty ones) except
    those ``edit`` removes, the added fields, and the blank line. No search: the codec split
    the lines, and a line's name is read only when a cut name starts with its first byte."""
    parts = [first_line]
    cut = edit.cut
    start = len(lines[0]) + 2  # the first field line
    end = len(raw) - 2  # keep the last field's CRLF, not the blank line
    if cut:
        # one bit per first byte of a cut name, folded onto 32 so that case does not matter
        # (a false match only costs the name's comparison)
        firsts = 0
        for name in cut:
            firsts |= 1 << (name[0] & 31)
        pos = start
        for k in range(1, len(lines) - 2):
            line = lines[k]
            size = len(line) + 2
            if (firsts >> (line[0] & 31)) & 1 and _named(line, cut):
                if pos > start:
                    parts.append(raw[start:pos])
                start = pos + size
            pos += size
    if end > start:
        parts.append(raw[start:end])
    add = edit.add
    covered = edit.covered
    if covered:
        parts.append(edit.block)
    for k in range(covered, len(add)):
        name, value = add[k]
        parts.append(name)
        parts.append(_SEP)
        parts.append(value)
        parts.append(_CRLF)
    parts.append(_CRLF)
    return b"".join(parts)


def _named(line: bytes, names: list[bytes]) -> bool:
    """The field ``line`` has one of ``names`` (lower case): its colon right after one."""
    n = len(line)
    for name in names:
        m = len(name)
        if m < n and line[m] == 58 and is_named(line, name, title_of(name)):
            return True
    return False


def apply(headers: Headers, edit: HeadEdit) -> Headers:
    """``headers`` without the removed names, with the added fields at the end."""
    cut = edit.cut
    out = [h for h in headers if h[0] not in cut] if cut else list(headers)
    out.extend(edit.add)
    return out


def request_edit(
    req: RequestHead,
    *,
    client_ip: str,
    scheme: bytes,
    via: bytes,
    forwarded: bool,
    server_host: bytes,
    cookies: list[bytes] | None = None,
    memo: Forwarding | None = None,
) -> HeadEdit:
    """The edit from a client's request to the head its backend gets (the rules of
    ``forwarding.backend_request_headers``). ``server_host``: the realserver's own
    ``host:port``, sent as Host when the request has none. ``cookies``: new values for the
    request's Cookie fields when persistence changed them (an empty one is dropped).
    ``memo``: the connection's ``Forwarding``, when it has one (the same edit, worked out
    with less work)."""
    cut: list[bytes] = []
    xff: list[bytes] = []
    via_chain: list[bytes] = []
    fwd_chain: list[bytes] = []
    rebuilt = req.rebuilt
    if rebuilt is not None:
        chained = False
        dropped = req.dropped
        for name in rebuilt:
            if name == _UPGRADE and req.upgrade:
                continue  # an upgrade keeps its Upgrade field
            if name not in cut:
                cut.append(name)
            if name in _CHAINED and name not in dropped:
                chained = True
        if chained:
            for name, value in req.headers:
                if name == _XFF:
                    if value and _XFF not in dropped:
                        xff.append(value)
                elif name == _VIA:
                    if _VIA not in dropped:
                        via_chain.append(value)
                elif name == _FORWARDED and _FORWARDED not in dropped:
                    fwd_chain.append(value)
    add: Headers = []
    host = req.host
    target = req.target
    if not host or (target[:1] != b"/" and target != b"*"):
        # an absolute-form target's authority (RFC 9112 3.2.2: it replaces Host), or the
        # realserver's own for a request without one (the backend gets HTTP/1.1, where a
        # request without Host is a 400)
        if _HOST not in cut:
            cut.append(_HOST)
        sent = host or server_host
        if sent:
            add.append((_HOST, sent))
    block = b""
    # the memo's fields are this hop's alone: nothing the client sent to extend, no Host first
    own_only = not (add or xff or via_chain or fwd_chain or req.upgrade)
    if memo is not None and own_only:
        add = memo.fields(client_ip, scheme, host, via, forwarded, req.version)
        block = memo.block
    else:
        add += forward_additions(
            xff,
            via_chain,
            fwd_chain,
            client_ip=client_ip,
            scheme=scheme,
            host=host,
            via=via,
            forwarded=forwarded,
            upgrade=req.upgrade,
            version=req.version,
        )
    covered = len(add) if block else 0
    if req.framing is Framing.CHUNKED:
        add.append((b"transfer-encoding", b"chunked"))
    if cookies is not None:
        cut.append(_COOKIE)
        for value in cookies:
            if value:
                add.append((_COOKIE, value))
    return HeadEdit(cut, add, block, covered)


def backend_head(
    req: RequestHead,
    target: bytes,
    *,
    client_ip: str,
    scheme: bytes,
    via: bytes,
    forwarded: bool,
    server_host: bytes,
    cookies: list[bytes] | None = None,
    memo: Forwarding | None = None,
) -> bytes:
    """The HTTP/1.1 head the backend gets for ``req``: ``request_edit``'s edit applied by
    ``backend_request`` (the engine and ``l7lb explain`` both build it here)."""
    edit = request_edit(
        req,
        client_ip=client_ip,
        scheme=scheme,
        via=via,
        forwarded=forwarded,
        server_host=server_host,
        cookies=cookies,
        memo=memo,
    )
    return backend_request(req, target, edit)


def backend_request(req: RequestHead, target: bytes, edit: HeadEdit) -> bytes:
    """The HTTP/1.1 head for the backend: ``req`` with ``edit`` applied, sent to
    ``target`` (origin-form). The client's own request line is reused when it says the
    same."""
    lines = req.lines
    if lines is not None:
        raw = req.raw
        if req.version == b"1.1" and target is req.target:
            first = raw[: len(lines[0]) + 2]
        else:
            first = req.method + b" " + target + b" HTTP/1.1\r\n"
        return splice(raw, lines, first, edit)
    return serialize_request_head(req.method, target, apply(req.headers, edit))


def response_edit(
    resp: ResponseHead,
    *,
    via: bytes,
    authorities: frozenset[bytes] | None = None,
    scheme: bytes = b"",
    host: bytes = b"",
    upgrade: bool = False,
) -> HeadEdit:
    """The edit from a realserver's response to the head its client gets, before
    persistence and framing add theirs (the rules of ``forwarding.client_response_headers``).
    ``authorities``: the realservers' own ``host:port`` forms, whose URLs point back at
    ``scheme://host`` (``forwarding.LocationRewriter``; None: no rewriting). ``upgrade``: a
    101 being relayed keeps Upgrade and gets ``Connection: upgrade``."""
    cut: list[bytes] = []
    add: Headers = []
    via_chain: list[bytes] = []
    rebuilt = resp.rebuilt
    if rebuilt is not None:
        dropped = resp.dropped
        rewrite: LocationRewriter | None = None
        for name in rebuilt:
            if name in cut:
                continue
            if name in _URLS and name not in dropped:
                if authorities is None:
                    continue
                if rewrite is None:
                    rewrite = LocationRewriter(authorities, scheme, host)
                values = [v for _, v in resp.fields(name)]
                new = [
                    rewrite.rewrite_refresh(v) if name == _REFRESH else rewrite.rewrite_url(v)
                    for v in values
                ]
                if any(a is not b for a, b in zip(new, values, strict=True)):
                    cut.append(name)
                    add += [(name, v) for v in new]
            elif name == _VIA:
                cut.append(name)
                if _VIA not in dropped:
                    via_chain = [v for _, v in resp.fields(_VIA)]
            elif name == _UPGRADE and upgrade:
                continue
            else:
                cut.append(name)
    if via:
        # received-protocol "1.1" whatever the realserver spoke, as l7lb always said
        via_chain.append(b"1.1 " + via)
    if via_chain:
        add.append((_VIA, b", ".join(via_chain)))
    if upgrade:
        add.append((b"connection", b"upgrade"))
    return HeadEdit(cut, add)


def client_response(resp: ResponseHead, edit: HeadEdit) -> bytes:
    """The HTTP/1.1 head for the client: ``resp`` with ``edit`` applied. The realserver's
    own status line is reused when it is an HTTP/1.1 one with a reason phrase."""
    lines = resp.lines
    if lines is not None:
        raw = resp.raw
        if resp.version == b"1.1" and resp.reason:
            first = raw[: len(lines[0]) + 2]
        else:
            first = b"HTTP/1.1 %d %s\r\n" % (resp.status, resp.reason or reason(resp.status))
        return splice(raw, lines, first, edit)
    return serialize_response_head(
        b"1.1", resp.status, resp.reason or reason(resp.status), apply(resp.headers, edit)
    )
