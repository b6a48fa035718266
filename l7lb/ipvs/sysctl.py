"""A ``Plan`` as a POSIX shell script of the host settings LVS needs
(``l7lb ipvs --sysctl``), one part per role a host plays:

- ``director``: a host running l7lb. l7lb binds VIPs the host may not hold
  (``ip_nonlocal_bind``: a VRRP backup, or before the VIP is configured).
  Behind IPVS with direct routing it is an LVS-DR realserver: the VIP on
  ``lo`` so it accepts the packets, and ``arp_ignore``/``arp_announce`` so it
  never answers ARP for the VIP, which would steal the VIP from the IPVS
  director ("the ARP problem" of the LVS-HOWTO).
- ``ipvs``: a host running keepalived and IPVS: the ip_vs module, iptables
  marks of the fwmark services, forwarding for NAT, and template expiry so a
  drained director (weight 0) gets no new connection from persistence.
- ``realserver``: a realserver behind a local IPVS VIP with direct routing.

The script is idempotent (``ip addr replace``, ``iptables -C || -A``) and
changes nothing that survives a reboot.
"""

from __future__ import annotations

from l7lb.config.ipvs import IpvsMethod
from l7lb.ipvs.plan import Mark, Plan

MULTIPORT_MAX = 15  # ports one iptables multiport match takes


def render_sysctl(plan: Plan) -> str:
    """The host script for ``plan``, ending with a newline."""
    roles = _roles(plan)
    usage = "|".join(roles)
    lines = [
        "#!/bin/sh",
        f"# Host settings for LVS, written by `l7lb ipvs --sysctl` from {plan.origin}.",
        "#   sh THIS director    on every host that runs l7lb",
    ]
    if "ipvs" in roles:
        lines.append("#   sh THIS ipvs        on every IPVS director (keepalived)")
    if "realserver" in roles:
        lines.append("#   sh THIS realserver  on every realserver behind a local IPVS VIP")
    lines += [
        "# A host with both l7lb and keepalived runs both parts. Nothing here survives a",
        "# reboot: copy the sysctl settings to /etc/sysctl.d/ and the addresses to the",
        "# network configuration.",
        "set -eu",
        'case "${1:-}" in',
    ]
    for role, body in roles.items():
        lines.append(f"{role})")
        lines.extend("    " + line if line else "" for line in body)
        lines.append("    ;;")
    lines += [
        "*)",
        f'    echo "usage: $0 {usage}" >&2',
        "    exit 2",
        "    ;;",
        "esac",
    ]
    return "\n".join(lines) + "\n"


def _roles(plan: Plan) -> dict[str, list[str]]:
    roles = {"director": _director(plan)}
    if plan.services or plan.vrrp is not None:
        roles["ipvs"] = _ipvs(plan)
    behind_dr = [v.address for v in plan.settings.local_vips if v.method is IpvsMethod.DR]
    if behind_dr:
        roles["realserver"] = _arp(list(dict.fromkeys(behind_dr)))
    return roles


def _arp(addresses: list[str]) -> list[str]:
    lines = [
        "# LVS-DR realserver: accept packets for the VIP, never answer ARP for it",
        "sysctl -w net.ipv4.conf.all.arp_ignore=1",
        "sysctl -w net.ipv4.conf.all.arp_announce=2",
    ]
    lines += [f"ip addr replace {address}/32 dev lo" for address in addresses]
    return lines


def _director(plan: Plan) -> list[str]:
    lines = [
        "# l7lb binds VIPs this host does not hold: a VRRP backup, or before they are up",
        "sysctl -w net.ipv4.ip_nonlocal_bind=1",
    ]
    if plan.remote_directors and plan.settings.method is IpvsMethod.DR:
        lines += _arp(list(plan.front_addresses))
    elif plan.remote_directors:
        lines += [
            "# LVS-NAT: replies must go back through the IPVS director; make its inside",
            "# address (a VRRP address that moves with it) this host's default gateway",
        ]
    return lines


def _ipvs(plan: Plan) -> list[str]:
    lines: list[str] = []
    if any(service.persistence_timeout for service in plan.services):
        lines += [
            "modprobe ip_vs",
            "# a director at weight 0 (failed or draining) gets no new connection from a",
            "# client's persistence template",
            "sysctl -w net.ipv4.vs.expire_quiescent_template=1",
        ]
    if plan.marks:
        lines += [
            "# packets to a VIP's ports enter its firewall-mark service",
            "mark() {",
            '    rule="PREROUTING -d $1/32 -p tcp -m multiport --dports $2 -j MARK --set-mark $3"',
            "    # shellcheck disable=SC2086",
            "    iptables -t mangle -C $rule 2>/dev/null || iptables -t mangle -A $rule",
            "}",
        ]
        lines += [_mark(mark, chunk) for mark in plan.marks for chunk in _chunks(mark)]
    nat = plan.settings.method is IpvsMethod.NAT and plan.remote_directors
    if nat or any(vip.method is IpvsMethod.NAT for vip in plan.settings.local_vips):
        lines += [
            "# LVS-NAT: replies to clients pass through this host on their way back",
            "sysctl -w net.ipv4.ip_forward=1",
        ]
    if not lines:
        lines.append(":  # nothing to set: keepalived loads what it needs")
    return lines


def _chunks(mark: Mark) -> list[tuple[int, ...]]:
    ports = mark.ports
    return [ports[i : i + MULTIPORT_MAX] for i in range(0, len(ports), MULTIPORT_MAX)]


def _mark(mark: Mark, ports: tuple[int, ...]) -> str:
    return f"mark {mark.address} {','.join(str(p) for p in ports)} {mark.mark}"
