#!/usr/bin/env bash
# Task 4: default bridge vs user-defined bridge: network inspect, then name resolution (no DNS on
# the default bridge; the embedded DNS at 127.0.0.11 on cnm-net).
# Checked against Docker 20.10's recording (shared/reference/docker/task4.txt). Names nobody knows
# go to the namespace's stub "outside" resolver (tests/stub-resolver.sh), as in the recording.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

banner "Task 4: Compare Default Bridge vs. User-Defined Bridge" \
    "- Inspect the default bridge: cnmctl network inspect bridge." \
    "  - Note the Containers section: containers attached to the default bridge (if any)." \
    "  - Options shows \"com.docker.network.bridge.default_bridge\": \"true\"." \
    "- Compare with the cnm-net you created. The user-defined network has an embedded DNS server" \
    "  and service discovery; the default bridge has no DNS service."

ensure_alpine_image
ensure_network cnm-net
ensure_container c1 cnm-net
ensure_container c2 cnm-net

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

note "--- default bridge: resolve another container by name ---"
step 'cnmctl run -d --name d1 alpine sleep 3600'
expect_running d1
step 'cnmctl run -d --name d2 alpine sleep 3600'
expect_running d2

step "cnmctl network inspect bridge -f '{{range .Containers}}{{.Name}} {{.IPv4Address}} {{end}}'"
expect_eq "d1 and d2 are on the default bridge, lowest addresses first (listed by container ID)" \
    "$(xargs -n2 <<<"$OUT" | sort | paste -sd' ' -)" "d1 172.17.0.2/16 d2 172.17.0.3/16"

step 'cnmctl exec d1 cat /etc/resolv.conf'
expect_eq "on the default bridge resolv.conf holds the host's (upstream) servers, no 127.0.0.11" \
    "$OUT" "$(grep '^nameserver' /etc/resolv.conf | grep -v ' 127\.')"

step_may_fail 'cnmctl exec d1 nslookup d2'
expect_eq "nslookup d2 fails (exit 1)" "$STEP_RC" 1
expect_match "the upstream, not cnmctl, answers: NXDOMAIN" "$OUT" "server can't find d2: NXDOMAIN"

step_may_fail 'cnmctl exec d1 ping -c1 -W2 d2'
expect_eq "ping by name fails (exit 1)" "$STEP_RC" 1
expect_eq "busybox ping says bad address" "$(cat "$LAB_SCRATCH/err")" "ping: bad address 'd2'"

step "cnmctl exec d1 ping -c1 -W2 \$(cnmctl inspect -f '{{.NetworkSettings.IPAddress}}' d2)"
expect_match "by IP the default bridge works" "$OUT" '1 packets transmitted, 1 packets received'

note "--- legacy --link on the default bridge (writes /etc/hosts, no DNS server) ---"
step 'cnmctl run -d --name d3 --link d2 alpine sleep 3600'
expect_running d3
step 'cnmctl exec d3 cat /etc/hosts'
expect_match "the link is a line in d3's /etc/hosts: d2's address, name and short ID" "$OUT" \
    "^172\.17\.0\.3	d2 $(q inspect -f '{{.Id}}' d2 | cut -c1-12)\$"
step 'cnmctl exec d3 ping -c1 -W2 d2'
expect_match "so d3 reaches d2 by name" "$OUT" '^PING d2 \(172\.17\.0\.3\)'
step 'cnmctl exec d3 cat /etc/resolv.conf'
expect_no_match "still no embedded DNS on the default bridge" "$OUT" '127\.0\.0\.11'

note "--- user-defined bridge cnm-net: embedded DNS at 127.0.0.11 ---"
step 'cnmctl exec c2 cat /etc/resolv.conf'
expect_eq "resolv.conf names the embedded DNS, with Docker's options" "$OUT" \
    "$(printf 'nameserver 127.0.0.11\noptions ndots:0')"

step 'cnmctl exec c2 cat /etc/hosts'
expect_match "hosts holds only c2's own address and short ID, no other container" "$OUT" \
    "^172\.18\.0\.3	$(q inspect -f '{{.Id}}' c2 | cut -c1-12)\$"
expect_no_match "c1 is not in c2's /etc/hosts: its name comes from the DNS" "$OUT" '172\.18\.0\.2'

step 'cnmctl exec c2 nslookup c1'
expect_match "the embedded DNS answers" "$OUT" '^Server:[[:space:]]+127\.0\.0\.11$'
expect_match "c1 is 172.18.0.2" "$OUT" '^Address: 172\.18\.0\.2$'

step 'cnmctl exec c2 ping -c1 c1'
expect_match "ping c1 resolves and answers" "$OUT" '^PING c1 \(172\.18\.0\.2\)'
expect_match "one reply" "$OUT" '1 packets transmitted, 1 packets received'

step 'cnmctl exec c2 nslookup c2'
expect_match "a container finds itself too" "$OUT" '^Address: 172\.18\.0\.3$'

step_may_fail 'cnmctl exec c2 nslookup d1'
expect_eq "a default-bridge container is not known on cnm-net (exit 1)" "$STEP_RC" 1
expect_match "NXDOMAIN" "$OUT" "server can't find d1: NXDOMAIN"

step "nsenter --net=\$(cnmctl inspect -f '{{.NetworkSettings.SandboxKey}}' c2) ss -lnup"
expect_match "the DNS helper listens on 127.0.0.11:53 inside c2's own namespace" "$OUT" \
    '127\.0\.0\.11:53 .*users:\(\("python'
