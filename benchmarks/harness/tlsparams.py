"""The TLS parameters every proxy under test is held to, and the check that it was.

Left to their defaults the three proxies do not do the same cryptographic work: l7lb prefers
AES-128-GCM and sends one TLS 1.3 ticket per full handshake, HAProxy and nginx follow OpenSSL
(AES-256-GCM first when the server's order wins, two tickets). So compare.py pins, for all of
them: one TLS 1.3 cipher suite, one TLS 1.2 cipher per certificate kind, one key-exchange group
and two tickets, and before the first measured run of each proxy in a TLS scenario asks
``openssl s_client`` what was really negotiated. A proxy that negotiates anything else fails
that scenario with the difference named, so a table never compares unlike handshakes.

Why these values:

- ``TLS_AES_128_GCM_SHA256``: the suite every TLS 1.3 implementation must have (RFC 8446
  section 9.1), the first choice of browsers on hardware with AES instructions, and l7lb's
  default preference.
- ECDHE with AES-128-GCM for TLS 1.2 (the session-ID scenario), the same AEAD; one cipher per
  certificate kind (only the one matching the certificate can be chosen).
- X25519: what every client here offers first (wrk, s_time, h2load, Python ``ssl``).
- Two tickets: OpenSSL's default, which HAProxy 2.6 documents no setting to change, so l7lb is
  raised to it (``[vip.tls] tickets_per_handshake = 2``) rather than the peers lowered.

l7lb has no key for the group. Python's ``ssl`` module applies OpenSSL's ``system_default``
configuration when it creates a context and never sets groups itself, so l7lb and the floor get
it from an ``OPENSSL_CONF`` file (``openssl_conf``) in their environment. Pure parts only: the
runner runs the commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.loadtools import OPENSSL

TLS13_SUITE = "TLS_AES_128_GCM_SHA256"
TLS12_CIPHER = {
    "ecdsa-p256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "rsa-2048": "ECDHE-RSA-AES128-GCM-SHA256",
}
# Every proxy gets the list of both: only the one matching its certificate can be chosen.
TLS12_CIPHERS = ":".join(TLS12_CIPHER.values())
GROUP = "X25519"
TICKETS = 2  # TLS 1.3 tickets after a full handshake (OpenSSL's default)

_CIPHER_RE = re.compile(r"^New, (TLSv[\d.]+|\(NONE\)), Cipher is (\S+)", re.M)
_GROUP_RE = re.compile(r"^(?:Server Temp Key|Negotiated TLS1\.3 group): ([^,\s]+)", re.M)
_ALPN_RE = re.compile(r"^ALPN protocol: (\S+)", re.M)
_TICKET = "Post-Handshake New Session Ticket arrived"


def openssl_conf() -> str:
    """An ``OPENSSL_CONF`` file pinning the key-exchange group (and, for a server that sets
    nothing itself, the TLS 1.3 suite and the ticket count) in every new SSL_CTX."""
    return f"""\
# benchmarks/harness/tlsparams.py: the group l7lb has no key for (and the floor's TLS 1.3 suite)
openssl_conf = openssl_init

[openssl_init]
ssl_conf = ssl_module

[ssl_module]
system_default = system_default_sect

[system_default_sect]
Groups = {GROUP}
Ciphersuites = {TLS13_SUITE}
NumTickets = {TICKETS}
"""


@dataclass(frozen=True)
class Negotiated:
    """What one ``openssl s_client`` connection reports."""

    protocol: str  # "TLSv1.3", "TLSv1.2", or "(NONE)" when the handshake failed
    cipher: str
    group: str  # "" when s_client printed none
    tickets: int  # TLS 1.3 tickets that arrived after the handshake
    alpn: str  # "" when none was selected

    def describe(self) -> str:
        text = f"{self.protocol} {self.cipher} {self.group or 'no group'}"
        if self.protocol == "TLSv1.3":
            text += f", {self.tickets} ticket{'s' if self.tickets != 1 else ''}"
        if self.alpn:
            text += f", ALPN {self.alpn}"
        return text


class ProbeError(ValueError):
    """s_client printed no handshake summary: the probe itself did not run."""


def s_client_command(host_port: str, version: str, alpn: str = "") -> list[str]:
    """One TLS ``version`` ("1.2" or "1.3") connection that sends ``GET / HTTP/1.0`` (fed on
    stdin) and reads until the server closes, so TLS 1.3 tickets sent after the handshake are
    counted."""
    argv = [OPENSSL, "s_client", "-connect", host_port, "-servername", "localhost"]
    argv += ["-tls1_3" if version == "1.3" else "-tls1_2", "-ign_eof"]
    if alpn:
        argv += ["-alpn", alpn]
    return argv


PROBE_REQUEST = b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"


def parse_s_client(text: str) -> Negotiated:
    m = _CIPHER_RE.search(text)
    if m is None:
        raise ProbeError(f"no 'New, ..., Cipher is' line in s_client output: {text[-300:]!r}")
    group = _GROUP_RE.search(text)
    alpn = _ALPN_RE.search(text)
    return Negotiated(
        protocol=m.group(1),
        cipher=m.group(2),
        group=group.group(1) if group else "",
        tickets=text.count(_TICKET),
        alpn=alpn.group(1) if alpn else "",
    )


def expected_cipher(version: str, certificate: str) -> str:
    return TLS13_SUITE if version == "1.3" else TLS12_CIPHER[certificate]


def mismatches(seen: Negotiated, version: str, certificate: str, alpn: str = "") -> list[str]:
    """How ``seen`` differs from the pinned parameters; empty when it is what compare.py pins.
    ``alpn``: the protocol the scenario needs selected ("h2"), or "" to ignore ALPN."""
    want_protocol = f"TLSv{version}"
    if seen.protocol != want_protocol:
        return [f"TLS {version} handshake failed or gave {seen.protocol}"]
    out = []
    cipher = expected_cipher(version, certificate)
    if seen.cipher != cipher:
        out.append(f"cipher {seen.cipher}, pinned {cipher}")
    if seen.group != GROUP:
        out.append(f"group {seen.group or 'none'}, pinned {GROUP}")
    if version == "1.3" and seen.tickets != TICKETS:
        out.append(f"{seen.tickets} TLS 1.3 tickets, pinned {TICKETS}")
    if alpn and seen.alpn != alpn:
        out.append(f"ALPN {seen.alpn or 'none'} selected, {alpn} needed")
    return out
