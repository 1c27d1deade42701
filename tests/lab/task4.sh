#!/usr/bin/env bash
# Task 4, network-inspect part only: default bridge vs user-defined bridge.
# Checked against Docker 20.10's recording (shared/reference/docker/task4.txt). The DNS half of
# Task 4 (embedded DNS on cnm-net, none on the default bridge) is not covered here yet.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

banner "Task 4 (network inspect part only): Compare Default Bridge vs. User-Defined Bridge" \
    "- Inspect the default bridge: cnmctl network inspect bridge." \
    "  - Note the Containers section: containers attached to the default bridge (if any)." \
    "  - Options shows \"com.docker.network.bridge.default_bridge\": \"true\"." \
    "- Compare with the cnm-net you created." \
    "(The embedded DNS comparison of this task is not part of this walkthrough yet.)"

ensure_network cnm-net

step 'cnmctl network inspect bridge'
expect_eq "Name" "$(json "$OUT" 'd[0]["Name"]')" bridge
expect_eq "Driver" "$(json "$OUT" 'd[0]["Driver"]')" bridge
expect_eq "the default bridge has 172.17.0.0/16, gateway 172.17.0.1" \
    "$(json "$OUT" 'd[0]["IPAM"]["Config"]')" '[{"Gateway": "172.17.0.1", "Subnet": "172.17.0.0/16"}]'
expect_eq "Options says default_bridge true" \
    "$(json "$OUT" 'd[0]["Options"]["com.docker.network.bridge.default_bridge"]')" true
expect_eq "Options names its Linux bridge (cnmctl's cnm0, Docker's docker0)" \
    "$(json "$OUT" 'd[0]["Options"]["com.docker.network.bridge.name"]')" cnm0
expect_eq "Options as Docker's, but for the bridge's name" \
    "$(json "$OUT" 'sorted(d[0]["Options"])')" \
    '["com.docker.network.bridge.default_bridge", "com.docker.network.bridge.enable_icc", "com.docker.network.bridge.enable_ip_masquerade", "com.docker.network.bridge.host_binding_ipv4", "com.docker.network.bridge.name", "com.docker.network.driver.mtu"]'
expect_eq "no container on the default bridge yet" "$(json "$OUT" 'd[0]["Containers"]')" '{}'

step_may_fail 'diff <(cnmctl network inspect bridge) <(cnmctl network inspect cnm-net)'
expect_eq "the two inspects differ (diff exits 1)" "$STEP_RC" 1
expect_match "the default bridge's Options are what sets it apart" "$OUT" \
    '^< +"com\.docker\.network\.bridge\.default_bridge": "true",'
expect_match "its subnet is 172.17.0.0/16, cnm-net's another" "$OUT" '^< +"Subnet": "172\.17\.0\.0/16",'
expect_match "cnm-net's Options are empty" "$OUT" '^> +"Options": \{\},'
