#!/usr/bin/env bash
# Task 2: View the Underlying Linux Interfaces (Linux Only).
# Checked against Docker 20.10's recording (shared/reference/docker/task2.txt). Docker ran in its
# own namespace there ("ip netns exec dockerhost ..."); cnmctl has no daemon, so the host-side
# commands run right here.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

banner "Task 2: View the Underlying Linux Interfaces (Linux Only)" \
    "- Find the bridge name associated with the network:" \
    "    cnmctl network inspect cnm-net | grep -i bridge" \
    "- Use brctl show or ip link show to list bridges." \
    "- List veth pairs: ip link show | grep veth. One end of each veth is attached to the" \
    "  bridge; the other is inside the container." \
    "- As root, enter the container's network namespace and observe the interfaces."

# On its own, this task needs what Task 1 made.
ensure_network cnm-net
ensure_container c1 cnm-net
ensure_container c2 cnm-net
C1_IP=$(container_ip c1 cnm-net)
C2_IP=$(container_ip c2 cnm-net)
MEMBERS=$(network_members cnm-net)
set -- $MEMBERS
N_MEMBERS=$#

step_may_fail 'cnmctl network inspect cnm-net | grep -i bridge'
expect_eq "only the driver mentions bridge (Options is {} on a user-defined network)" \
    "$OUT" '        "Driver": "bridge",'

note "Driver is \"bridge\" but Options is {}: the Linux bridge's name is not in inspect; it is"
note "br-<first 12 hex of the network ID>:"
step "cnmctl network inspect -f '{{.Id}}' cnm-net | cut -c1-12 | sed 's/^/br-/'"
BR=$OUT
expect_match "the bridge name is br-<12 hex>" "$BR" '^br-[0-9a-f]{12}$'

step 'ip link show type bridge'
expect_match "the kernel has the bridge $BR, up" "$OUT" "^[0-9]+: $BR: <.*UP.*> mtu 1500 "
expect_match "and the default network's bridge (cnmctl's cnm0, Docker's docker0)" "$OUT" '^[0-9]+: cnm0: '
expect_match "bridges get a 02:42 MAC like Docker's" "$OUT" 'link/ether 02:42:'

step 'bridge link'
expect_count "one veth per running container of cnm-net ($MEMBERS) is a port of $BR" \
    "$OUT" "^[0-9]+: veth[0-9a-f]{7}@[^:]+: .* master $BR state forwarding" "$N_MEMBERS"
# Docker prints "veth629724a@if6": the number after @ is the ifindex of the veth's other end,
# eth0 inside the container. Docker makes the pair on the host and moves one end into the
# sandbox, so that index is one no host interface has, and iproute2 prints it as ifN. Were it
# the index of a host interface, bridge link would print that interface's name instead
# ("veth...@cnm0"), as if the veth's other end were on the host.
if [[ $(grep -Ec "^[0-9]+: veth[0-9a-f]{7}@if[0-9]+: .* master $BR " <<<"$OUT") != "$N_MEMBERS" ]]; then
    C1_ETH0=$(nsenter -t "$(q inspect -f '{{.State.Pid}}' c1)" -n ip -o link show eth0 | cut -d: -f1)
    fail "bridge link should name each veth's other end @ifN, like Docker's (veth629724a@if6)" \
        "but it names a host interface:" "$OUT" \
        "c1's eth0 has ifindex $C1_ETH0 in its sandbox; on the host, ifindex $C1_ETH0 is $(ip -o link show | awk -F': ' -v i="$C1_ETH0" '$1 == i {print $2}' | cut -d@ -f1)," \
        "so iproute2 prints that name. Docker creates the veth pair on the host and moves one end" \
        "into the sandbox, so the container's eth0 keeps an ifindex that no host interface has."
fi
_ok "bridge link names each veth's other end @ifN, like Docker's (veth629724a@if6)"

step_may_fail 'ip link show | grep veth'
expect_count "ip link shows the same veths (veth + 7 hex, host side), enslaved to $BR and up" \
    "$OUT" "^[0-9]+: veth[0-9a-f]{7}@if[0-9]+: <.*UP,LOWER_UP> .* master $BR state UP" "$N_MEMBERS"

