"""l7lb: a Layer-7 reverse proxy and TLS terminator for LVS directors.

The modules on the per-request path may be compiled with mypyc (``tools/build_native.py``,
run by ``./dev``); see ``l7lb.native`` for when the compiled ones are used.
"""

from l7lb import native

native.install()
