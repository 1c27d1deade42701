#!/usr/bin/env bash
# `make lab`: the lesson's hands-on tasks (cnm-lesson.txt, section 7) in one session, as a student
# types them with `docker` -> `cnmctl`, on an `alpine` image imported first from the host's busybox
# (tools/mkimage-busybox), then a shell in a container with `run -dit` and `attach` (shell.sh).
# Tasks share one state (LAB_KEEP_STATE=1), so Task 5's c3 joins Task 1's c1 and c2, and so on.
# Stops at the first failed expectation with a non-zero exit.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

banner "The Container Network Model, hands-on, with cnmctl" \
    "Every command is printed as '\$ command', then its output, then the checks ('# ok: ...')" \
    "against what Docker 20.10 showed for the same command." \
    "There is no registry: the alpine image is the host's busybox, imported first." \
    "Task 3 runs a real remote driver: the reference plugin of cnmctl's tests."

export LAB_KEEP_STATE=1 CNMCTL_ROOT CNMCTL_RUN_ROOT

run_task() {
    local script=$1 rc=0
    bash "$LAB_DIR/$script" || rc=$?
    if ((rc != 0)); then
        printf '\n%sStopped: %s failed (exit status %d); the tasks after it were not run.%s\n' \
            "$_LAB_RED" "$script" "$rc" "$_LAB_OFF" >&2
        exit "$rc"
    fi
}

banner "Before the tasks: the alpine image" \
    "- Where a student would 'docker pull alpine', make a small busybox image named alpine" \
    "  (a root filesystem tarball) and import it: docker import works the same way."
step 'tools/mkimage-busybox | cnmctl import - alpine'
expect_match "import prints the new image's ID" "$OUT" '^sha256:[0-9a-f]{64}$'
ALPINE_ID=$OUT
step 'cnmctl images'
expect_match "images lists alpine:latest with its short ID" "$OUT" \
    "^alpine +latest +${ALPINE_ID:7:12} "

run_task task1.sh
run_task task2.sh
run_task task3.sh
run_task task4.sh
run_task task5.sh
run_task task6.sh
run_task shell.sh

banner "Clean-up" "- Remove the containers, then the networks (their bridges and veths go too), then the image."
step 'cnmctl rm -f c1 c2 c3 c4 d1 d2 d3 alpine1'
expect_eq "rm -f prints each name" "$OUT" "$(printf 'c1\nc2\nc3\nc4\nd1\nd2\nd3\nalpine1')"
step 'cnmctl network rm cnm-net other-net'
expect_eq "network rm prints each name" "$OUT" "$(printf 'cnm-net\nother-net')"
step 'cnmctl rmi alpine'
expect_eq "rmi untags alpine and deletes the image: no container uses it any more" "$OUT" \
    "$(printf 'Untagged: alpine:latest\nDeleted: %s' "$ALPINE_ID")"
step 'ip link show type bridge'
expect_no_match "no br-* bridge is left" "$OUT" '^[0-9]+: br-'
step_may_fail 'ip link show | grep veth'
expect_eq "no veth is left" "$OUT" ""

printf '\n%sAll lab tasks passed%s\n' "$_LAB_GREEN" "$_LAB_OFF"
