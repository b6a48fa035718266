"""The L4 tier as plain values: which IPVS services, real servers and checks
a configuration asks for. keepalived.conf, ipvsadm lines and the host script
are renderings of one ``Plan``, so they cannot disagree.

Two tiers come from ``[ipvs]``:

- in front of l7lb: one IPVS service per VIP address and port (or one per
  address bundling its ports), whose real servers are the l7lb directors,
  each checked on l7lb's own health endpoint;
- behind l7lb (``[[ipvs.local_vip]]``): an IPVS VIP on the director that an
  l7lb pool sends to, whose real servers are the realservers, checked the way
  that pool's ``[health]`` says.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from l7lb.config.ipvs import (
    Bundle,
    DirectorCheck,
    IpvsMethod,
    IpvsScheduler,
    IpvsSettings,
    LocalVip,
    Vrrp,
)
from l7lb.config.model import Config, HealthSettings
from l7lb.health.target import StatusRanges


@dataclass(frozen=True, slots=True)
class RealServer:
    address: str  # IPv4 literal
    port: int  # 0 = the port the client asked for (bundled services)
    weight: int = 1

    @property
    def local(self) -> bool:
        """A loopback real server is this host: IPVS delivers locally ("localnode")."""
        return ipaddress.ip_address(self.address).is_loopback


@dataclass(frozen=True, slots=True)
class HttpGet:
    port: int  # connect_port; 0 = the real server's port
    path: str
    tls: bool  # SSL_GET instead of HTTP_GET
    status: tuple[str, ...]  # "200", "200-399": keepalived status_code words
    host: str = ""  # virtualhost (Host header); "" = the address


@dataclass(frozen=True, slots=True)
class TcpConnect:
    port: int  # connect_port; 0 = the real server's port


@dataclass(frozen=True, slots=True)
class Check:
    probe: HttpGet | TcpConnect
    interval: float  # delay_loop
    timeout: float  # connect_timeout
    retries: int  # retry


@dataclass(frozen=True, slots=True)
class VirtualService:
    """One keepalived ``virtual_server`` (several ipvsadm services for a group)."""

    title: str  # a one-line description for comments
    endpoints: tuple[tuple[str, int], ...]  # the (address, port) pairs it covers
    scheduler: IpvsScheduler
    method: IpvsMethod
    real_servers: tuple[RealServer, ...]
    check: Check | None
    fwmark: int = 0  # > 0: a firewall-mark service
    group: str = ""  # != "": a virtual_server_group of the endpoints
    persistence_timeout: int = 0
    notes: tuple[str, ...] = ()  # what the renderings could not carry, said in comments

    @property
    def scheduler_flags(self) -> tuple[str, ...]:
        # A failed director is set to weight 0 (inhibit_on_failure); without the
        # fallback flag, sh and mh keep hashing its clients to it and refuse them.
        if self.scheduler is IpvsScheduler.SH:
            return ("sh-fallback",)
        if self.scheduler is IpvsScheduler.MH:
            return ("mh-fallback",)
        return ()


@dataclass(frozen=True, slots=True)
class Mark:
    """An iptables rule that puts packets to ``address:ports`` into a fwmark service."""

    address: str
    ports: tuple[int, ...]
    mark: int


@dataclass(frozen=True, slots=True)
class Plan:
    origin: str  # the configuration file, named in the header of every rendering
    settings: IpvsSettings
    services: tuple[VirtualService, ...]  # the front tier first, then local VIPs
    marks: tuple[Mark, ...]
    vrrp: Vrrp | None
    vrrp_addresses: tuple[str, ...]

    @property
    def remote_directors(self) -> tuple[str, ...]:
        """Directors reached over the network (the others are this host)."""
        return tuple(d for d in self.settings.directors if not RealServer(d, 0).local)

    @property
    def front_addresses(self) -> tuple[str, ...]:
        """The VIP addresses IPVS announces in front of l7lb."""
        if not self.settings.directors:
            return ()
        out: list[str] = []
        for endpoint in self.settings.endpoints:
            if endpoint.address not in out:
                out.append(endpoint.address)
        return tuple(out)


def printable(text: str) -> str:
    """``text`` safe inside a one-line comment of any rendering: a line break in a
    VIP name or a file name must not start a keepalived block or a shell command."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


