"""The ``[ipvs]`` section: how the L4 tier (IPVS and keepalived) sits around l7lb.

``l7lb run`` never reads it; ``l7lb ipvs`` turns it, with the VIPs and pools
of the same file, into keepalived.conf, ipvsadm-restore lines and the host
settings LVS-DR needs (``l7lb.ipvs``). It is parsed here, once, like every
other section, so ``l7lb check`` finds its mistakes and the generator only
renders values that are already known to be good.

``parse_ipvs_table`` returns ``(path, message, hint)`` issues for
``l7lb.config.load`` to merge with its own, like ``parse_store_table``. It
needs the VIPs and pools already built: the IPVS virtual services are the
VIPs' listen addresses, and a local IPVS VIP must be a server of some pool.

What is refused here, and why:

- IPv6. keepalived runs one VRRP instance per address family and LVS-DR over
  IPv6 needs other host settings; l7lb does not generate them (yet), so an
  IPv6 VIP, director or address is a config error, not half a configuration.
- A VIP listening on a loopback address or a host name: IPVS announces an IP.
- ``method = "NAT"`` with a VIP that listens on the VIP address itself: NAT
  rewrites the destination to the director's own address, which that socket
  never sees.
- Bundled ports that would not keep a client on one director: a fwmark
  service without persistence (and not ``sh``/``mh``), or a group not
  scheduled by ``sh``/``mh`` (IPVS schedules each group member alone).
- Anything keepalived's tokenizer would split or read as a comment.
"""

from __future__ import annotations

import difflib
import enum
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from l7lb.config.address import is_loopback
from l7lb.config.durations import DurationError, format_duration, parse_duration
from l7lb.config.model import Address, Pool, Vip
from l7lb.config.words import show as _show
from l7lb.config.words import toml_type as _kind

Issue = tuple[str, str, str]  # (key path, what is wrong, how to fix it)


class IpvsScheduler(enum.Enum):
    """IPVS schedulers l7lb generates (``lvs_sched`` / ``ipvsadm -s``)."""

    RR = "rr"
    WRR = "wrr"
    LC = "lc"
    WLC = "wlc"
    SH = "sh"  # source hash: a client stays on one director while the set is stable
    MH = "mh"  # maglev hash (Linux 4.18): like sh, and moves few clients on a change

    @property
    def hashes_source(self) -> bool:
        return self in (IpvsScheduler.SH, IpvsScheduler.MH)


class IpvsMethod(enum.Enum):
    """Forwarding methods (``lvs_method`` / ``ipvsadm -g|-m``)."""

    DR = "DR"  # direct routing: the director answers the client itself
    NAT = "NAT"  # masquerading: replies go back through the IPVS director


class Bundle(enum.Enum):
    """How the ports of one VIP address become IPVS services."""

    NONE = "none"  # one virtual_server per address and port
    FWMARK = "fwmark"  # one firewall-mark service per address (iptables marks the ports)
    GROUP = "group"  # one virtual_server_group per address (keepalived)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One address and port IPVS announces, and the l7lb VIP listening behind it."""

    address: str  # IPv4 literal
    port: int
    vip: str  # the [[vip]] name


@dataclass(frozen=True, slots=True)
class DirectorCheck:
    """keepalived's HTTP_GET (or SSL_GET) of l7lb's health endpoint on each director."""

    port: int  # must match the port of [admin] listen
    path: str = "/healthz"
    tls: bool = False
    interval: float = 2.0  # delay_loop
    timeout: float = 2.0  # connect_timeout
    retries: int = 1  # retry: more attempts before a director counts as down


@dataclass(frozen=True, slots=True)
class Vrrp:
    """``[ipvs.vrrp]``: the VRRP instance that moves the VIPs between IPVS directors."""

    interface: str
    virtual_router_id: int
    priority: int = 100
    # per-host priorities, written as keepalived "@host priority N" lines
    nodes: tuple[tuple[str, int], ...] = ()
    advert_int: float = 1.0
    nopreempt: bool = True
    track_process: str = ""  # "" = do not track l7lb (it does not run on these hosts)


