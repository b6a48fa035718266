"""``l7lb ipvs``: the L4 tier around l7lb, generated from the same TOML file.

``plan`` maps a ``Config`` with an ``[ipvs]`` section to plain values (IPVS
services, real servers, checks, VRRP); ``keepalived``, ``ipvsadm`` and
``sysctl`` render one plan three ways; ``command`` is the command line.
Everything but ``command`` is sans-IO: values in, text out. docs/lvs.md shows
the set-ups.
"""
