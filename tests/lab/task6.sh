#!/usr/bin/env bash
# Task 6: Multi-Endpoint Sandbox: one container (one network namespace), two networks.
# Checked against Docker 20.10's recording (shared/reference/docker/task6.txt).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

banner "Task 6: Multi-Endpoint Sandbox" \
    "- Run a container attached to two networks:" \
    "    cnmctl run -d --name c4 --network cnm-net alpine sleep 3600" \
    "    cnmctl network create other-net" \
    "    cnmctl network connect other-net c4" \
    "- Inspect the container: cnmctl inspect c4. Under NetworkSettings.Networks there are two" \
    "  networks, each with its own endpoint IP." \
    "- One sandbox (one network namespace), two endpoints (two interfaces) inside it."

ensure_alpine_image
ensure_network cnm-net
C4_IP=$(next_ip 172.18.0 cnm-net)
C4_MAC=$(printf '02:42:ac:12:00:%02x' "${C4_IP##*.}")

step 'cnmctl run -d --name c4 --network cnm-net alpine sleep 3600'
C4_ID=$OUT
expect_match "run -d prints c4's 64-hex ID" "$C4_ID" '^[0-9a-f]{64}$'
expect_running c4

step 'cnmctl network create other-net'
OTHER_ID=$OUT
expect_match "network create prints other-net's ID" "$OTHER_ID" '^[0-9a-f]{64}$'

step 'cnmctl network connect other-net c4'
expect_eq "connect prints nothing" "$OUT" ""

step 'cnmctl inspect c4'
NETS='d[0]["NetworkSettings"]["Networks"]'
expect_eq "NetworkSettings.Networks lists two networks" "$(json "$OUT" "sorted($NETS)")" \
    '["cnm-net", "other-net"]'
expect_eq "the cnm-net endpoint: address, gateway, MAC" \
    "$(json "$OUT" "[$NETS[\"cnm-net\"][k] for k in (\"IPAddress\", \"IPPrefixLen\", \"Gateway\", \"MacAddress\")]")" \
    "[\"$C4_IP\", 16, \"172.18.0.1\", \"$C4_MAC\"]"
expect_eq "the other-net endpoint: the next pool, 172.19.0.0/16, its first address" \
    "$(json "$OUT" "[$NETS[\"other-net\"][k] for k in (\"IPAddress\", \"IPPrefixLen\", \"Gateway\", \"MacAddress\")]")" \
    '["172.19.0.2", 16, "172.19.0.1", "02:42:ac:13:00:02"]'
expect_eq "other-net's endpoint belongs to other-net" \
    "$(json "$OUT" "$NETS[\"other-net\"][\"NetworkID\"]")" "$OTHER_ID"
expect_eq "two endpoints, two distinct endpoint IDs" \
    "$(json "$OUT" "len({e[\"EndpointID\"] for e in $NETS.values() if len(e[\"EndpointID\"]) == 64})")" 2
expect_eq "both endpoints carry the 12-hex short ID as alias" \
    "$(json "$OUT" "sorted({str(e[\"Aliases\"]) for e in $NETS.values()})")" "[\"['${C4_ID:0:12}']\"]"
expect_match "one sandbox for both: a single SandboxKey" \
    "$(json "$OUT" 'd[0]["NetworkSettings"]["SandboxKey"]')" '^/'

step 'cnmctl exec c4 ip addr'
expect_count "inside c4: lo, eth0 and eth1" "$OUT" '^[0-9]+: ' 3
expect_match "eth0 is on cnm-net" "$OUT" "inet ${C4_IP//./\\.}/16 brd 172\\.18\\.255\\.255 scope global eth0\$"
expect_match "eth1 is on other-net" "$OUT" 'inet 172\.19\.0\.2/16 brd 172\.19\.255\.255 scope global eth1$'
expect_match "eth1 has other-net's MAC" "$OUT" 'link/ether 02:42:ac:13:00:02 '

step 'cnmctl exec c4 ip route'
expect_match "the default route stays on eth0 (the first network)" "$OUT" '^default via 172\.18\.0\.1 dev eth0'
expect_count "only one default route" "$OUT" '^default ' 1
expect_match "other-net's subnet is on eth1" "$OUT" "^172\\.19\\.0\\.0/16 dev eth1 .*src 172\\.19\\.0\\.2"

step "nsenter -t \$(cnmctl inspect -f '{{.State.Pid}}' c4) -n ip addr"
expect_count "one namespace holds both endpoints: lo, eth0@ifN, eth1@ifM" "$OUT" \
    '^[0-9]+: (lo|eth0@if[0-9]+|eth1@if[0-9]+): ' 3

step 'cnmctl network inspect other-net'
expect_eq "other-net has 172.19.0.0/16, gateway 172.19.0.1" \
    "$(json "$OUT" 'd[0]["IPAM"]["Config"]')" '[{"Gateway": "172.19.0.1", "Subnet": "172.19.0.0/16"}]'
expect_eq "its only container is c4, at 172.19.0.2/16" \
    "$(json "$OUT" '[c["Name"] + "=" + c["IPv4Address"] for c in d[0]["Containers"].values()]')" \
    '["c4=172.19.0.2/16"]'
expect_eq "c4's endpoint on other-net is the one c4's inspect shows" \
    "$(json "$OUT" "d[0][\"Containers\"][\"$C4_ID\"][\"EndpointID\"]")" \
    "$(q inspect -f '{{(index .NetworkSettings.Networks "other-net").EndpointID}}' c4)"

step 'bridge link'
expect_count "one veth is a port of other-net's bridge br-${OTHER_ID:0:12}" "$OUT" \
    "^[0-9]+: veth[0-9a-f]{7}@[^:]+: .* master br-${OTHER_ID:0:12} " 1