@dataclass(frozen=True, slots=True)
class LocalVip:
    """``[[ipvs.local_vip]]``: an IPVS VIP on the director that a pool of l7lb
    sends to ("SSL termination at localnode", LVS-HOWTO 20.27)."""

    address: str
    port: int
    realservers: tuple[tuple[str, int], ...]  # (IPv4, port)
    scheduler: IpvsScheduler
    method: IpvsMethod
    pool: str  # the pool with a server at address:port; its [health] checks the realservers


@dataclass(frozen=True, slots=True)
class IpvsSettings:
    endpoints: tuple[Endpoint, ...]  # the chosen VIPs' addresses and ports, in config order
    directors: tuple[str, ...] = ()  # IPv4 literals; a loopback one is this host (localnode)
    vip_addresses: tuple[str, ...] = ()  # every address VRRP moves, in config order
    scheduler: IpvsScheduler = IpvsScheduler.WLC
    method: IpvsMethod = IpvsMethod.DR
    bundle: Bundle = Bundle.NONE
    fwmark: int = 1  # the first mark; one per bundled address
    persistence_timeout: int = 0  # seconds; 0 = off
    check: DirectorCheck | None = None  # None when there are no directors
    vrrp: Vrrp | None = None
    local_vips: tuple[LocalVip, ...] = ()

    @property
    def local_l7lb(self) -> bool:
        """Whether l7lb runs on the IPVS director itself (no directors, or a loopback one)."""
        return not self.directors or any(_is_loopback(d) for d in self.directors)


IPVS_KEYS = (
    "directors",
    "vips",
    "addresses",
    "scheduler",
    "method",
    "bundle",
    "fwmark",
    "persistence_timeout",
    "health_port",
    "health_path",
    "health_tls",
    "health_interval",
    "health_timeout",
    "health_retries",
    "vrrp",
    "local_vip",
)
VRRP_KEYS = (
    "interface",
    "virtual_router_id",
    "priority",
    "nodes",
    "advert_int",
    "nopreempt",
    "track_process",
)
LOCAL_VIP_KEYS = ("address", "realservers", "scheduler", "method")
_HEALTH_KEYS = tuple(k for k in IPVS_KEYS if k.startswith("health_"))

_IFNAME = re.compile(r"[A-Za-z0-9_.:@-]{1,15}")  # Linux IFNAMSIZ - 1
_NODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_COMM = re.compile(r"[A-Za-z0-9_.+:-]{1,15}")  # /proc/PID/comm holds 15 characters
# keepalived splits on white space, reads "#" and "!" as comments and "{" "}" as blocks
_KEEPALIVED_WORD = re.compile(r"[^\s#!{}\"']+")
ADMIN_HINT = "the port of [admin] listen on each director, where l7lb answers /healthz"


def _join(path: str, part: str) -> str:
    return f"{path} {part}"


def _is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address).is_loopback


