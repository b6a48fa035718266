"""TLS termination per VIP.

Pieces, each in the module named for it:

- ``settings``: ``[vip.tls]`` → ``TlsSettings`` (``parse_tls_table``).
- ``context``: ``build_vip_tls`` → ``VipTls`` (SSL contexts, SNI map, hooks).
- ``listener``: ``serve_tls`` (ClientHello gate, plain-HTTP 400, prefetch, handshake).
- ``stream``: ``TlsStream``, the TLS record pump between the socket and the application
  (``sslcalls``: its two calls that raise "want read" by design, kept interpreted).
- ``clienthello``: sans-IO ClientHello parser; ``looks_like_http``.
- ``shim``: ctypes into the stdlib's libssl (session cache, per-name session binding, ticket
  keys).
- ``sessions``: ``SessionCache`` LRU, ``SessionStore`` protocol, prefetch.
- ``session_server``: the supervisor's store for the workers of a director.
- ``ticketkeys``: the rotating ticket key ring.
- ``certinfo`` / ``check`` / ``certtool``: certificate facts, ``l7lb check``, ``l7lb certs``.
"""
