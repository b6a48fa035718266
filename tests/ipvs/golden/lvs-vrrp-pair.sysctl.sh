#!/bin/sh
# Host settings for LVS, written by `l7lb ipvs --sysctl` from policies/lvs-vrrp-pair.toml.
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
    ;;
ipvs)
    :  # nothing to set: keepalived loads what it needs
    ;;
*)
    echo "usage: $0 director|ipvs" >&2
    exit 2
    ;;
esac
