"""Metrics: the workers' counters, their snapshots, the supervisor's sum, /metrics.

``counters`` (on the data path: plain integers, compiled with the hot path), ``snapshot`` (a
worker's counters as one JSON-able object, sent to the supervisor), ``aggregate`` (the
supervisor's sum over its workers, kept across restarts and reloads) and ``exposition`` (the
Prometheus families, rendered with ``prometheus_client``). Nothing here imports
``prometheus_client`` but ``exposition``, which only the supervisor loads.
"""
