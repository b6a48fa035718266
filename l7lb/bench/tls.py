"""The client SSLContext for each `--tls-resume` mode."""

from __future__ import annotations

import ssl

from .options import BenchOptions

VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def client_context(options: BenchOptions) -> ssl.SSLContext:
    """Verification, version pin and the resumption mechanism the user chose.

    `id` turns tickets off (SSL_OP_NO_TICKET), so a TLS 1.2 server can only resume through its
    session-ID cache. TLS 1.3 has no session IDs: there every resumption is a PSK the server
    issued in a NewSessionTicket, stateful or stateless as the server decides, and `id` and
    `ticket` behave the same on the client side."""
    ctx = ssl.create_default_context(cafile=options.cafile)
    if options.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if options.tls_version:
        ctx.minimum_version = ctx.maximum_version = VERSIONS[options.tls_version]
    if options.tls_resume == "id":
        ctx.options |= ssl.OP_NO_TICKET
    return ctx
