"""The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2), in and out.

A front proxy (HAProxy ``send-proxy-v2``, an L4 balancer) that relays a client's connection
to l7lb loses the client's address: l7lb sees the proxy's. The PROXY header, the first bytes
the proxy sends on the connection, carries it. l7lb reads it on VIPs with
``accept_proxy = true``, from the sources in ``proxy_trusted`` only, and writes one on
connections to servers with ``send_proxy = "v1"`` or ``"v2"``.

- ``header``: the decoded header and its parts (``ProxyHeader``, ``Tlv``, ``SslTlv``), and
  ``ProxyError`` with the reason a header is refused.
- ``v1``, ``v2``: the text and binary formats, decode and encode, sans-IO.
- ``reader``: ``read_header``: which format the first bytes are, and the header once whole.
- ``crc32c``: the checksum a v2 header may carry.
- ``trust``: ``TrustedSources``, the networks a VIP takes PROXY headers from.
- ``arrival``: ``Arrival``, what the accept path learned before HTTP (the addresses a header
  carried, the TLS server name), handed to the client connection's glue.
- ``outbound``: the header l7lb sends to a server (for a client, or for a health check).
- ``listener``: the accept gate of a plain-HTTP VIP that reads the header (asyncio glue;
  TLS VIPs read it in ``l7lb.tls.listener``'s gate, before the ClientHello).
"""
