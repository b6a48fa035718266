"""Server health: active checks run once per director, passive failure tracking.

``target`` describes what to check, ``state`` is the sans-IO rise/fall state
machine, ``probe`` performs one check (TCP connect or HTTP request, optionally
over TLS), ``checker`` schedules probes and reports transitions, ``passive``
marks a server down after consecutive connect failures seen by the proxy.
"""