class NoIpvsSection(ValueError):
    """The configuration has no ``[ipvs]`` section: there is nothing to generate."""


def plan(config: Config, origin: str) -> Plan:
    """The L4 tier ``config`` describes; NoIpvsSection when it has no ``[ipvs]``."""
    settings = config.ipvs
    if not isinstance(settings, IpvsSettings):
        raise NoIpvsSection(origin)
    services: list[VirtualService] = []
    marks: list[Mark] = []
    if settings.directors and settings.check is not None:
        services, marks = _front(settings, settings.check)
    for local_vip in settings.local_vips:
        services.append(_local(local_vip, config.pools[local_vip.pool].health))
    return Plan(
        origin=printable(origin),
        settings=settings,
        services=tuple(services),
        marks=tuple(marks),
        vrrp=settings.vrrp,
        vrrp_addresses=settings.vip_addresses if settings.vrrp is not None else (),
    )


def _front(
    settings: IpvsSettings, director_check: DirectorCheck
) -> tuple[list[VirtualService], list[Mark]]:
    check = Check(
        HttpGet(director_check.port, director_check.path, director_check.tls, ("200",)),
        interval=director_check.interval,
        timeout=director_check.timeout,
        retries=director_check.retries,
    )

    def service(
        title: str,
        endpoints: tuple[tuple[str, int], ...],
        port: int,
        fwmark: int = 0,
        group: str = "",
    ) -> VirtualService:
        return VirtualService(
            title=title,
            endpoints=endpoints,
            scheduler=settings.scheduler,
            method=settings.method,
            real_servers=tuple(RealServer(d, port) for d in settings.directors),
            check=check,
            fwmark=fwmark,
            group=group,
            persistence_timeout=settings.persistence_timeout,
        )

    # address -> [(port, vip name)], in the order the file names them
    by_address: dict[str, list[tuple[int, str]]] = {}
    for endpoint in settings.endpoints:
        by_address.setdefault(endpoint.address, []).append((endpoint.port, printable(endpoint.vip)))
    services: list[VirtualService] = []
    marks: list[Mark] = []
    for index, (address, ports) in enumerate(by_address.items()):
        if settings.bundle is Bundle.NONE:
            for port, vip in ports:
                title = f'{address}:{port}, vip "{vip}"'
                services.append(service(title, ((address, port),), port))
            continue
        # Bundled: real servers take port 0, "the port the client asked for".
        endpoints = tuple((address, port) for port, _ in ports)
        names = ", ".join(dict.fromkeys(f'vip "{vip}"' for _, vip in ports))
        title = f"{address} ports {', '.join(str(port) for port, _ in ports)} ({names})"
        if settings.bundle is Bundle.FWMARK:
            mark = settings.fwmark + index
            marks.append(Mark(address, tuple(port for port, _ in ports), mark))
            services.append(service(f"{title}, firewall mark {mark}", endpoints, 0, fwmark=mark))
        else:
            services.append(service(title, endpoints, 0, group=f"l7lb-{address}"))
    return services, marks


def _local(local_vip: LocalVip, health: HealthSettings) -> VirtualService:
    """A local IPVS VIP: its realservers checked the way the pool's [health] says."""
    check: Check | None = None
    notes: list[str] = []
    if health.check != "none":
        probe: HttpGet | TcpConnect = TcpConnect(health.port)
        if health.check == "http":
            status = tuple(StatusRanges(health.expect).text.split(","))
            probe = HttpGet(health.port, health.path, health.tls, status, health.host)
            if health.method != "GET":
                notes.append(f"keepalived sends GET where l7lb's check sends {health.method}")
            if health.body:
                notes.append("keepalived checks the status only; the body check stays l7lb's")
        elif health.tls:
            notes.append("keepalived's TCP_CHECK connects without a TLS handshake")
        check = Check(probe, health.interval, health.timeout, max(0, health.fall - 1))
    else:
        notes.append(f'pool "{local_vip.pool}" has no [health] check: every realserver counts up')
    return VirtualService(
        title=f'{local_vip.address}:{local_vip.port}, local IPVS VIP of pool "{local_vip.pool}"',
        endpoints=((local_vip.address, local_vip.port),),
        scheduler=local_vip.scheduler,
        method=local_vip.method,
        real_servers=tuple(RealServer(a, p) for a, p in local_vip.realservers),
        check=check,
        notes=tuple(notes),
    )