step "ip addr show br-\$(cnmctl network inspect -f '{{.Id}}' cnm-net | cut -c1-12)"
expect_match "the bridge carries the gateway address" "$OUT" \
    "inet 172\\.18\\.0\\.1/16 brd 172\\.18\\.255\\.255 scope global $BR\$"

step 'ip route'
expect_match "the host routes cnm-net's subnet to the bridge" "$OUT" \
    "^172\\.18\\.0\\.0/16 dev $BR proto kernel scope link src 172\\.18\\.0\\.1"

step "cnmctl inspect -f '{{.State.Pid}}' c1"
C1_PID=$OUT
expect_match "c1's process ID" "$C1_PID" '^[1-9][0-9]*$'

step "nsenter -t \$(cnmctl inspect -f '{{.State.Pid}}' c1) -n ip addr"
BY_PID=$OUT
expect_count "inside c1: two interfaces, lo and eth0" "$OUT" '^[0-9]+: ' 2
expect_match "lo is up with 127.0.0.1" "$OUT" 'inet 127\.0\.0\.1/8 scope host lo'
expect_match "eth0 is the container end of a veth pair (eth0@ifN)" "$OUT" '^[0-9]+: eth0@if[0-9]+: <.*UP,LOWER_UP>'
expect_match "eth0 has c1's MAC (02:42 + its IPv4 bytes)" "$OUT" 'link/ether 02:42:ac:12:00:02 '
expect_match "eth0 has c1's address" "$OUT" "inet ${C1_IP//./\\.}/16 brd 172\\.18\\.255\\.255 scope global eth0\$"
PEER=$(sed -nE 's/^[0-9]+: eth0@if([0-9]+):.*/\1/p' <<<"$OUT")

step "nsenter -t \$(cnmctl inspect -f '{{.State.Pid}}' c1) -n ip route"
expect_match "c1's default route goes via the gateway on eth0" "$OUT" '^default via 172\.18\.0\.1 dev eth0'
expect_match "and its subnet is on eth0" "$OUT" "^172\\.18\\.0\\.0/16 dev eth0 .*src ${C1_IP//./\\.}"

note "Peer index: eth0@if$PEER inside c1 names the host-side veth's ifindex $PEER here:"
step_may_fail "ip -o link show | grep '^$PEER:'"
expect_match "ifindex $PEER is a veth on $BR: the other end of c1's eth0" "$OUT" \
    "^$PEER: veth[0-9a-f]{7}@if[0-9]+: .* master $BR "

step "cnmctl inspect -f '{{.NetworkSettings.SandboxKey}}' c1"
KEY=$OUT
expect_match "the SandboxKey is a path" "$KEY" '^/'
[[ -e "$KEY" ]] || fail "the SandboxKey $KEY does not exist"

step "nsenter --net=\$(cnmctl inspect -f '{{.NetworkSettings.SandboxKey}}' c1) ip addr"
# IPv6 duplicate address detection may still be running on the first look
# ("tentative"): compare the interfaces and addresses, not DAD's progress.
expect_eq "entering the SandboxKey shows the very same interfaces as entering c1's process" \
    "${OUT// tentative/}" "${BY_PID// tentative/}"

step "ls -l /proc/\$(cnmctl inspect -f '{{.State.Pid}}' c1)/ns/net"
expect_eq "the sandbox is c1's network namespace (same inode as the SandboxKey)" \
    "$(readlink "/proc/$C1_PID/ns/net")" "net:[$(stat -L -c %i "$KEY")]"

step 'cnmctl exec c1 ip addr'
expect_match "cnmctl exec sees the same eth0 inside c1" "$OUT" "inet ${C1_IP//./\\.}/16 .* eth0\$"

step "cnmctl exec c1 ping -c2 -W2 $C2_IP"
expect_match "c1 reaches c2 over the bridge" "$OUT" '2 packets transmitted, 2 packets received'