class _Reader:
    """Typed reads from one raw table; each problem becomes an issue and the
    default is returned, so the walk goes on and finds the next one."""

    def __init__(
        self, raw: dict[str, Any], path: str, keys: Sequence[str], issues: list[Issue]
    ) -> None:
        self.raw = raw
        self.path = path
        self.issues = issues
        for key in raw:
            if key not in keys:
                close = difflib.get_close_matches(key, list(keys), n=1, cutoff=0.6)
                hint = f'did you mean "{close[0]}"?' if close else "keys allowed here: "
                if not close:
                    hint += ", ".join(keys)
                self.error(key, "unknown key", hint)

    def at(self, key: str) -> str:
        return _join(self.path, key)

    def has(self, key: str) -> bool:
        return key in self.raw

    def error(self, key: str, message: str, hint: str = "") -> None:
        self.issues.append((self.at(key), message, hint))

    def string(self, key: str, default: str) -> str:
        value = self.raw.get(key, default)
        if not isinstance(value, str):
            self.error(key, f"expected a string, got {_kind(value)} ({_show(value)})")
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            self.error(key, f"expected true or false, got {_kind(value)} ({_show(value)})")
            return default
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.raw.get(key, default)
        if isinstance(value, str) and value.strip().isdigit():
            hint = f"remove the quotes: {key} = {value.strip()}"
            self.error(key, f"expected an integer, got a string ({_show(value)})", hint)
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(key, f"expected an integer, got {_kind(value)} ({_show(value)})")
            return default
        if not low <= value <= high:
            self.error(key, f"{value} is out of range", f"use an integer from {low} to {high}")
            return default
        return value

    def seconds(self, key: str, default: float, low: float, high: float, whole: bool) -> float:
        """A duration from ``low`` to ``high`` seconds (``whole``: no fractions)."""
        if key not in self.raw:
            return default
        try:
            value = parse_duration(self.raw[key])
        except DurationError as exc:
            self.error(key, exc.message, exc.hint)
            return default
        if whole and value != int(value):
            hint = f'e.g. {key} = "{max(1, round(value))}s"'
            self.error(key, f"{format_duration(value)} is not a whole number of seconds", hint)
            return default
        if not low <= value <= high:
            span = f"{format_duration(low)} to {format_duration(high)}"
            self.error(key, f"{format_duration(value)} is out of range", f"use {span}")
            return default
        return value

    def choice(self, key: str, default: str, choices: Sequence[str], fold: bool = False) -> str:
        value = self.string(key, default)
        folded = value.upper() if fold else value
        if folded in choices:
            return folded
        close = difflib.get_close_matches(folded, list(choices), n=1, cutoff=0.5)
        listed = "one of " + ", ".join(f'"{c}"' for c in choices)
        hint = f'did you mean "{close[0]}"? ({listed})' if close else listed
        self.error(key, f"unknown value {_show(value)}", hint)
        return default

    def strings(self, key: str) -> list[tuple[int, str]]:
        """An array of strings, numbered from 1 for key paths (``directors 2``)."""
        value = self.raw.get(key, [])
        if isinstance(value, str):
            self.error(key, "expected an array of strings", f"write {key} = [{_show(value)}]")
            return []
        if not isinstance(value, list):
            self.error(key, f"expected an array of strings, got {_kind(value)}")
            return []
        out: list[tuple[int, str]] = []
        for number, item in enumerate(value, 1):
            if isinstance(item, str):
                out.append((number, item))
            else:
                self.error(f"{key} {number}", f"expected a string, got {_kind(item)}")
        return out


