"""A ``Plan`` as keepalived.conf (keepalived 2.x): the VRRP instance that moves
the VIPs, and the IPVS virtual servers with their real servers and checkers.

Every director running keepalived gets the same file. Choices that are not
keys, and why:

- ``state BACKUP`` everywhere: the priorities elect the master, so no two
  hosts start as master after a reboot.
- ``vrrp_track_process`` with ``weight 0``: when l7lb is not running on this
  host, the instance goes to FAULT and gives the VIPs away.
- ``alpha``: a director counts as down until its first check passes, so a
  restarted keepalived sends nothing to an l7lb that is still starting.
- ``inhibit_on_failure``: a failed or draining director gets weight 0, as
  the LVS-HOWTO drains a realserver (20.12.3): its established connections
  run on, new ones go elsewhere.
"""

from __future__ import annotations

from l7lb.config.ipvs import Vrrp
from l7lb.ipvs.plan import Check, HttpGet, Plan, RealServer, VirtualService

INDENT = "    "
VRRP_INSTANCE = "l7lb_vips"
TRACK_PROCESS = "l7lb_process"


def _number(value: float) -> str:
    return f"{value:g}"


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def line(self, text: str = "") -> None:
        self.lines.append(INDENT * self.depth + text if text else "")

    def raw(self, text: str) -> None:
        self.lines.append(text)

    def open(self, text: str) -> None:
        self.line(text + " {")
        self.depth += 1

    def close(self) -> None:
        self.depth -= 1
        self.line("}")


def render_keepalived(plan: Plan) -> str:
    """keepalived.conf for ``plan``, ending with a newline."""
    out = _Writer()
    out.raw(f"# keepalived.conf written by `l7lb ipvs` from {plan.origin}.")
    out.raw("# The same file on every host of the cluster that runs keepalived.")
    out.raw("# Check it there with: keepalived -t -f /etc/keepalived/keepalived.conf")
    out.raw("# Do not edit: change [ipvs] and write it again.")
    if plan.marks:
        out.raw("# Firewall marks come from iptables rules: see `l7lb ipvs --sysctl`.")
    if plan.vrrp is not None:
        _vrrp(out, plan.vrrp, plan.vrrp_addresses)
    for service in plan.services:
        _service(out, service)
    if not plan.services:
        out.line()
        out.raw("# no IPVS virtual server: [ipvs] lists no directors and no local_vip")
    return "\n".join(out.lines) + "\n"


def _vrrp(out: _Writer, vrrp: Vrrp, addresses: tuple[str, ...]) -> None:
    if vrrp.track_process:
        out.line()
        out.raw("# l7lb runs on this host: without it, the VIPs go to another director")
        out.open(f"vrrp_track_process {TRACK_PROCESS}")
        out.line(f"process {vrrp.track_process}")
        out.line("quorum 1")
        out.line("weight 0")
        out.line("delay 2")
        out.close()
    out.line()
    out.open(f"vrrp_instance {VRRP_INSTANCE}")
    out.line("state BACKUP")
    out.line(f"interface {vrrp.interface}")
    out.line(f"virtual_router_id {vrrp.virtual_router_id}")
    out.line(f"priority {vrrp.priority}")
    # keepalived reads an "@NAME" line only on the host whose name (or -i NAME) matches
    for node, priority in vrrp.nodes:
        out.raw(f"@{node} priority {priority}")
    out.line(f"advert_int {_number(vrrp.advert_int)}")
    if vrrp.nopreempt:
        out.line("nopreempt")
    out.open("virtual_ipaddress")
    for address in addresses:
        out.line(f"{address}/32")
    out.close()
    if vrrp.track_process:
        out.open("track_process")
        out.line(TRACK_PROCESS)
        out.close()
    out.close()


def _service(out: _Writer, service: VirtualService) -> None:
    out.line()
    out.raw(f"# {service.title}")
    for note in service.notes:
        out.raw(f"# note: {note}")
    if service.group:
        out.open(f"virtual_server_group {service.group}")
        for address, port in service.endpoints:
            out.line(f"{address} {port}")
        out.close()
        out.open(f"virtual_server group {service.group}")
    elif service.fwmark:
        out.open(f"virtual_server fwmark {service.fwmark}")
    else:
        ((address, port),) = service.endpoints
        out.open(f"virtual_server {address} {port}")
    out.line(f"lvs_sched {service.scheduler.value}")
    for flag in service.scheduler_flags:
        out.line(flag)
    out.line(f"lvs_method {service.method.value}")
    if not service.fwmark:  # a fwmark service has no protocol of its own
        out.line("protocol TCP")
    if service.persistence_timeout:
        out.line(f"persistence_timeout {service.persistence_timeout}")
    if service.check is not None:
        out.line(f"delay_loop {_number(service.check.interval)}")
        out.line("alpha")
    out.line("inhibit_on_failure")
    for real_server in service.real_servers:
        _real_server(out, real_server, service.check)
    out.close()


def _real_server(out: _Writer, real_server: RealServer, check: Check | None) -> None:
    port = f" {real_server.port}" if real_server.port else ""
    out.open(f"real_server {real_server.address}{port}")
    out.line(f"weight {real_server.weight}")
    if check is not None:
        _check(out, check)
    out.close()


def _check(out: _Writer, check: Check) -> None:
    probe = check.probe
    if isinstance(probe, HttpGet):
        out.open("SSL_GET" if probe.tls else "HTTP_GET")
        out.open("url")
        out.line(f"path {probe.path}")
        out.line(f"status_code {' '.join(probe.status)}")
        if probe.host:
            out.line(f"virtualhost {probe.host}")
        out.close()
    else:
        out.open("TCP_CHECK")
    if probe.port:
        out.line(f"connect_port {probe.port}")
    out.line(f"connect_timeout {_number(check.timeout)}")
    out.line(f"retry {check.retries}")
    out.line("delay_before_retry 1")
    out.close()
