#!/usr/bin/env bash
# Task 1: Explore CNM Components with a User-Defined Bridge.
# The lesson's commands with `docker` -> `cnmctl`, on the busybox `alpine` image, checked
# against Docker 20.10's recording (shared/reference/docker/task1.txt).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

banner "Task 1: Explore CNM Components with a User-Defined Bridge" \
    "- Create a network: cnmctl network create cnm-net" \
    "- Inspect the network and note the Containers section (empty)." \
    "- Run two containers on this network:" \
    "    cnmctl run -d --name c1 --network cnm-net alpine sleep 3600 (and c2 the same)" \
    "- Inspect the network again: the containers are listed with their endpoint IDs and IPs." \
    "- Inspect one container (cnmctl inspect c1): NetworkSettings.Networks[\"cnm-net\"] holds" \
    "  its IP, gateway and endpoint ID."

ensure_alpine_image
ALPINE_ID=$(q image inspect -f '{{.Id}}' alpine)

step 'cnmctl network create cnm-net'
NET_ID=$OUT
expect_match "network create prints the new network's 64-hex ID" "$NET_ID" '^[0-9a-f]{64}$'

step 'cnmctl network inspect cnm-net'
expect_eq "one network in the inspect array" "$(json "$OUT" 'len(d)')" 1
expect_eq "Name" "$(json "$OUT" 'd[0]["Name"]')" cnm-net
expect_eq "Id is the one create printed" "$(json "$OUT" 'd[0]["Id"]')" "$NET_ID"
expect_eq "Driver" "$(json "$OUT" 'd[0]["Driver"]')" bridge
expect_eq "Scope" "$(json "$OUT" 'd[0]["Scope"]')" local
expect_eq "IPAM: the first user-defined network gets 172.18.0.0/16, gateway 172.18.0.1" \
    "$(json "$OUT" 'd[0]["IPAM"]["Config"]')" '[{"Gateway": "172.18.0.1", "Subnet": "172.18.0.0/16"}]'
expect_eq "Containers is empty" "$(json "$OUT" 'd[0]["Containers"]')" '{}'
expect_eq "Options is empty on a user-defined network" "$(json "$OUT" 'd[0]["Options"]')" '{}'

step 'cnmctl run -d --name c1 --network cnm-net alpine sleep 3600'
C1_ID=$OUT
expect_match "run -d prints c1's 64-hex ID" "$C1_ID" '^[0-9a-f]{64}$'
expect_running c1

step 'cnmctl run -d --name c2 --network cnm-net alpine sleep 3600'
C2_ID=$OUT
expect_match "run -d prints c2's 64-hex ID" "$C2_ID" '^[0-9a-f]{64}$'
expect_running c2

step 'cnmctl network inspect cnm-net'
expect_eq "Containers lists c1 and c2 with addresses handed out lowest first" \
    "$(json "$OUT" '" ".join(sorted(c["Name"] + "=" + c["IPv4Address"] for c in d[0]["Containers"].values()))')" \
    "c1=172.18.0.2/16 c2=172.18.0.3/16"
expect_eq "Containers is keyed by the full container IDs" \
    "$(json "$OUT" '" ".join(sorted(d[0]["Containers"]))')" \
    "$(printf '%s\n' "$C1_ID" "$C2_ID" | sort | paste -sd' ' -)"
expect_eq "each entry has a MAC 02:42 + the IPv4 bytes" \
    "$(json "$OUT" '" ".join(sorted(c["MacAddress"] for c in d[0]["Containers"].values()))')" \
    "02:42:ac:12:00:02 02:42:ac:12:00:03"
expect_eq "each entry has its own 64-hex EndpointID" \
    "$(json "$OUT" 'len({c["EndpointID"] for c in d[0]["Containers"].values() if len(c["EndpointID"]) == 64 and not c["EndpointID"].strip("0123456789abcdef")})')" 2
expect_eq "no IPv6 address" \
    "$(json "$OUT" '" ".join(c["IPv6Address"] or "-" for c in d[0]["Containers"].values())')" "- -"
C1_EP=$(json "$OUT" "d[0][\"Containers\"][\"$C1_ID\"][\"EndpointID\"]")

