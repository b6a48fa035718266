"""A ``Plan`` as ``ipvsadm-restore`` input: the IPVS services and real servers
only (health checks and VRRP are keepalived's; these rules are static).

``ipvsadm-restore`` clears every IPVS rule of the host and drops ``#``
lines before it hands the rest to ``ipvsadm -R``; ``ipvsadm -R`` alone does
neither, and stops at the first comment. A keepalived virtual_server_group
becomes one service per member here, all with the same real servers.
"""

from __future__ import annotations

from l7lb.config.ipvs import IpvsMethod
from l7lb.ipvs.plan import Plan, RealServer, VirtualService

_FORWARD = {IpvsMethod.DR: "-g", IpvsMethod.NAT: "-m"}


def render_ipvsadm(plan: Plan) -> str:
    """ipvsadm-restore lines for ``plan``, ending with a newline."""
    lines = [
        f"# ipvsadm-restore rules written by `l7lb ipvs --format ipvsadm` from {plan.origin}.",
        "# Load them with: ipvsadm-restore < FILE (it clears every IPVS rule first).",
        "# Static: nothing takes a failed server out (keepalived does: --format keepalived).",
    ]
    if plan.marks:
        lines.append("# Firewall marks come from iptables rules: see `l7lb ipvs --sysctl`.")
    for service in plan.services:
        lines.extend(_service(service))
    if not plan.services:
        lines.append("# no IPVS service: [ipvs] lists no directors and no local_vip")
    return "\n".join(lines) + "\n"


def _service(service: VirtualService) -> list[str]:
    if service.fwmark:
        keys = [f"-f {service.fwmark}"]
    else:
        keys = [f"-t {address}:{port}" for address, port in service.endpoints]
    lines: list[str] = []
    for key in keys:
        add = f"-A {key} -s {service.scheduler.value}"
        if service.scheduler_flags:
            add += f" -b {','.join(service.scheduler_flags)}"
        if service.persistence_timeout:
            add += f" -p {service.persistence_timeout}"
        lines.append(add)
        port = int(key.rsplit(":", 1)[1]) if key.startswith("-t") else 0
        lines.extend(_real_server(key, rs, service.method, port) for rs in service.real_servers)
    return lines


def _real_server(key: str, real_server: RealServer, method: IpvsMethod, port: int) -> str:
    # A group's real servers have port 0 in the plan: here each member gets its own port.
    rs_port = real_server.port or port
    target = f"{real_server.address}:{rs_port}" if rs_port else real_server.address
    return f"-a {key} -r {target} {_FORWARD[method]} -w {real_server.weight}"
