# shellcheck shell=bash
# Sourced by every lab script (tests/lab/task*.sh, walkthrough.sh).
#
# What it gives a script:
#   - `set -euo pipefail`;
#   - a fresh cnmctl store in a temp dir (CNMCTL_ROOT / CNMCTL_RUN_ROOT), emptied and removed on
#     exit: containers removed, networks removed, links the script made deleted. With
#     LAB_KEEP_STATE=1 the store in the environment is used and left alone, so that several
#     scripts share one state like a student's session (walkthrough.sh does this);
#   - the working directory is the repository's root, so steps name tests/lab/... and tools/...
#     as a student in a clone types them;
#   - `ensure_alpine_image`: the `alpine` image (tools/mkimage-busybox | cnmctl import - alpine:
#     the host's busybox-static), imported quietly into the store unless it is there;
#   - `step`: prints `$ command` (bold on a tty) and runs it, showing its output like the
#     reference recordings; its stdout is kept in $OUT for the checks that follow;
#   - `expect_*`: checks that stop the script with a clear message when they fail.

set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_REPO=$(cd "$LAB_DIR/../.." && pwd)
cd "$LAB_REPO"
LAB_SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/cnmctl-lab.XXXXXX")
LAB_OWNS_STATE=0
OUT=""
STEP_RC=0

if [[ -t 1 ]]; then
    _LAB_BOLD=$'\e[1m' _LAB_RED=$'\e[1;31m' _LAB_GREEN=$'\e[32m' _LAB_DIM=$'\e[2m' _LAB_OFF=$'\e[0m'
else
    _LAB_BOLD="" _LAB_RED="" _LAB_GREEN="" _LAB_DIM="" _LAB_OFF=""
fi

# ---------------------------------------------------------------------------------------------
# Failing and checking

# fail MESSAGE [DETAIL...]: stop the script, saying what was expected and what happened.
fail() {
    {
        printf '\n%sLAB FAILED (%s): %s%s\n' "$_LAB_RED" "$(basename "$0")" "$1" "$_LAB_OFF"
        shift
        local line
        for line in "$@"; do
            printf '%s\n' "$line" | sed 's/^/    /'
        done
    } >&2
    exit 1
}

_ok() {
    printf '%s# ok: %s%s\n' "$_LAB_GREEN" "$1" "$_LAB_OFF"
}

# expect_eq WHAT ACTUAL EXPECTED
expect_eq() {
    if [[ "$2" != "$3" ]]; then
        fail "$1" "expected: $3" "actual:   $2"
    fi
    _ok "$1"
}

# expect_match WHAT TEXT REGEX (extended regex, searched line by line as grep -E does)
expect_match() {
    if ! grep -Eq -- "$3" <<<"$2"; then
        fail "$1" "expected a line matching: $3" "in:" "${2:-<empty>}"
    fi
    _ok "$1"
}

# expect_no_match WHAT TEXT REGEX
expect_no_match() {
    if grep -Eq -- "$3" <<<"$2"; then
        fail "$1" "expected no line matching: $3" "in:" "$2"
    fi
    _ok "$1"
}

# expect_count WHAT TEXT REGEX N: exactly N lines match
expect_count() {
    local n
    n=$(grep -Ec -- "$3" <<<"$2" || true)
    if [[ "$n" != "$4" ]]; then
        fail "$1" "expected $4 line(s) matching: $3, found $n in:" "${2:-<empty>}"
    fi
    _ok "$1"
}

# json TEXT EXPR: evaluate a Python expression over the JSON document TEXT (bound to `d`) and
# print the result (strings as they are, anything else as JSON), for checks on inspect output.
_LAB_JSON_PY='
import json, sys
d = json.loads(sys.stdin.read())
v = eval(sys.argv[1], {"d": d, "sorted": sorted, "len": len})
print(v if isinstance(v, str) else json.dumps(v, sort_keys=True))
'
json() {
    python3 -c "$_LAB_JSON_PY" "$2" <<<"$1" || fail "could not evaluate $2 on:" "$1"
}

# ---------------------------------------------------------------------------------------------
# Showing and running commands

# step 'COMMAND' | step <<'EOF' ... EOF
# Prints `$ COMMAND` as a student would type it, runs it (through eval, so pipes and $(...)
# work), shows its output, keeps its stdout in $OUT and fails the script if it exits non-zero.
step() {
    _run_step 0 "$@"
}

# step_may_fail: the same, for a command whose failure is part of the lesson; its exit status
# is printed like the reference does ("[exit status 1]") and kept in $STEP_RC.
step_may_fail() {
    _run_step 1 "$@"
}

