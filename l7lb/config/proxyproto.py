"""The PROXY protocol keys: ``accept_proxy`` and ``proxy_trusted`` of a ``[[vip]]``,
``send_proxy`` of a ``[pool.<name>]`` or a ``[[pool.<name>.server]]``.

Like ``parse_admin_table``, the functions here return ``(path, message, hint)`` issues for
``l7lb.config.load`` to merge with its own.

The rule that matters: whoever may send a PROXY header may claim any client address, and
with it any persistence key, any per-client limit and any ``source`` route. So a VIP that
accepts the header must say whom it takes it from; trusting everyone has to be written out
(``"0.0.0.0/0"``), never a default.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from l7lb.config.ipvs import IpvsSettings
from l7lb.config.model import IPNetwork, Vip

Issue = tuple[str, str, str]  # (key path, what is wrong, how to fix it)

VIP_KEYS = ("accept_proxy", "proxy_trusted")
SEND_PROXY = ("none", "v1", "v2")
_TRUSTED_HINT = (
    'list the front proxies\' addresses, e.g. proxy_trusted = ["10.0.0.0/8"]; '
    'to trust every peer write ["0.0.0.0/0", "::/0"] (only when nothing else can reach '
    "this address)"
)


def _at(where: str, key: str) -> str:
    return f"{where} {key}"


def parse_vip_proxy(
    table: dict[str, Any], where: str
) -> tuple[bool, tuple[IPNetwork, ...], list[Issue]]:
    """``accept_proxy`` and ``proxy_trusted`` of one ``[[vip]]`` (``where``: its path)."""
    issues: list[Issue] = []
    accept = table.get("accept_proxy", False)
    if not isinstance(accept, bool):
        issues.append((_at(where, "accept_proxy"), "expected true or false", "accept_proxy = true"))
        accept = False
    networks: list[IPNetwork] = []
    if "proxy_trusted" in table:
        networks = _networks(table["proxy_trusted"], _at(where, "proxy_trusted"), issues)
        if table.get("accept_proxy", False) is False:
            issues.append(
                (
                    _at(where, "proxy_trusted"),
                    "only applies with accept_proxy = true",
                    "set accept_proxy = true, or remove proxy_trusted",
                )
            )
    elif accept:
        issues.append(
            (
                _at(where, "accept_proxy"),
                "true without proxy_trusted: any client could send a PROXY header "
                "and claim any address",
                _TRUSTED_HINT,
            )
        )
    return accept, tuple(networks), issues


def _networks(value: object, path: str, issues: list[Issue]) -> list[IPNetwork]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        issues.append((path, "expected a string or an array of strings", _TRUSTED_HINT))
        return []
    if not items:
        issues.append((path, "is an empty list: no peer could connect", _TRUSTED_HINT))
        return []
    networks: list[IPNetwork] = []
    for number, text in enumerate(items, 1):
        where = f"{path} entry {number}" if len(items) > 1 else path
        try:
            networks.append(ipaddress.ip_network(text.strip()))
        except ValueError as exc:
            hint = 'write a CIDR such as "10.0.0.0/8" or one address "192.0.2.7"'
            try:
                fixed = ipaddress.ip_network(text.strip(), strict=False)
                hint = f'host bits are set: did you mean "{fixed}"?'
            except ValueError:
                pass
            issues.append((where, f"{text!r} is not a network: {exc}", hint))
    return networks


def parse_send_proxy(table: dict[str, Any], where: str, default: str) -> tuple[str, list[Issue]]:
    """``send_proxy`` of a pool or a server: ``"v1"``, ``"v2"``, or ``""`` for none
    (written ``"none"``; a server without the key takes its pool's, ``default``)."""
    if "send_proxy" not in table:
        return default, []
    value = table["send_proxy"]
    path = _at(where, "send_proxy")
    if isinstance(value, bool):
        hint = 'write send_proxy = "v2" (or "v1" for receivers that only read the text form)'
        return default, [(path, f"expected a string, got {str(value).lower()}", hint)]
    if value not in SEND_PROXY:
        shown = repr(value) if isinstance(value, str) else f"a {type(value).__name__}"
        return default, [
            (path, f"{shown} is not a PROXY protocol version", 'one of "none", "v1", "v2"')
        ]
    return ("" if value == "none" else value), []


def ipvs_conflicts(vips: tuple[Vip, ...] | list[Vip], ipvs: object) -> list[Issue]:
    """A VIP that IPVS feeds (``[ipvs]`` with directors) gets its clients' own connections,
    which carry no PROXY header (IPVS routes packets, it opens no connection): with
    ``accept_proxy`` every one of them would be refused."""
    if not isinstance(ipvs, IpvsSettings) or not ipvs.directors:
        return []
    fed = {endpoint.vip for endpoint in ipvs.endpoints}
    return [
        (
            _at(f'vip "{vip.name}"', "accept_proxy"),
            "IPVS ([ipvs] directors) hands this VIP the clients' own connections, which carry "
            "no PROXY header: every one would be refused",
            "remove accept_proxy (IPVS keeps the client's address), "
            "or leave this VIP out of [ipvs] vips",
        )
        for vip in vips
        if vip.accept_proxy and vip.name in fed
    ]
