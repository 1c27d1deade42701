#!/usr/bin/env bash
# `make lab`: the lesson's hands-on tasks (cnm-lesson.txt, section 7) in one session, as a student
# types them with `docker` -> `cnmctl` and `alpine` -> a busybox rootfs (`--rootfs "$ALPINE"`).
# Tasks share one state (LAB_KEEP_STATE=1), so Task 5's c3 joins Task 1's c1 and c2, and so on.
# Stops at the first failed expectation with a non-zero exit.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

banner "The Container Network Model, hands-on, with cnmctl" \
    "Every command is printed as '\$ command', then its output, then the checks ('# ok: ...')" \
    "against what Docker 20.10 showed for the same command." \
    "The alpine image is a busybox rootfs: ALPINE=$ALPINE" \
    "Task 3 (remote drivers) is not part of this walkthrough."

export LAB_KEEP_STATE=1 ALPINE CNMCTL_ROOT CNMCTL_RUN_ROOT

run_task() {
    local script=$1 rc=0
    bash "$LAB_DIR/$script" || rc=$?
    if ((rc != 0)); then
        printf '\n%sStopped: %s failed (exit status %d); the tasks after it were not run.%s\n' \
            "$_LAB_RED" "$script" "$rc" "$_LAB_OFF" >&2
        exit "$rc"
    fi
}

run_task task1.sh
run_task task2.sh
run_task task4.sh
run_task task5.sh
run_task task6.sh

banner "Clean-up" "- Remove the containers, then the networks: their bridges and veths go too."
step 'cnmctl rm -f c1 c2 c3 c4 d1 d2 d3'
expect_eq "rm -f prints each name" "$OUT" "$(printf 'c1\nc2\nc3\nc4\nd1\nd2\nd3')"
step 'cnmctl network rm cnm-net other-net'
expect_eq "network rm prints each name" "$OUT" "$(printf 'cnm-net\nother-net')"
step 'ip link show type bridge'
expect_no_match "no br-* bridge is left" "$OUT" '^[0-9]+: br-'
step_may_fail 'ip link show | grep veth'
expect_eq "no veth is left" "$OUT" ""

printf '\n%sAll lab tasks passed%s\n' "$_LAB_GREEN" "$_LAB_OFF"
