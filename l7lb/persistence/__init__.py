"""Sans-IO persistence: keep a client on the realserver it started with.

One module per mechanism: ``cookie`` (signed insert-mode values and server
ids), ``setcookie`` (Set-Cookie building, Cookie parsing and editing),
``prefix`` (application-cookie prefixing), ``jsessionid`` (application session
ids and route suffixes) and ``table`` (stick tables and source-address keys).
Nothing here reads a clock or touches a socket: times are passed in.
See ``docs/persistence.md``.
"""
