"""The request-target forms and the authority (Host) a request may name.

Sans-IO checks run on every request head by ``framing.request_head``, so both codec back
ends refuse the same targets and hosts with the same status. What is accepted:

* origin-form (``/path?query``), and the asterisk-form (``*``) with OPTIONS only
  (RFC 9112 3.2.1, 3.2.4);
* absolute-form with the ``http`` or ``https`` scheme (RFC 9112 3.2.2); its authority is then
  the request's host, whatever Host says, and must not carry userinfo (RFC 9110 4.2.4);
* a Host value that is ``uri-host [":" port]`` (RFC 9110 7.2, RFC 3986 3.2.2): a reg-name, an
  IPv4 address or a bracketed IP literal, then at most one port of 1 to 5 digits.

Everything else is a 400 before routing: a fragment anywhere in the target (clients never
send one), authority-form (CONNECT is refused earlier with 501), other schemes, userinfo,
lists (``a, b``), whitespace, empty or non-numeric ports. A comma is allowed in a reg-name by
RFC 3986 but is refused here: it is how two Host values get joined into one, and no host name
has one.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

from l7lb.http.events import ProtocolError

# reg-name = *( unreserved / pct-encoded / sub-delims ), without "," (see the docstring)
_REG_NAME: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+;=%"
_PCT_RE: Final = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_IPVFUTURE_RE: Final = re.compile(rb"v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+")
_DIGITS: Final = b"0123456789"
_SCHEMES: Final = (b"http://", b"https://")


def _bad(reason: str) -> ProtocolError:
    return ProtocolError(400, reason)


def _check_port(port: bytes) -> None:
    if not port or len(port) > 5 or port.translate(None, _DIGITS) or int(port) > 65535:
        raise _bad("invalid port in host")


def check_authority(value: bytes) -> None:
    """Raise ProtocolError(400) unless ``value`` is ``uri-host [":" port]``."""
    if value[:1] == b"[":
        close = value.find(b"]")
        if close < 0:
            raise _bad("unterminated IP literal in host")
        literal = value[1:close]
        if literal[:1] in (b"v", b"V"):
            if _IPVFUTURE_RE.fullmatch(literal.lower()) is None:
                raise _bad("invalid IP literal in host")
        else:
            try:
                ipaddress.IPv6Address(literal.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                raise _bad("invalid IPv6 address in host") from None
            if 37 in literal:  # "%": a zone identifier never leaves its host
                raise _bad("invalid IPv6 address in host")
        rest = value[close + 1 :]
        if rest:
            if rest[:1] != b":":
                raise _bad("invalid character after IP literal in host")
            _check_port(rest[1:])
        return
    colon = value.find(b":")
    name = value if colon < 0 else value[:colon]
    if name.translate(None, _REG_NAME):
        raise _bad("invalid character in host")
    if 37 in name and _PCT_RE.search(name) is not None:  # "%"
        raise _bad("invalid percent-encoding in host")
    if colon >= 0:
        if not name:
            raise _bad("port without a host")
        _check_port(value[colon + 1 :])


def check_target(method: bytes, target: bytes) -> bytes | None:
    """Check the request-target form (the module docstring); return the authority of an
    absolute-form target, None for the origin- and asterisk-forms. Raises ProtocolError."""
    if target[:1] == b"/":
        if 35 in target:  # "#" (an int: ``b"#" in target`` first fails as a number, slowly)
            raise _bad("fragment in request-target")
        return None
    if target == b"*":
        if method != b"OPTIONS":
            raise _bad("asterisk-form request-target without OPTIONS")
        return None
    if 35 in target:  # "#"
        raise _bad("fragment in request-target")
    head = target[:8].lower()
    if head.startswith(_SCHEMES[0]):
        start = 7
    elif head.startswith(_SCHEMES[1]):
        start = 8
    else:
        raise _bad("invalid request-target")
    end = len(target)
    for stop in (b"/", b"?"):
        i = target.find(stop, start)
        if 0 <= i < end:
            end = i
    authority = target[start:end]
    if 64 in authority:  # "@"
        raise _bad("userinfo in request-target")
    if not authority or authority[:1] == b":":
        # RFC 9110 4.2.1: an http(s) URI with an empty host is invalid
        raise _bad("absolute-form request-target without a host")
    check_authority(authority)
    return authority
