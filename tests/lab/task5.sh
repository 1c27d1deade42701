#!/usr/bin/env bash
# Task 5: Endpoint Details: an endpoint's life cycle (create, start, disconnect).
# Checked against Docker 20.10's recording (shared/reference/docker/task5.txt), which corrects
# the lesson: a created, never started container is NOT listed under the network's Containers.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

banner "Task 5: Endpoint Details" \
    "- Create a new container on a user-defined network, but do not start it:" \
    "    cnmctl create --name c3 --network cnm-net alpine sleep 3600" \
    "- Inspect the network (the lesson expects a placeholder for c3; Docker lists nothing)." \
    "- Start the container: cnmctl start c3. Inspect again; now it has an IP." \
    "- Disconnect the container from the network: cnmctl network disconnect cnm-net c3" \
    "- Inspect the network: c3 is gone. The endpoint is removed."

ensure_alpine_image
ensure_network cnm-net
BEFORE=$(network_members cnm-net)
C3_IP=$(next_ip 172.18.0 cnm-net)
C3_MAC=$(printf '02:42:ac:12:00:%02x' "${C3_IP##*.}")

step 'cnmctl create --name c3 --network cnm-net alpine sleep 3600'
C3_ID=$OUT
expect_match "create prints c3's 64-hex ID" "$C3_ID" '^[0-9a-f]{64}$'

step 'cnmctl network inspect cnm-net'
expect_eq "c3 is not listed under Containers before it starts (only: ${BEFORE:-none})" \
    "$(json "$OUT" '" ".join(sorted(c["Name"] for c in d[0]["Containers"].values()))')" "$BEFORE"

step <<'CMD'
cnmctl network inspect cnm-net -f '{{range $id, $c := .Containers}}{{$c.Name}} {{$c.IPv4Address}} {{$c.EndpointID}}{{"\n"}}{{end}}'
CMD
expect_eq "the template (with Docker's {{\"\\n\"}} string) lists the same containers, one a line" \
    "$(awk '{print $1}' <<<"$OUT" | sed '/^$/d' | sort | paste -sd' ' -)" "$BEFORE"

step "cnmctl inspect c3 -f '{{.State.Status}} {{json .NetworkSettings.Networks}}'"
expect_match "c3 is created, not running" "$OUT" '^created '
NETS=${OUT#created }
expect_eq "c3's own inspect holds a placeholder for cnm-net: no address, no endpoint yet" \
    "$(json "$NETS" 'sorted(d) + [d["cnm-net"][k] for k in ("IPAddress", "EndpointID", "MacAddress", "Gateway")]')" \
    '["cnm-net", "", "", "", ""]'

step 'cnmctl start c3'
expect_eq "start prints the name it was given" "$OUT" c3
expect_running c3

step 'cnmctl network inspect cnm-net'
expect_eq "now c3 is listed, with the lowest free address" \
    "$(json "$OUT" "[c[\"IPv4Address\"] for c in d[0][\"Containers\"].values() if c[\"Name\"] == \"c3\"]")" \
    "[\"$C3_IP/16\"]"
expect_eq "under its full ID, with a MAC and an endpoint ID" \
    "$(json "$OUT" "(lambda c: c[\"MacAddress\"] + \" \" + str(len(c[\"EndpointID\"])))(d[0][\"Containers\"][\"$C3_ID\"])")" \
    "$C3_MAC 64"
C3_EP=$(json "$OUT" "d[0][\"Containers\"][\"$C3_ID\"][\"EndpointID\"]")
expect_eq "the others are still there" \
    "$(json "$OUT" '" ".join(sorted(c["Name"] for c in d[0]["Containers"].values() if c["Name"] != "c3"))')" \
    "$BEFORE"

step "cnmctl inspect c3 -f '{{.State.Status}} {{json .NetworkSettings.Networks}}'"
expect_match "c3 is running" "$OUT" '^running '
NETS=${OUT#running }
expect_eq "c3's endpoint: address, gateway, MAC, endpoint ID, short-ID alias" \
    "$(json "$NETS" '[d["cnm-net"][k] for k in ("IPAddress", "IPPrefixLen", "Gateway", "MacAddress", "EndpointID", "Aliases")]')" \
    "[\"$C3_IP\", 16, \"172.18.0.1\", \"$C3_MAC\", \"$C3_EP\", [\"${C3_ID:0:12}\"]]"

step 'cnmctl network disconnect cnm-net c3'
expect_eq "disconnect prints nothing" "$OUT" ""

step 'cnmctl network inspect cnm-net'
expect_eq "c3 is gone from Containers: the endpoint is removed" \
    "$(json "$OUT" '" ".join(sorted(c["Name"] for c in d[0]["Containers"].values()))')" "$BEFORE"

step "cnmctl inspect c3 -f '{{.State.Status}} NetworkMode={{.HostConfig.NetworkMode}} Networks={{json .NetworkSettings.Networks}}'"
expect_eq "c3 keeps running with no network; NetworkMode still says cnm-net" \
    "$OUT" "running NetworkMode=cnm-net Networks={}"

step 'cnmctl exec c3 ip addr'
expect_count "inside c3 only lo is left" "$OUT" '^[0-9]+: ' 1
expect_match "and it is lo" "$OUT" '^1: lo: '
