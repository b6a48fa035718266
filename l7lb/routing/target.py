"""Reading the routing inputs out of a request head: host, path and query.

Sans-IO helpers the proxy calls once per request before ``Router.route``.
"""

from __future__ import annotations

from typing import Final

_ABSOLUTE_SCHEMES: Final = (b"http://", b"https://")


def _is_absolute(target: bytes) -> bool:
    # Schemes are case-insensitive (RFC 3986 3.1); only lower-case the few
    # bytes that matter, and only when the target does not start with "/".
    return target[:8].lower().startswith(_ABSOLUTE_SCHEMES)


def request_host(target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The host the client asked for, as sent (port kept, case kept).

    RFC 9112 3.2.2: when the request-target is in absolute-form, its authority
    wins over the Host header (a proxy must ignore the received Host). Otherwise
    the first Host header, or b"" when there is none (HTTP/1.0).
    """
    if target[:1] != b"/" and _is_absolute(target):
        start = target.index(b"//") + 2
        end = len(target)
        for stop in (b"/", b"?", b"#"):
            i = target.find(stop, start)
            if i != -1 and i < end:
                end = i
        authority = target[start:end]
        at = authority.rfind(b"@")  # drop userinfo (RFC 9110 4.2.4 forbids it anyway)
        return authority[at + 1 :] if at != -1 else authority
    for name, value in headers:
        if name == b"host":
            return value
    return b""


def split_target(target: bytes) -> tuple[bytes, bytes]:
    """Split a request-target into (path, query); the query has no leading "?".

    Absolute-form targets lose their scheme and authority ("http://h/x?y" ->
    (b"/x", b"y")); an absolute-form target without a path gets b"/".
    The asterisk-form ("*", OPTIONS) is returned as the path unchanged.
    """
    if target[:1] != b"/" and _is_absolute(target):
        start = target.index(b"//") + 2
        slash = target.find(b"/", start)
        qmark = target.find(b"?", start)
        if slash == -1 or (qmark != -1 and qmark < slash):
            target = b"/" + target[qmark:] if qmark != -1 else b"/"
        else:
            target = target[slash:]
    hash_at = target.find(b"#")  # a fragment is never sent, but never route on it either
    if hash_at != -1:
        target = target[:hash_at]
    path, _, query = target.partition(b"?")
    return path, query


def origin_parts(target: bytes) -> tuple[bytes, bytes, bytes]:
    """(path, query, the origin-form target realservers get) of a request-target the codec
    accepted (no fragment). RFC 9112 3.2.2: absolute-form becomes origin-form; an
    origin-form or asterisk-form target is passed on as it is (the same object)."""
    if target[:1] == b"/":
        if 63 in target:  # "?" (an int: a one-byte string would first fail as a number)
            path, _, query = target.partition(b"?")
            return path, query, target
        return target, b"", target
    path, query = split_target(target)
    if target == b"*":
        return path, query, target
    return path, query, path + b"?" + query if query else path


def normalize_host(host: bytes) -> bytes:
    """Lower-case a host, drop any ":port" and a trailing dot.

    IPv6 literals come back bracketed ("[2001:db8::1]:8443" -> b"[2001:db8::1]");
    a bare IPv6 literal (never valid in Host, but accepted in config) is
    bracketed too so both sides compare equal.
    """
    if 58 in host:  # ":"
        if host[:1] == b"[":
            close = host.find(b"]")
            host = host[: close + 1] if close != -1 else host
            return host.lower()
        if host.count(b":") == 1:
            host = host.partition(b":")[0]
        else:
            return b"[" + host.lower() + b"]"
    if host[-1:] == b".":
        # "example.com." is the same name as "example.com" (an FQDN with its root)
        host = host[:-1]
    return host.lower()
