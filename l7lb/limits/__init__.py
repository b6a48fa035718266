"""Limits per client address (``[vip.limits]``), sans-IO.

* ``window``: requests in a sliding window, from two fixed windows (the estimate and the
  Retry-After it implies);
* ``source``: a client's address under the VIP's masks, as the key everything is counted by;
* ``deltas``: ``SourceDelta``, what workers, the supervisor and the store exchange;
* ``table``: a worker's counters for one VIP: concurrent connections, request rate, bounded
  in memory (the engine asks it; the glue refuses connections, the exchange answers 429);
* ``board``: the supervisor's sum of its workers' counters (and other directors' through
  the store), what it relays to the workers, and ``show limits``' top talkers.

The per-request path reads ``table`` only; everything else runs a few times a second.
"""
