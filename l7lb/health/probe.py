"""One active check: connect, optionally send a PROXY header (``send_proxy``), optionally
handshake TLS, optionally ask HTTP.

Returns a result with a short human reason ("connect refused", "status 503
not in 200-399", "timeout after 2.0s waiting for response") that goes
straight into the transition log. The response is parsed with h11: checks
are rare, and a strict parser turns a broken backend into a clear reason.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from dataclasses import dataclass

import h11

from l7lb.health.target import CheckTarget, HttpCheck
from l7lb.proxyproto.outbound import check_header, endpoint

USER_AGENT = "l7lb-health"  # lets backends keep checks out of their access logs
_READ_SIZE = 16384


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    reason: str


def _tls_context() -> ssl.SSLContext:
    # Checks ask "is it serving?", not "is its certificate valid?": realservers
    # commonly have self-signed certificates for their private addresses.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


_TLS = _tls_context()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _host_header(target: CheckTarget, check: HttpCheck) -> str:
    return check.host if check.host is not None else str(target.check_address)


def _sni(target: CheckTarget) -> str:
    # SNI must be a DNS name; "" tells asyncio to send none.
    if target.http is not None and target.http.host:
        name = target.http.host.rsplit(":", 1)[0] if "]" not in target.http.host else ""
    else:
        name = target.address.host
    return "" if not name or _is_ip(name) else name


async def probe(target: CheckTarget) -> ProbeResult:
    """Run one check of ``target`` within its timeout."""
    phase = ["connecting"]  # updated as the check progresses, for the reason
    try:
        async with asyncio.timeout(target.timeout):
            return await _run(target, phase)
    except TimeoutError:
        return ProbeResult(False, f"timeout after {target.timeout}s {phase[0]}")
    except ConnectionRefusedError:
        return ProbeResult(False, "connect refused")
    except ConnectionResetError:
        return ProbeResult(False, f"connection reset {phase[0]}")
    except ssl.SSLError as exc:
        return ProbeResult(False, f"TLS error: {exc.reason or exc}")
    except h11.RemoteProtocolError as exc:
        return ProbeResult(False, f"invalid response: {exc}")
    except OSError as exc:
        return ProbeResult(False, f"{phase[0]}: {exc.strerror or exc}")


async def _run(target: CheckTarget, phase: list[str]) -> ProbeResult:
    address = target.check_address
    if target.send_proxy:
        reader, writer = await _connect_proxied(target, phase)
    else:
        reader, writer = await asyncio.open_connection(
            address.host,
            address.port,
            ssl=_TLS if target.tls else None,
            server_hostname=_sni(target) if target.tls else None,
        )
    try:
        if target.http is None:
            return ProbeResult(True, "TLS handshake ok" if target.tls else "connect ok")
        phase[0] = "waiting for response"
        return await _http(target, target.http, reader, writer)
    finally:
        # Not awaiting wait_closed: a TLS peer that never answers close_notify
        # would hold the checker past its timeout; the loop finishes the close.
        writer.close()


async def _connect_proxied(
    target: CheckTarget, phase: list[str]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect, send the PROXY header the server expects of every connection, then (for a
    TLS check) handshake: the header comes before the ClientHello."""
    address = target.check_address
    reader, writer = await asyncio.open_connection(address.host, address.port)
    try:
        local = endpoint(writer.get_extra_info("sockname"))
        remote = endpoint(writer.get_extra_info("peername"))
        writer.write(check_header(target.send_proxy, local, remote))
        if target.tls:
            phase[0] = "in the TLS handshake"
            await writer.drain()
            await writer.start_tls(_TLS, server_hostname=_sni(target) or None)
    except BaseException:
        writer.close()
        raise
    return reader, writer


async def _http(
    target: CheckTarget,
    check: HttpCheck,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> ProbeResult:
    conn = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method=check.method,
        target=check.path,
        headers=[
            ("Host", _host_header(target, check)),
            ("User-Agent", USER_AGENT),
            ("Connection", "close"),
        ],
    )
    writer.write(conn.send(request) + (conn.send(h11.EndOfMessage()) or b""))
    status = 0
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(_READ_SIZE)
            if not data and status == 0:
                return ProbeResult(False, "connection closed before response")
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Response):
            status = event.status_code
            if status not in check.expect:
                return ProbeResult(False, f"status {status} not in {check.expect}")
            if check.body_contains is None:
                return ProbeResult(True, f"status {status}")
        elif isinstance(event, h11.Data):
            body += event.data
            if check.body_contains is not None and check.body_contains in body:
                return ProbeResult(True, f"status {status}, body matched")
            if len(body) >= check.max_body:
                break
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    return ProbeResult(False, f"body does not contain {check.body_contains!r}")
