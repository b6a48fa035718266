"""The shared store: state several directors share through Redis or memcached.

``settings`` parses ``[store]``; ``backend`` is l7lb's own small interface over
aiocache (``SharedStore``, ``open_store``); ``sessions``, ``ticketkeys`` and
``stick`` keep TLS sessions, the ticket key ring and persistence entries in it.
See docs/store.md.
"""