def _ipv4(text: str, where: str, issues: list[Issue], what: str) -> str | None:
    """An IPv4 literal, normalised; IPv6, ports and names are refused with a hint."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        if re.fullmatch(r"[0-9.]+:\d+", text.strip()):
            hint = f"write the address only ({text.split(':')[0]}): the port is the VIP's port"
            issues.append((where, f"{_show(text)}: {what} takes no port", hint))
        else:
            hint = "keepalived and ipvsadm need IP addresses, e.g. 10.0.0.11"
            issues.append((where, f"{_show(text)} is not an IPv4 address", hint))
        return None
    if address.version == 6:
        issues.append((where, f"{_show(text)}: IPv6 is not generated", _IPV6_HINT))
        return None
    if address.is_unspecified or address.is_multicast:
        issues.append((where, f"{_show(text)} cannot be {what}", "give a unicast address"))
        return None
    return str(address)


_IPV6_HINT = (
    "l7lb ipvs writes IPv4 only; leave IPv6 VIPs out of [ipvs] vips and write their "
    "IPVS rules by hand"
)


def _host_port(text: str, where: str, issues: list[Issue], what: str) -> tuple[str, int] | None:
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        issues.append((where, f"{_show(text)}: {what} needs a port", 'write "10.0.6.1:80"'))
        return None
    address = _ipv4(host, where, issues, what) if ":" not in host else None
    if ":" in host:
        issues.append((where, f"{_show(text)}: IPv6 is not generated", _IPV6_HINT))
    return (address, int(port_text)) if address is not None else None


def parse_ipvs_table(
    value: object,
    vips: Sequence[Vip],
    pools: Mapping[str, Pool],
    where: str = "ipvs",
    admin: Address | None = None,
) -> tuple[IpvsSettings | None, list[Issue]]:
    """Build ``IpvsSettings`` from ``[ipvs]``; ``(None, issues)`` when anything is wrong.
    ``admin``: ``[admin] listen``, whose port ``health_port`` defaults to when the other
    directors can reach it."""
    issues: list[Issue] = []
    if not isinstance(value, dict):
        hint = 'write [ipvs] with directors = ["10.0.0.11", "10.0.0.12"]'
        return None, [(where, f"expected a table, got {_kind(value)}", hint)]
    raw = _Reader(value, where, IPVS_KEYS, issues)

    directors = _directors(raw, issues)
    scheduler = IpvsScheduler(raw.choice("scheduler", "wlc", [s.value for s in IpvsScheduler]))
    method = IpvsMethod(raw.choice("method", "DR", [m.value for m in IpvsMethod], fold=True))
    bundle = Bundle(raw.choice("bundle", "none", [b.value for b in Bundle]))
    fwmark = raw.integer("fwmark", 1, 1, 0x7FFFFFFF)
    persistence = int(raw.seconds("persistence_timeout", 0, 0, 30 * 86400, whole=True))
    endpoints = _endpoints(raw, vips, issues)

    check: DirectorCheck | None = None
    if directors:
        check = _director_check(raw, admin)
    else:
        for key in ("bundle", "fwmark", "persistence_timeout", *_HEALTH_KEYS):
            if raw.has(key):
                raw.error(
                    key,
                    "only applies with directors (IPVS in front of l7lb)",
                    "list the l7lb directors in [ipvs] directors, or remove it",
                )
    if raw.has("fwmark") and bundle is not Bundle.FWMARK and directors:
        raw.error("fwmark", 'only applies to bundle = "fwmark"', "remove fwmark")
    if directors and bundle is Bundle.FWMARK and not persistence and not scheduler.hashes_source:
        raw.error(
            "bundle",
            f'a fwmark service scheduled by "{scheduler.value}" without persistence_timeout '
            "sends each connection of a client to any director",
            'set persistence_timeout (e.g. "5m"), or scheduler = "sh" or "mh"',
        )
    if directors and bundle is Bundle.GROUP and not scheduler.hashes_source:
        raw.error(
            "bundle",
            f'IPVS schedules each member of a group alone: "{scheduler.value}" sends a '
            "client's :80 and :443 connections to different directors",
            'use scheduler = "sh" or "mh" with a group, or bundle = "fwmark" with '
            "persistence_timeout",
        )
    if directors and method is IpvsMethod.NAT:
        _nat_listens(raw, endpoints, directors, vips, issues)
    if directors and not endpoints:
        raw.error("vips", "no VIP address for IPVS to announce", "list a [[vip]] in vips")

    local_vips = _local_vips(raw, scheduler, pools, issues)
    _local_vips_apart(raw, local_vips, vips, issues)
    vrrp = None
    vrrp_table = raw.raw.get("vrrp")
    if vrrp_table is not None:
        local = not directors or any(_is_loopback(d) for d in directors)
        vrrp = _vrrp(vrrp_table, raw.at("vrrp"), local, issues)

    addresses: list[str] = []
    for address in [e.address for e in endpoints] + [v.address for v in local_vips]:
        if address not in addresses:
            addresses.append(address)
    if not (directors or local_vips or vrrp_table is not None) and not issues:
        issues.append(
            (
                where,
                "gives l7lb ipvs nothing to write",
                "list the l7lb hosts in directors, add [ipvs.vrrp] to move the VIPs, "
                "or a [[ipvs.local_vip]]",
            )
        )
    elif vrrp_table is not None and not addresses:
        raw.error("vrrp", "has no VIP address to move", "list a [[vip]] in [ipvs] vips")
    if issues:
        return None, issues
    return (
        IpvsSettings(
            endpoints=tuple(endpoints),
            directors=tuple(directors),
            vip_addresses=tuple(addresses),
            scheduler=scheduler,
            method=method,
            bundle=bundle,
            fwmark=fwmark,
            persistence_timeout=persistence,
            check=check,
            vrrp=vrrp,
            local_vips=tuple(local_vips),
        ),
        [],
    )


def _directors(raw: _Reader, issues: list[Issue]) -> list[str]:
    directors: list[str] = []
    numbers: dict[str, int] = {}  # address -> its position in the array, for messages
    loopback = 0
    for number, text in raw.strings("directors"):
        where = raw.at(f"directors {number}")
        address = _ipv4(text, where, issues, "a director")
        if address is None:
            continue
        if address in numbers:
            hint = "list each director once"
            issues.append((where, f"{address} is already director {numbers[address]}", hint))
            continue
        numbers[address] = number
        if _is_loopback(address):
            if loopback:
                hint = "one loopback entry stands for the l7lb on the IPVS director itself"
                issues.append((where, f"{address}: director {loopback} is loopback too", hint))
                continue
            loopback = number
        directors.append(address)
    return directors


def _endpoints(raw: _Reader, vips: Sequence[Vip], issues: list[Issue]) -> list[Endpoint]:
    """The VIP addresses and ports IPVS announces: every listen address of the
    chosen VIPs, a wildcard one once per address of ``addresses``."""
    names = [vip.name for vip in vips]
    chosen: list[Vip] = list(vips)
    if raw.has("vips"):
        chosen = []
        for number, name in raw.strings("vips"):
            if name not in names:
                close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
                hint = f'did you mean "{close[0]}"?' if close else "vips: " + ", ".join(names)
                raw.error(f"vips {number}", f"no vip named {_show(name)}", hint)
            elif any(vip.name == name for vip in chosen):
                raw.error(f"vips {number}", f"{_show(name)} is listed twice", "list it once")
            else:
                chosen.append(vips[names.index(name)])
    addresses: list[str] = []
    for number, text in raw.strings("addresses"):
        address = _ipv4(text, raw.at(f"addresses {number}"), issues, "a VIP")
        if address is not None and not _is_loopback(address) and address not in addresses:
            addresses.append(address)
        elif address is not None and _is_loopback(address):
            raw.error(f"addresses {number}", f"{address} is a loopback address", "give the VIP")
    endpoints: list[Endpoint] = []
    used_wildcard = False
    for vip in chosen:
        for number, listen in enumerate(vip.listen, 1):
            where = f'vip "{vip.name}" listen {number}'
            hosts: list[str] = []
            try:
                ip = ipaddress.ip_address(listen.host)
            except ValueError:
                issues.append(
                    (
                        where,
                        f"{listen}: IPVS needs the VIP's IP address, not a host name",
                        f"listen on the VIP, or leave {_show(vip.name)} out of [ipvs] vips",
                    )
                )
                continue
            if ip.version == 6:
                issues.append((where, f"{listen}: IPv6 is not generated", _IPV6_HINT))
                continue
            if ip.is_loopback:
                issues.append(
                    (
                        where,
                        f"{listen} is a loopback address: IPVS cannot announce it",
                        f"listen on the VIP, or leave {_show(vip.name)} out of [ipvs] vips",
                    )
                )
                continue
            if ip.is_unspecified:
                used_wildcard = True
                if not addresses:
                    issues.append(
                        (
                            where,
                            f"{listen} listens on every address: which one is the VIP?",
                            'give the VIP addresses in [ipvs] addresses = ["192.0.2.10"]',
                        )
                    )
                hosts = addresses
            else:
                hosts = [str(ip)]
            for host in hosts:
                endpoint = Endpoint(host, listen.port, vip.name)
                if all((e.address, e.port) != (host, listen.port) for e in endpoints):
                    endpoints.append(endpoint)
    if addresses and not used_wildcard:
        raw.error(
            "addresses",
            "no chosen VIP listens on a wildcard address (0.0.0.0:PORT)",
            "remove addresses: the VIPs' own listen addresses are announced",
        )
    return endpoints


def _nat_listens(
    raw: _Reader,
    endpoints: Sequence[Endpoint],
    directors: Sequence[str],
    vips: Sequence[Vip],
    issues: list[Issue],
) -> None:
    """With NAT a remote director receives its own address as destination."""
    if all(_is_loopback(d) for d in directors):
        return
    by_name = {vip.name: vip for vip in vips}
    reported: set[str] = set()
    for endpoint in endpoints:
        vip = by_name[endpoint.vip]
        if endpoint.vip in reported:
            continue
        for number, listen in enumerate(vip.listen, 1):
            if listen.host == endpoint.address and listen.port == endpoint.port:
                reported.add(endpoint.vip)
                issues.append(
                    (
                        f'vip "{vip.name}" listen {number}',
                        f'with [ipvs] method = "NAT" IPVS sends {listen} to each director\'s '
                        "own address, which this socket does not receive",
                        f'listen on "0.0.0.0:{listen.port}" and give [ipvs] addresses = '
                        f'["{listen.host}"], or use method = "DR"',
                    )
                )
                break


def _director_check(raw: _Reader, admin: Address | None) -> DirectorCheck:
    base = DirectorCheck(port=0)
    if raw.has("health_port"):
        port = raw.integer("health_port", 0, 1, 65535)
    elif admin is not None and not is_loopback(admin):
        port = admin.port  # where l7lb answers /healthz on every director
    else:
        port = 0
        if admin is None:
            raw.error("health_port", "is required with directors", ADMIN_HINT)
        else:
            raw.error(
                "health_port",
                f"is required with directors: [admin] listen {admin} is loopback, which "
                "keepalived on the other directors cannot reach",
                f'listen on "0.0.0.0:{admin.port}" (with a token_file) and leave health_port '
                "out, or set health_port to a port the directors can reach",
            )
    path = raw.string("health_path", base.path)
    if not path.startswith("/") or _KEEPALIVED_WORD.fullmatch(path) is None:
        raw.error(
            "health_path",
            f"{_show(path)} is not a request path keepalived can send",
            'e.g. "/healthz" (no spaces, quotes, #, !, { or })',
        )
        path = base.path
    return DirectorCheck(
        port=port,
        path=path,
        tls=raw.boolean("health_tls", base.tls),
        interval=raw.seconds("health_interval", base.interval, 0.1, 3600, whole=False),
        timeout=raw.seconds("health_timeout", base.timeout, 0.1, 600, whole=False),
        retries=raw.integer("health_retries", base.retries, 0, 10),
    )


def _vrrp(value: object, path: str, local: bool, issues: list[Issue]) -> Vrrp | None:
    if not isinstance(value, dict):
        issues.append((path, f"expected a table, got {_kind(value)}", "write [ipvs.vrrp]"))
        return None
    raw = _Reader(value, path, VRRP_KEYS, issues)
    for key, hint in (
        ("interface", 'the interface that carries the VIPs, e.g. interface = "eth0"'),
        (
            "virtual_router_id",
            "a number from 1 to 255, different from every other VRRP router on this LAN",
        ),
    ):
        if not raw.has(key):
            raw.error(key, "is required", hint)
    interface = raw.string("interface", "")
    if raw.has("interface") and _IFNAME.fullmatch(interface) is None:
        raw.error("interface", f"{_show(interface)} is not an interface name", 'e.g. "eth0"')
    router_id = raw.integer("virtual_router_id", 1, 1, 255)
    priority = raw.integer("priority", 100, 1, 254)
    nodes: list[tuple[str, int]] = []
    table = raw.raw.get("nodes", {})
    if not isinstance(table, dict):
        raw.error("nodes", f"expected a table, got {_kind(table)}", "nodes = { lvs1 = 150 }")
        table = {}
    for name, node_priority in table.items():
        where = _join(raw.at("nodes"), _show(name))
        if _NODE.fullmatch(name) is None:
            issues.append((where, f"{_show(name)} is not a host name", "e.g. lvs1"))
        elif isinstance(node_priority, bool) or not isinstance(node_priority, int):
            issues.append((where, f"expected an integer, got {_kind(node_priority)}", ""))
        elif not 1 <= node_priority <= 254:
            issues.append((where, f"{node_priority} is out of range", "use 1 to 254"))
        else:
            nodes.append((name, node_priority))
    priorities = [p for _, p in nodes]
    if len(set(priorities)) != len(priorities):
        raw.error(
            "nodes",
            "two hosts have the same priority",
            "give each host its own priority, e.g. 150 and 100",
        )
    track = raw.string("track_process", "l7lb" if local else "")
    if track and _COMM.fullmatch(track) is None:
        raw.error(
            "track_process",
            f"{_show(track)} is not a process name",
            'the name in /proc/PID/comm (at most 15 characters), e.g. "l7lb"',
        )
    return Vrrp(
        interface=interface,
        virtual_router_id=router_id,
        priority=priority,
        nodes=tuple(nodes),
        advert_int=raw.seconds("advert_int", 1.0, 1, 255, whole=True),
        nopreempt=raw.boolean("nopreempt", True),
        track_process=track,
    )


def _local_vips(
    raw: _Reader, scheduler: IpvsScheduler, pools: Mapping[str, Pool], issues: list[Issue]
) -> list[LocalVip]:
    value = raw.raw.get("local_vip", [])
    if not isinstance(value, list):
        raw.error("local_vip", f"expected an array of tables, got {_kind(value)}", _LOCAL_HINT)
        return []
    out: list[LocalVip] = []
    seen: dict[tuple[str, int], int] = {}
    for number, item in enumerate(value, 1):
        path = raw.at(f"local_vip {number}")
        if not isinstance(item, dict):
            issues.append((path, f"expected a table, got {_kind(item)}", _LOCAL_HINT))
            continue
        entry = _Reader(item, path, LOCAL_VIP_KEYS, issues)
        choices = [s.value for s in IpvsScheduler]
        sched = IpvsScheduler(entry.choice("scheduler", scheduler.value, choices))
        method = IpvsMethod(entry.choice("method", "NAT", [m.value for m in IpvsMethod], True))
        where = entry.at("address")
        if not entry.has("address"):
            entry.error("address", "is required", 'the local IPVS VIP, e.g. "192.0.2.60:80"')
            continue
        address = _host_port(entry.string("address", ""), where, issues, "a local VIP")
        realservers = _realservers(entry, address[1] if address else 0, method, issues)
        if address is None:
            continue
        if address in seen:
            message = f"{address[0]}:{address[1]} is already local_vip {seen[address]}"
            issues.append((where, message, "list each local VIP once"))
            continue
        seen[address] = number
        pool = _pool_of(address, pools)
        if pool is None:
            issues.append(
                (
                    where,
                    f"no pool has a server at {address[0]}:{address[1]}, so l7lb never "
                    "sends to this IPVS VIP",
                    f'add a server with address = "{address[0]}:{address[1]}" to the pool '
                    "that should go through IPVS",
                )
            )
            continue
        _check_pool_health(pool, issues)
        out.append(LocalVip(address[0], address[1], tuple(realservers), sched, method, pool.name))
    return out


def _local_vips_apart(
    raw: _Reader, local_vips: Sequence[LocalVip], vips: Sequence[Vip], issues: list[Issue]
) -> None:
    """IPVS takes every packet to a local VIP's address and port, before any socket
    sees it: l7lb must not listen there, or IPVS would take l7lb's own clients."""
    for number, local in enumerate(local_vips, 1):
        for vip in vips:
            if any((a.host, a.port) == (local.address, local.port) for a in vip.listen):
                issues.append(
                    (
                        raw.at(f"local_vip {number} address"),
                        f'{local.address}:{local.port} is where vip "{vip.name}" listens: '
                        "IPVS would take its connections",
                        "give the local IPVS VIP another address or port",
                    )
                )


