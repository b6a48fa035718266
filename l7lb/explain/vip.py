"""Which VIP a client reaches: the URL's address and port against the listen addresses.

Offline there is no DNS: a host *name* in the URL matches by port (and by
scheme when several VIPs share the port); an IP literal must equal a listen
address or fall under a wildcard one (``0.0.0.0``, ``::``). ``--vip NAME``
settles any doubt.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from l7lb.config.model import Address, Config, Vip
from l7lb.explain.request import Destination


class VipError(ValueError):
    """No VIP, or more than one, fits; the message lists the candidates."""


@dataclass(frozen=True, slots=True)
class VipChoice:
    vip: Vip
    address: Address | None  # the listen address that matched (None: chosen by name)
    why: str


def _listens(vip: Vip) -> str:
    return ", ".join(str(a) for a in vip.listen)


def _covers(listen: Address, host: str) -> bool:
    """Does a socket bound to ``listen`` accept connections to the IP ``host``?"""
    if listen.host == host:
        return True
    try:
        bound = ipaddress.ip_address(listen.host)
        wanted = ipaddress.ip_address(host)
    except ValueError:
        return False
    return bound.is_unspecified and bound.version == wanted.version


def choose_vip(config: Config, dest: Destination | None, name: str | None) -> VipChoice:
    """The VIP for a request; VipError when none or several fit."""
    if name is not None:
        for vip in config.vips:
            if vip.name == name:
                return VipChoice(vip, None, f"chosen with --vip {name}")
        names = ", ".join(v.name for v in config.vips)
        raise VipError(f"no vip named {name!r} (the vips are: {names})")
    if dest is None:
        if len(config.vips) == 1:
            return VipChoice(config.vips[0], None, "the only vip of the configuration")
        raise VipError(
            "which vip does this request reach? Give --vip NAME (one of: "
            + ", ".join(v.name for v in config.vips)
            + ") or an absolute-form target (GET http://host:port/path HTTP/1.1)"
        )
    by_port = [(v, a) for v in config.vips for a in v.listen if a.port == dest.port]
    if dest.is_ip:
        hits = [(v, a) for v, a in by_port if _covers(a, dest.host)]
        why = f"{dest.host}:{dest.port} is a listen address"
    else:
        named = [(v, a) for v, a in by_port if a.host == dest.host]
        hits = named or by_port
        why = (
            f"{dest.host}:{dest.port} is a listen address"
            if named
            else f"port {dest.port} (no DNS offline: {dest.host} is not resolved)"
        )
    vips = list(dict.fromkeys(v.name for v, _ in hits))
    if len(vips) > 1:
        tls = dest.scheme == "https"
        same_scheme = [(v, a) for v, a in hits if (v.tls is not None) == tls]
        if len(dict.fromkeys(v.name for v, _ in same_scheme)) == 1:
            hits = same_scheme
            why += f" and scheme {dest.scheme}"
            vips = [hits[0][0].name]
    if not hits:
        listens = "; ".join(f"{v.name}: {_listens(v)}" for v in config.vips)
        raise VipError(
            f"no vip listens on {dest.host}:{dest.port} ({listens}); "
            "use the VIP's address in the URL, or --vip NAME"
        )
    if len(vips) > 1:
        raise VipError(
            f"{dest.host}:{dest.port} fits several vips ({', '.join(vips)}); choose with --vip NAME"
        )
    vip, address = hits[0]
    return VipChoice(vip, address, why)
