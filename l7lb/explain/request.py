"""The request to explain: built from a URL and options, or read raw.

Either way the bytes go through the HTTP codec the configuration selects
(``[http] parser``), with its limits, so ``l7lb explain`` sees the same head,
the same framing and the same refusals (``ProtocolError``) as a worker.
Sans-IO: bytes and strings in, an ``ExplainRequest`` or ``RequestError`` out.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from l7lb.http.codec import make_request_parser
from l7lb.http.events import Limits, ProtocolError, RequestHead

# RFC 9110 5.6.2 token, for header names and methods given on the command line
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
DEFAULT_SOURCE = "203.0.113.1"  # TEST-NET-3 (RFC 5737): says plainly it is made up
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_STDIN = 1 << 20  # a head is at most [http] max_head_size; the body is not needed


class RequestError(ValueError):
    """The request cannot be built or read; the message says what to change."""


class RefusedRequest(Exception):
    """The codec refuses the request, as a worker would: l7lb answers ``status``."""

    def __init__(self, raw: bytes, source: str, error: ProtocolError) -> None:
        super().__init__(error.reason)
        self.raw = raw
        self.source = source
        self.status = error.status
        self.reason = error.reason


@dataclass(frozen=True, slots=True)
class Destination:
    """Where the client connects: from the URL, or from an absolute-form target."""

    scheme: str  # "http" | "https"
    host: str  # as in the URL, lower-case, IPv6 without brackets
    port: int

    @property
    def is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True

    @property
    def sni(self) -> str | None:
        """The server name a TLS client sends: the URL's host unless it is an
        IP literal (RFC 6066 3: literal addresses are not sent)."""
        return None if self.is_ip else self.host.rstrip(".")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ExplainRequest:
    head: RequestHead  # as the codec parsed it
    raw: bytes  # the head bytes fed to the codec
    source: str  # the client's address
    source_given: bool  # --from was given (else DEFAULT_SOURCE)
    destination: Destination | None  # None: a raw request in origin-form
    notes: tuple[str, ...] = ()  # how the input was read (e.g. LF line ends accepted)


def parse_source(text: str | None) -> tuple[str, bool]:
    """``--from``: an IPv4 or IPv6 address; (address, given)."""
    if text is None:
        return DEFAULT_SOURCE, False
    try:
        return str(ipaddress.ip_address(text.strip())), True
    except ValueError:
        raise RequestError(
            f"--from {text!r} is not an IP address "
            "(write --from 198.51.100.7 or --from 2001:db8::7)"
        ) from None


def parse_destination(url: str) -> tuple[Destination, str]:
    """A URL → where the client connects and the request-target (path and
    query, never the fragment)."""
    if any(c in url for c in "\r\n\t ") or not url.isprintable():
        raise RequestError(
            f"URL {url!r} contains spaces or control characters (percent-encode them)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RequestError(f"URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise RequestError(
            f"URL {url!r}: the scheme must be http or https (e.g. https://www.example.com/cart)"
        )
    if parts.username is not None or parts.password is not None:
        raise RequestError(
            f"URL {url!r}: no user:password@ in the URL; send --header 'Authorization: ...'"
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise RequestError(f"URL {url!r} has no host (e.g. http://www.example.com/)")
    if not host.isascii():
        # clients send internationalised names in their ASCII (punycode) form
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise RequestError(f"URL {url!r}: {host!r} is not a valid host name") from None
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Destination(scheme, host, _DEFAULT_PORTS[scheme] if port is None else port), target


def parse_header_option(text: str) -> tuple[str, str]:
    """``--header 'Name: value'`` → (name, value)."""
    name, colon, value = text.partition(":")
    if not colon or _TOKEN.fullmatch(name.strip()) is None or name != name.strip():
        raise RequestError(f"--header {text!r}: write it as 'Name: value' (e.g. 'X-User: 42')")
    return name, value.strip()


def parse_cookie_option(text: str) -> tuple[str, str]:
    """``--cookie NAME=VALUE`` → (name, value)."""
    name, eq, value = text.partition("=")
    if not eq or _TOKEN.fullmatch(name) is None:
        raise RequestError(f"--cookie {text!r}: write it as NAME=VALUE (e.g. L7LB=abc)")
    if ";" in value or not value.isprintable():
        raise RequestError(f"--cookie {text!r}: the value may not hold ';' or control characters")
    return name, value


def _check_line(what: str, text: str) -> None:
    if "\r" in text or "\n" in text or "\x00" in text:
        raise RequestError(f"{what} {text!r} contains a line break or NUL: one header per option")


def build_from_url(
    url: str,
    *,
    method: str = "GET",
    headers: list[str] | None = None,
    cookies: list[str] | None = None,
    source: str | None = None,
    parser: str = "auto",
    limits: Limits | None = None,
) -> ExplainRequest:
    """The request a client like curl sends for ``url``: Host from the URL
    (a ``--header 'Host: ...'`` replaces it), the given headers in order, the
    cookies in one Cookie header."""
    dest, target = parse_destination(url)
    if _TOKEN.fullmatch(method) is None:
        raise RequestError(f"method {method!r} is not a token (e.g. GET, POST)")
    fields: list[tuple[str, str]] = []
    for text in headers or []:
        _check_line("--header", text)
        fields.append(parse_header_option(text))
    crumbs: list[str] = []
    for text in cookies or []:
        _check_line("--cookie", text)
        name, value = parse_cookie_option(text)
        crumbs.append(f"{name}={value}")
    if not any(name.lower() == "host" for name, _ in fields):
        host = f"[{dest.host}]" if ":" in dest.host else dest.host
        if dest.port != _DEFAULT_PORTS[dest.scheme]:
            host += f":{dest.port}"
        fields.insert(0, ("Host", host))
    if crumbs:
        fields.append(("Cookie", "; ".join(crumbs)))
    lines = [f"{method} {target} HTTP/1.1", *(f"{n}: {v}" for n, v in fields)]
    try:
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError("headers and cookies must be encodable as UTF-8") from None
    addr, given = parse_source(source)
    head = _parse(raw, addr, parser, limits)
    return ExplainRequest(head, raw, addr, given, dest)


def read_raw(
    data: bytes,
    *,
    source: str | None = None,
    parser: str = "auto",
    limits: Limits | None = None,
) -> ExplainRequest:
    """A request as sent on the wire (stdin). Typed by hand it may have bare
    LF line ends and no final blank line: both are accepted, and said so."""
    if not data.strip():
        raise RequestError(
            "no request on stdin: give a URL, or pipe a request, e.g. "
            "printf 'GET / HTTP/1.1\\r\\nHost: www.example.com\\r\\n\\r\\n' | l7lb explain -c FILE"
        )
    if len(data) > MAX_STDIN:
        raise RequestError(f"the request on stdin is longer than {MAX_STDIN} bytes")
    notes: list[str] = []
    end = data.find(b"\r\n\r\n")
    if end < 0 and b"\r" not in data:
        lf = data.find(b"\n\n")
        head_part = data if lf < 0 else data[: lf + 2]
        rest = b"" if lf < 0 else data[lf + 2 :]
        data = head_part.replace(b"\n", b"\r\n") + rest
        notes.append("the head's bare LF line ends were read as CRLF")
        end = data.find(b"\r\n\r\n")
    if end < 0:
        data = data.rstrip(b"\r\n") + b"\r\n\r\n"
        notes.append("the head had no blank line at its end: one was added")
        end = data.find(b"\r\n\r\n")
    raw = data[: end + 4]
    addr, given = parse_source(source)
    head = _parse(raw, addr, parser, limits)
    return ExplainRequest(head, raw, addr, given, absolute_destination(head.target), tuple(notes))


def absolute_destination(target: bytes) -> Destination | None:
    """The destination an absolute-form target names (``GET http://h:8080/x``)."""
    if target[:1] == b"/" or target == b"*":
        return None
    try:
        dest, _ = parse_destination(target.decode("ascii"))
    except (RequestError, UnicodeDecodeError):
        return None
    return dest


def _parse(raw: bytes, source: str, parser: str, limits: Limits | None) -> RequestHead:
    try:
        return parse_head(raw, parser, limits or Limits())
    except ProtocolError as exc:
        raise RefusedRequest(raw, source, exc) from None


def parse_head(raw: bytes, parser: str, limits: Limits) -> RequestHead:
    """The codec's RequestHead for ``raw``; ``ProtocolError`` as a worker would
    raise it (its status is what l7lb answers)."""
    events = make_request_parser(parser, limits).feed(raw)
    for ev in events:
        if isinstance(ev, RequestHead):
            return ev
    raise ProtocolError(400, "incomplete request head")
