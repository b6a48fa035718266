#!/bin/sh
# Host settings for LVS, written by `l7lb ipvs --sysctl` from tests/ipvs/golden/group-nat.toml.
#   sh THIS director    on every host that runs l7lb
#   sh THIS ipvs        on every IPVS director (keepalived)
#   sh THIS realserver  on every realserver behind a local IPVS VIP
# A host with both l7lb and keepalived runs both parts. Nothing here survives a
# reboot: copy the sysctl settings to /etc/sysctl.d/ and the addresses to the
# network configuration.
set -eu
case "${1:-}" in
director)
    # l7lb binds VIPs this host does not hold: a VRRP backup, or before they are up
    sysctl -w net.ipv4.ip_nonlocal_bind=1
    # LVS-NAT: replies must go back through the IPVS director; make its inside
    # address (a VRRP address that moves with it) this host's default gateway
    ;;
ipvs)
    # LVS-NAT: replies to clients pass through this host on their way back
    sysctl -w net.ipv4.ip_forward=1
    ;;
realserver)
    # LVS-DR realserver: accept packets for the VIP, never answer ARP for it
    sysctl -w net.ipv4.conf.all.arp_ignore=1
    sysctl -w net.ipv4.conf.all.arp_announce=2
    ip addr replace 192.0.2.61/32 dev lo
    ;;
*)
    echo "usage: $0 director|ipvs|realserver" >&2
    exit 2
    ;;
esac