_run_step() {
    local may_fail=$1 cmd
    shift
    if (($#)); then cmd=$*; else cmd=$(cat); fi
    printf '\n%s$ %s%s\n' "$_LAB_BOLD" "$cmd" "$_LAB_OFF"
    STEP_RC=0
    eval "$cmd" </dev/null >"$LAB_SCRATCH/out" 2>"$LAB_SCRATCH/err" || STEP_RC=$?
    cat "$LAB_SCRATCH/out"
    cat "$LAB_SCRATCH/err" >&2
    OUT=$(cat "$LAB_SCRATCH/out")
    if ((STEP_RC != 0)); then
        printf '[exit status %d]\n' "$STEP_RC"
        if ((may_fail == 0)); then
            fail "this command failed (exit status $STEP_RC): $cmd" \
                "stderr: $(cat "$LAB_SCRATCH/err")"
        fi
    fi
}

# note TEXT: a comment in the transcript, like the reference's "# ..." lines.
note() {
    printf '%s# %s%s\n' "$_LAB_DIM" "$*" "$_LAB_OFF"
}

# banner TITLE [LINE...]: the heading of a task, from the lesson.
banner() {
    local rule="================================================================================"
    printf '\n%s%s\n%s%s\n' "$_LAB_BOLD" "$rule" "$1" "$_LAB_OFF"
    shift
    local line
    for line in "$@"; do
        printf '  %s\n' "$line"
    done
    printf '%s%s%s\n' "$_LAB_BOLD" "$rule" "$_LAB_OFF"
}

# ---------------------------------------------------------------------------------------------
# Facts read quietly (no transcript): for set-up and checks

# Silent query; prints nothing and returns 1 when the object does not exist.
q() {
    cnmctl "$@" 2>/dev/null
}

network_exists() {
    q network inspect -f '{{.Name}}' "$1" >/dev/null
}

container_exists() {
    q inspect --type container -f '{{.Name}}' "$1" >/dev/null
}

# container_ip NAME NETWORK
container_ip() {
    q inspect -f "{{(index .NetworkSettings.Networks \"$2\").IPAddress}}" "$1"
}

# The container names listed under a network's Containers, sorted, space-separated.
network_members() {
    q network inspect -f '{{range .Containers}}{{.Name}} {{end}}' "$1" | tr ' ' '\n' | sed '/^$/d' |
        sort | paste -sd' ' -
}

# The lowest free address a new container gets on a /16 network whose containers took .2, .3, ...
# in order (Docker hands addresses out lowest first): 172.18.0.<2 + number of members>.
next_ip() {
    local prefix=$1 members
    members=$(network_members "$2")
    set -- $members
    printf '%s.%d\n' "$prefix" $((2 + $#))
}

# expect_running NAME: the container runs; otherwise show its state and log.
expect_running() {
    local status code log
    status=$(q inspect -f '{{.State.Status}}' "$1") || fail "container $1 does not exist"
    if [[ "$status" != running ]]; then
        code=$(q inspect -f '{{.State.ExitCode}}' "$1" || true)
        log=$(cnmctl logs "$1" 2>&1 | tail -n 5 || true)
        fail "container $1 should be running (like Docker's), but its status is '$status' (exit code $code)" \
            "its command is: $(q inspect -f '{{.Path}} {{join .Args " "}}' "$1" || true)" \
            "last lines of 'cnmctl logs $1':" "$log"
    fi
    _ok "$1 is running"
}

# ensure_network NAME: create it quietly unless it exists (for a task run on its own).
ensure_network() {
    if ! network_exists "$1"; then
        note "set-up for this task on its own: creating network $1"
        cnmctl network create "$1" >/dev/null
    fi
}

# ensure_container NAME NETWORK: run `alpine sleep 3600` quietly unless the container exists.
ensure_container() {
    if ! container_exists "$1"; then
        ensure_alpine_image
        note "set-up for this task on its own: cnmctl run -d --name $1 --network $2 alpine sleep 3600"
        cnmctl run -d --name "$1" --network "$2" alpine sleep 3600 >/dev/null
    fi
    expect_running "$1"
}

# ensure_alpine_image: import the busybox image as `alpine` quietly unless the store has it (the
# walkthrough imports it as a step of its own, before the tasks).
ensure_alpine_image() {
    if ! image_exists alpine; then
        note "set-up for this task on its own: tools/mkimage-busybox | cnmctl import - alpine"
        tools/mkimage-busybox | cnmctl import - alpine >/dev/null ||
            fail "could not import the alpine image (tools/mkimage-busybox needs busybox-static)"
    fi
}

image_exists() {
    q image inspect -f '{{.Id}}' "$1" >/dev/null
}

# ---------------------------------------------------------------------------------------------
# The store and the clean-up

command -v cnmctl >/dev/null || fail "cnmctl is not on PATH (use: make lab, or PATH=\$PWD/.venv/bin:\$PATH)"
[[ $(id -u) == 0 ]] || fail "the lab needs root (run it in a throwaway namespace: make lab)"

_link_names() {
    ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | sort
}

_LAB_LINKS_BEFORE=$(_link_names)

if [[ "${LAB_KEEP_STATE:-}" != 1 ]]; then
    LAB_OWNS_STATE=1
    export CNMCTL_ROOT="$LAB_SCRATCH/lib" CNMCTL_RUN_ROOT="$LAB_SCRATCH/run"
fi

# Remove every container and user-defined network of this (owned) store, delete the links that
# appeared while the script ran, and unmount whatever is left under the scratch dir.
lab_cleanup_store() {
    local ids nets name
    ids=$(q ps -aq || true)
    if [[ -n "$ids" ]]; then
        # shellcheck disable=SC2086
        cnmctl rm -f $ids >/dev/null 2>&1 || true
    fi
    nets=$(q network ls --filter type=custom --format '{{.Name}}' || true)
    for name in $nets; do
        case $name in bridge | host | none) continue ;; esac
        cnmctl network rm "$name" >/dev/null 2>&1 || true
    done
    for name in $(comm -13 <(echo "$_LAB_LINKS_BEFORE") <(_link_names)); do
        ip link del "$name" 2>/dev/null || true
    done
    findmnt -rn -o TARGET | grep -F "$LAB_SCRATCH/" | sort -r | while read -r name; do
        umount -l "$name" 2>/dev/null || true
    done
}

_lab_exit() {
    local rc=$?
    set +e
    if ((LAB_OWNS_STATE)); then
        lab_cleanup_store
    fi
    rm -rf "$LAB_SCRATCH"
    exit "$rc"
}
trap _lab_exit EXIT
