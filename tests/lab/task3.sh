#!/usr/bin/env bash
# Task 3: a network with a remote driver, for real. The lesson could only list Docker's plugin
# folder; here the reference plugin (tests/plugins/netplugin.py, a Docker network plugin written
# for the tests: a bridge per network, a veth per container) serves Docker's protocol on a
# socket in a plugin folder, cnmctl finds it by name, creates a network with it and runs two
# containers on it; the plugin's call log shows each /NetworkDriver.* call it received.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

banner "Task 3: Create a Network with a Remote Driver (for real)" \
    "- Docker finds network plugins by name: a socket NAME.sock in /run/docker/plugins, or a" \
    "  NAME.spec / NAME.json file in /etc/docker/plugins; so does cnmctl. This lab's plugin" \
    "  folder is a throwaway one (CNMCTL_PLUGIN_SOCK_DIR), so the host's is never touched." \
    "- Start the plugin, create a network with -d and its name, run two containers, ping."

ensure_alpine_image
export CNMCTL_PLUGIN_SOCK_DIR="$LAB_SCRATCH/plugins" CNMCTL_PLUGIN_TIMEOUT=5
PLUGIN_LOG="$LAB_SCRATCH/refnet.log"
mkdir -m 755 "$CNMCTL_PLUGIN_SOCK_DIR"
note "starting the plugin: (cd tests && python3 -m plugins.netplugin \$CNMCTL_PLUGIN_SOCK_DIR/refnet.sock LOG) &"
(cd tests && exec python3 -m plugins.netplugin "$CNMCTL_PLUGIN_SOCK_DIR/refnet.sock" "$PLUGIN_LOG") &
PLUGIN_PID=$!
# The store is emptied while the plugin still answers (network rm calls it), then it stops.
trap 'rc=$?; set +e; ((LAB_OWNS_STATE)) && lab_cleanup_store; kill "$PLUGIN_PID" 2>/dev/null;
      (exit $rc); _lab_exit' EXIT
for _ in $(seq 100); do [[ -S "$CNMCTL_PLUGIN_SOCK_DIR/refnet.sock" ]] && break; sleep 0.05; done

step 'ls -l $CNMCTL_PLUGIN_SOCK_DIR'
expect_match "the plugin's socket is there (type s)" "$OUT" '^s.* refnet\.sock$'

step 'cnmctl network create -d refnet --subnet 10.123.0.0/24 remote-net'
expect_match "network create prints the new network's ID" "$OUT" '^[0-9a-f]{64}$'
step 'cnmctl network ls --filter driver=refnet'
expect_match "network ls shows the plugin as the driver, local scope" "$OUT" \
    '^[0-9a-f]{12} +remote-net +refnet +local$'
step "cnmctl network inspect -f '{{.Driver}} {{.Scope}} {{range .IPAM.Config}}{{.Subnet}}{{end}}' remote-net"
expect_eq "inspect: Driver refnet, Scope local (the plugin's capabilities), the subnet" "$OUT" \
    "refnet local 10.123.0.0/24"
step 'ip -br addr show | grep ^rn'
expect_match "the plugin made a bridge for the network, with the gateway address" "$OUT" \
    '^rn[0-9a-f]{8} .* 10\.123\.0\.1/24'

step 'cnmctl run -d --name r1 --network remote-net alpine sleep 3600'
expect_running r1
step 'cnmctl run -d --name r2 --network remote-net alpine sleep 3600'
expect_running r2
step 'cnmctl exec r1 ip addr show eth0'
expect_match "r1's eth0 is the plugin's veth end, moved in and renamed, with IPAM's address" \
    "$OUT" 'inet 10\.123\.0\.2/24'
expect_match "and the MAC the plugin chose (02:aa:...)" "$OUT" 'link/ether 02:aa:'
step 'cnmctl exec r1 ip route'
expect_match "the default route goes via the gateway the plugin's Join answered" "$OUT" \
    '^default via 10\.123\.0\.1 dev eth0'
step 'cnmctl exec r1 ping -c 2 r2'
expect_match "r1 reaches r2 by name (the embedded DNS) through the plugin's bridge" "$OUT" \
    '2 packets transmitted, 2 packets received'

step 'cnmctl rm -f r1 r2'
step 'cnmctl network rm remote-net'
expect_eq "network rm prints the name" "$OUT" remote-net
step_may_fail 'ip -br link show | grep -E "^r[nvc]"'
expect_eq "the plugin deleted its bridge and veths" "$OUT" ""

note "--- the protocol calls the plugin received, in order (IDs cut to 12 digits) ---"
step 'python3 tests/lab/plugin_calls.py $PLUGIN_LOG'
expect_eq "the calls, as Docker would have made them" \
    "$(awk '{print $1}' <<<"$OUT" | grep -v -e Plugin.Activate -e GetCapabilities | paste -sd' ' -)" \
    "$(printf '%s ' NetworkDriver.CreateNetwork \
        NetworkDriver.CreateEndpoint NetworkDriver.Join NetworkDriver.ProgramExternalConnectivity \
        NetworkDriver.EndpointOperInfo \
        NetworkDriver.CreateEndpoint NetworkDriver.Join NetworkDriver.ProgramExternalConnectivity \
        NetworkDriver.EndpointOperInfo \
        NetworkDriver.RevokeExternalConnectivity NetworkDriver.Leave NetworkDriver.DeleteEndpoint \
        NetworkDriver.RevokeExternalConnectivity NetworkDriver.Leave NetworkDriver.DeleteEndpoint \
        NetworkDriver.DeleteNetwork | sed 's/ $//')"
expect_match "each cnmctl command activates the plugin first, as dockerd does once" "$OUT" \
    '^Plugin.Activate'
expect_match "Join got the sandbox's namespace path as SandboxKey" "$OUT" \
    '^NetworkDriver.Join .*"SandboxKey": ".*/netns/[0-9a-f]{12}"'