_LOCAL_HINT = 'write [[ipvs.local_vip]] with address = "192.0.2.60:80" and realservers'


def _realservers(
    entry: _Reader, port: int, method: IpvsMethod, issues: list[Issue]
) -> list[tuple[str, int]]:
    """``"10.0.6.11"`` (the VIP's port) or ``"10.0.6.11:8080"`` (NAT only)."""
    if not entry.has("realservers"):
        entry.error("realservers", "is required", 'e.g. realservers = ["10.0.6.11", "10.0.6.12"]')
        return []
    out: list[tuple[str, int]] = []
    for number, text in entry.strings("realservers"):
        where = entry.at(f"realservers {number}")
        if ":" in text or not port:  # without the VIP's port, a realserver needs its own
            host_port = _host_port(text, where, issues, "a realserver")
        else:
            host = _ipv4(text, where, issues, "a realserver")
            host_port = (host, port) if host is not None else None
        if host_port is None:
            continue
        if method is IpvsMethod.DR and port and host_port[1] != port:
            issues.append(
                (
                    where,
                    f"port {host_port[1]}: direct routing cannot change the port ({port})",
                    'give the address only, or use method = "NAT"',
                )
            )
        elif host_port in out:
            message = f"{host_port[0]}:{host_port[1]} is listed twice"
            issues.append((where, message, "list each realserver once"))
        else:
            out.append(host_port)
    if not out and not any(path.startswith(entry.at("realservers")) for path, _, _ in issues):
        entry.error("realservers", "is empty", 'e.g. realservers = ["10.0.6.11", "10.0.6.12"]')
    return out