step 'cnmctl inspect c1'
C1_DOC=$OUT
EP='d[0]["NetworkSettings"]["Networks"]["cnm-net"]'
expect_eq "c1 is running" "$(json "$OUT" 'd[0]["State"]["Status"]')" running
expect_match "c1 has a process" "$(json "$OUT" 'd[0]["State"]["Pid"]')" '^[1-9][0-9]*$'
expect_eq "NetworkSettings.Networks has only cnm-net" \
    "$(json "$OUT" 'sorted(d[0]["NetworkSettings"]["Networks"])')" '["cnm-net"]'
expect_eq "Networks[cnm-net].IPAddress" "$(json "$OUT" "$EP[\"IPAddress\"]")" 172.18.0.2
expect_eq "Networks[cnm-net].IPPrefixLen" "$(json "$OUT" "$EP[\"IPPrefixLen\"]")" 16
expect_eq "Networks[cnm-net].Gateway" "$(json "$OUT" "$EP[\"Gateway\"]")" 172.18.0.1
expect_eq "Networks[cnm-net].MacAddress" "$(json "$OUT" "$EP[\"MacAddress\"]")" 02:42:ac:12:00:02
expect_eq "Networks[cnm-net].NetworkID is cnm-net's ID" "$(json "$OUT" "$EP[\"NetworkID\"]")" "$NET_ID"
expect_eq "Networks[cnm-net].EndpointID is the one network inspect lists" \
    "$(json "$OUT" "$EP[\"EndpointID\"]")" "$C1_EP"
expect_eq "Networks[cnm-net].Aliases holds the 12-hex short ID" \
    "$(json "$OUT" "$EP[\"Aliases\"]")" "[\"${C1_ID:0:12}\"]"
expect_eq "top-level NetworkSettings.IPAddress/Gateway/MacAddress are empty on a user-defined network" \
    "$(json "$OUT" '[d[0]["NetworkSettings"][k] for k in ("IPAddress", "Gateway", "MacAddress")]')" '["", "", ""]'
expect_eq "HostConfig.NetworkMode" "$(json "$OUT" 'd[0]["HostConfig"]["NetworkMode"]')" cnm-net
expect_eq "c1 runs the alpine image: Config.Image as given, Image its ID" \
    "$(json "$OUT" 'd[0]["Config"]["Image"] + " " + d[0]["Image"]')" "alpine $ALPINE_ID"
expect_eq "the lesson's command, as Docker records it (Path, Args, Config.Cmd)" \
    "$(json "$OUT" '[d[0]["Path"], d[0]["Args"], d[0]["Config"]["Cmd"]]')" '["sleep", ["3600"], ["sleep", "3600"]]'
expect_eq "on the image's own writable layer (GraphDriver overlay)" \
    "$(json "$OUT" 'd[0]["GraphDriver"]["Name"]')" overlay
expect_match "a sandbox: SandboxID and SandboxKey are set" \
    "$(json "$OUT" 'd[0]["NetworkSettings"]["SandboxID"] + " " + d[0]["NetworkSettings"]["SandboxKey"]')" \
    '^[0-9a-f]{64} /'

step "cnmctl inspect -f '{{json .NetworkSettings.Networks}}' c1"
expect_eq "{{json}} gives the same endpoint as the full inspect" "$(json "$OUT" 'd')" \
    "$(json "$C1_DOC" 'd[0]["NetworkSettings"]["Networks"]')"

step "cnmctl inspect -f '{{json (index .NetworkSettings.Networks \"cnm-net\")}}' c1"
expect_eq "index picks the cnm-net endpoint" "$(json "$OUT" 'd["IPAddress"] + " " + d["EndpointID"]')" \
    "172.18.0.2 $C1_EP"

step <<'CMD'
cnmctl inspect c2 -f '{{(index .NetworkSettings.Networks "cnm-net").IPAddress}} {{(index .NetworkSettings.Networks "cnm-net").Gateway}} {{(index .NetworkSettings.Networks "cnm-net").MacAddress}}'
CMD
expect_eq "c2's address, gateway and MAC" "$OUT" "172.18.0.3 172.18.0.1 02:42:ac:12:00:03"

step 'cnmctl ps'
expect_match "ps lists c1 as up, from the alpine image" "$OUT" "^${C1_ID:0:12} +alpine +\"sleep 3600\" .* Up .* c1\$"
expect_match "ps lists c2 as up, from the alpine image" "$OUT" "^${C2_ID:0:12} +alpine +\"sleep 3600\" .* Up .* c2\$"
