#!/bin/sh
# Host settings for LVS, written by `l7lb ipvs --sysctl` from policies/lvs-dr.toml.
#   sh THIS director    on every host that runs l7lb
#   sh THIS ipvs        on every IPVS director (keepalived)
# A host with both l7lb and keepalived runs both parts. Nothing here survives a
# reboot: copy the sysctl settings to /etc/sysctl.d/ and the addresses to the
# network configuration.
set -eu
case "${1:-}" in
director)
    # l7lb binds VIPs this host does not hold: a VRRP backup, or before they are up
    sysctl -w net.ipv4.ip_nonlocal_bind=1
    # LVS-DR realserver: accept packets for the VIP, never answer ARP for it
    sysctl -w net.ipv4.conf.all.arp_ignore=1
    sysctl -w net.ipv4.conf.all.arp_announce=2
    ip addr replace 192.0.2.80/32 dev lo
    ;;
ipvs)
    modprobe ip_vs
    # a director at weight 0 (failed or draining) gets no new connection from a
    # client's persistence template
    sysctl -w net.ipv4.vs.expire_quiescent_template=1
    # packets to a VIP's ports enter its firewall-mark service
    mark() {
        rule="PREROUTING -d $1/32 -p tcp -m multiport --dports $2 -j MARK --set-mark $3"
        # shellcheck disable=SC2086
        iptables -t mangle -C $rule 2>/dev/null || iptables -t mangle -A $rule
    }
    mark 192.0.2.80 80,443 1
    ;;
*)
    echo "usage: $0 director|ipvs" >&2
    exit 2
    ;;
esac
