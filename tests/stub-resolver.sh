#!/usr/bin/env bash
# The "outside" resolver of a throwaway namespace (make test, make lab, make bench).
#
# Like the Docker reference recording's stub at 203.0.113.53, so that no DNS query can leave the
# machine: dnsmasq on 192.0.2.53 (TEST-NET-1, an address on this namespace's lo) answers
# known.example with 10.9.8.7 and NXDOMAIN for every other name, and /etc/resolv.conf, bind-mounted
# in this mount namespace only, names it. cnmctl's DNS helpers forward there; containers on the
# default bridge ask it directly.
#
# Refuses to run anywhere but in a fresh network namespace (only `lo`), so it can never change a
# real host. Does nothing if the stub is already up (the lab scripts run inside `make test` too).
set -euo pipefail

STUB=192.0.2.53
if ip -o addr show dev lo | grep -qF " $STUB/"; then
    exit 0
fi
if [[ $(ip -o link show | grep -vc ': lo:') != 0 ]]; then
    echo "stub-resolver.sh: refusing to run outside a fresh network namespace (only lo)" >&2
    exit 1
fi
command -v dnsmasq >/dev/null || { echo "stub-resolver.sh: dnsmasq is missing (apt-get install dnsmasq-base)" >&2; exit 1; }

ip link set lo up
ip addr add "$STUB/32" dev lo
# Its files on a tmpfs of this mount namespace: they go with it, nothing is left in /tmp.
dir=/run/cnmctl-stub
mkdir -p "$dir"
mount -t tmpfs -o size=1m,mode=0700 cnmctl-stub "$dir"
# Without --keep-in-foreground dnsmasq forks once its socket is bound: ready when this returns.
dnsmasq --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces --listen-address="$STUB" \
    --address=/#/ --host-record=known.example,10.9.8.7 --user=root \
    --pid-file="$dir/dnsmasq.pid" --log-facility="$dir/dnsmasq.log"
printf 'nameserver %s\n' "$STUB" >"$dir/resolv.conf"
mount --bind "$dir/resolv.conf" /etc/resolv.conf
