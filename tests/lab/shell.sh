#!/usr/bin/env bash
# A shell inside a container: `run -dit ... alpine ash`, `attach`, Ctrl-P Ctrl-Q. Not one of the
# lesson's tasks (they only run `alpine sleep 3600`): Docker's own networking tutorial looks at a
# user-defined network this way (`docker run -dit --name alpine1 --network ... alpine ash`, then
# `docker attach alpine1`). `make lab` has no terminal to type in, so tests/lab/pty_attach.py
# runs `cnmctl attach` on a pseudo-terminal and types the lines a student would.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

banner "Inside a container: a shell with run -dit, attach, Ctrl-P Ctrl-Q" \
    "Not in the lesson's tasks: how Docker's networking tutorial looks at a network from inside." \
    "- Run a shell kept alive with its terminal: cnmctl run -dit --name alpine1 --network cnm-net alpine ash" \
    "- Attach to it (cnmctl attach alpine1), look at its endpoint (ip addr show eth0) and reach c1" \
    "  by name through the embedded DNS (ping -c 2 c1)." \
    "- Detach with Ctrl-P Ctrl-Q: the shell keeps running (cnmctl ps)."

ensure_alpine_image
ensure_network cnm-net
ensure_container c1 cnm-net
C1_IP=$(container_ip c1 cnm-net)

step 'cnmctl run -dit --name alpine1 --network cnm-net alpine ash'
A1_ID=$OUT
expect_match "run -dit prints alpine1's 64-hex ID" "$A1_ID" '^[0-9a-f]{64}$'
expect_running alpine1
A1_IP=$(container_ip alpine1 cnm-net)

step "cnmctl inspect -f '{{.Config.Image}} {{json .Config.Cmd}} Tty={{.Config.Tty}} OpenStdin={{.Config.OpenStdin}}' alpine1"
expect_eq "the image's ash, with a terminal and stdin kept open (-dit)" "$OUT" \
    'alpine ["ash"] Tty=true OpenStdin=true'

note "No terminal to type in here: tests/lab/pty_attach.py runs 'cnmctl attach alpine1' on a"
note "pseudo-terminal, presses Enter, types each line, waits for the prompt, then Ctrl-P Ctrl-Q."
step "tests/lab/pty_attach.py alpine1 'ip addr show eth0' 'ping -c 2 c1'"
expect_match "attached: the shell's prompt, and the line typed at it" "$OUT" '^/ # ip addr show eth0$'
expect_match "eth0 inside alpine1 has its address on cnm-net" "$OUT" \
    "^ +inet ${A1_IP//./\\.}/16 brd 172\\.18\\.255\\.255 scope global eth0\$"
expect_match "ping c1 by name: the embedded DNS answers c1's address" "$OUT" \
    "^PING c1 \\(${C1_IP//./\\.}\\): 56 data bytes\$"
expect_match "and c1 answers" "$OUT" '^2 packets transmitted, 2 packets received, 0% packet loss$'
# Docker's client, like cnmctl, says "read escape sequence" (after the prompt) as it detaches
expect_match "the prompt came back after ping, then the detach" "$OUT" '^/ # read escape sequence$'
expect_match "Ctrl-P Ctrl-Q detached: cnmctl attach exited 0" "$OUT" \
    '^\[Ctrl-P Ctrl-Q: detached, cnmctl attach exited 0\]$'

step 'cnmctl ps'
expect_match "alpine1 is still up after the detach" "$OUT" "^${A1_ID:0:12} +alpine +\"ash\" .* Up .* alpine1\$"
expect_running alpine1