def _pool_of(address: tuple[str, int], pools: Mapping[str, Pool]) -> Pool | None:
    for pool in pools.values():
        for server in pool.servers:
            if (server.address.host, server.address.port) == address:
                return pool
    return None


def _check_pool_health(pool: Pool, issues: list[Issue]) -> None:
    """The pool's [health] becomes keepalived's checker of each realserver:
    its path and host must survive keepalived's tokenizer."""
    health = pool.health
    for key, text in (("path", health.path), ("host", health.host)):
        if text and _KEEPALIVED_WORD.fullmatch(text) is None:
            issues.append(
                (
                    f'pool "{pool.name}" health {key}',
                    f"{_show(text)} cannot be written to keepalived.conf for [ipvs] local_vip",
                    "no spaces, quotes, #, !, { or }",
                )
            )


def describe_ipvs(settings: IpvsSettings) -> list[str]:
    """A few lines for ``l7lb check``: what ``l7lb ipvs`` will write."""
    lines: list[str] = []
    if settings.directors:
        count = len(settings.directors)
        head = (
            f"ipvs: {settings.method.value}, {settings.scheduler.value}, to {count} "
            f"director{'' if count == 1 else 's'} {', '.join(settings.directors)}"
        )
        if settings.persistence_timeout:
            head += f"; persistence {format_duration(settings.persistence_timeout)}"
        lines.append(head)
        ports: dict[str, list[int]] = {}
        for endpoint in settings.endpoints:
            ports.setdefault(endpoint.address, []).append(endpoint.port)
        for index, (address, numbers) in enumerate(ports.items()):
            how = {
                Bundle.NONE: "one service per port",
                Bundle.FWMARK: f"firewall mark {settings.fwmark + index}",
                Bundle.GROUP: "one group",
            }[settings.bundle]
            lines.append(f"  {address} ports {', '.join(map(str, numbers))} ({how})")
        if settings.check is not None:
            c = settings.check
            lines.append(
                f"  check {'SSL_GET' if c.tls else 'HTTP_GET'} {c.path} on port {c.port} "
                f"every {format_duration(c.interval)} (must match [admin] listen)"
            )
    else:
        lines.append("ipvs: no directors in front of l7lb")
    for vip in settings.local_vips:
        servers = ", ".join(f"{a}:{p}" for a, p in vip.realservers)
        lines.append(
            f'  local VIP {vip.address}:{vip.port} of pool "{vip.pool}" -> {servers} '
            f"({vip.method.value}, {vip.scheduler.value})"
        )
    if settings.vrrp is not None:
        v = settings.vrrp
        text = f"  vrrp on {v.interface}, router id {v.virtual_router_id}, priority {v.priority}"
        if v.nodes:
            text += " (" + ", ".join(f"{name} {p}" for name, p in v.nodes) + ")"
        text += f": {', '.join(settings.vip_addresses)}"
        if v.track_process:
            text += f"; tracks process {v.track_process}"
        lines.append(text)
    return lines
