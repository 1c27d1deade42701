"""Docker 20.10's flags per command, to tell a Docker flag cnmctl lacks from a typo.

Data from Docker's CLI reference (docs.docker.com/engine/reference/commandline/,
the 20.10 pages): each command's flags as `-s/--long` or `--long`. Only read
when click has refused a flag, so nothing here costs a normal command.
"""

from __future__ import annotations

_RUN_CREATE = (
    "--add-host -a/--attach --blkio-weight --blkio-weight-device --cap-add --cap-drop "
    "--cgroup-parent --cgroupns --cidfile --cpu-count --cpu-percent --cpu-period --cpu-quota "
    "--cpu-rt-period --cpu-rt-runtime -c/--cpu-shares --cpus --cpuset-cpus --cpuset-mems "
    "--device --device-cgroup-rule --device-read-bps --device-read-iops --device-write-bps "
    "--device-write-iops --disable-content-trust --dns --dns-option --dns-search --domainname "
    "--entrypoint -e/--env --env-file --expose --gpus --group-add --health-cmd "
    "--health-interval --health-retries --health-start-period --health-timeout --help "
    "-h/--hostname --init -i/--interactive --ip --ip6 --ipc --isolation --kernel-memory "
    "-l/--label --label-file --link --link-local-ip --log-driver --log-opt --mac-address "
    "-m/--memory --memory-reservation --memory-swap --memory-swappiness --mount --name "
    "--network --network-alias --no-healthcheck --oom-kill-disable --oom-score-adj --pid "
    "--pids-limit --platform --privileged -p/--publish -P/--publish-all --pull --read-only "
    "--restart --rm --runtime --security-opt --shm-size --stop-signal --stop-timeout "
    "--storage-opt --sysctl --tmpfs -t/--tty --ulimit -u/--user --userns --uts -v/--volume "
    "--volume-driver --volumes-from -w/--workdir"
)
_PS = "-a/--all -f/--filter --format -n/--last -l/--latest --no-trunc -q/--quiet -s/--size"
_RM = "-f/--force -l/--link -v/--volumes"
_INSPECT = "-f/--format -s/--size --type"

FLAGS = {
    "": ("--config -c/--context -D/--debug --help -H/--host -l/--log-level --tls "
         "--tlscacert --tlscert --tlskey --tlsverify -v/--version"),
    "run": _RUN_CREATE + " -d/--detach --detach-keys --sig-proxy",
    "create": _RUN_CREATE,
    "start": "-a/--attach --checkpoint --checkpoint-dir --detach-keys -i/--interactive",
    "stop": "-t/--time",
    "restart": "-t/--time",
    "kill": "-s/--signal",
    "rm": _RM,
    "ps": _PS,
    "logs": "--details -f/--follow --since -n/--tail -t/--timestamps --until",
    "wait": "",
    "exec": ("-d/--detach --detach-keys -e/--env --env-file -i/--interactive --privileged "
             "-t/--tty -u/--user -w/--workdir"),
    "inspect": _INSPECT,
    "container inspect": "-f/--format -s/--size",
    "port": "",
    "pause": "",
    "unpause": "",
    "rename": "",
    "attach": "--detach-keys --no-stdin --sig-proxy",
    "top": "",
    "container prune": "--filter -f/--force",
    "version": "-f/--format --kubeconfig",
    "info": "-f/--format",
    "network create": ("--attachable --aux-address --config-from --config-only -d/--driver "
                       "--gateway --ingress --internal --ip-range --ipam-driver --ipam-opt "
                       "--ipv6 --label -o/--opt --scope --subnet"),
    "network ls": "-f/--filter --format --no-trunc -q/--quiet",
    "network inspect": "-f/--format -v/--verbose",
    "network rm": "",
    "network prune": "--filter -f/--force",
    "network connect": "--alias --driver-opt --ip --ip6 --link --link-local-ip",
    "network disconnect": "-f/--force",
    "system prune": "-a/--all --filter -f/--force --volumes",
    "system info": "-f/--format",
}

# cnmctl's spelling of a command -> Docker's key above (aliases, `container X`).
_ALIASES = {"ls": "ps", "list": "ps", "remove": "rm", "network list": "network ls",
            "network remove": "network rm"}


def docker_command(words: list[str]) -> str:
    """The key in FLAGS of a cnmctl command path without `cnmctl`: `container run`
    is `run`, `container ls` is `ps`, `container inspect` stays itself."""
    if words[:1] == ["container"] and len(words) > 1 and words[1] not in ("inspect", "prune"):
        words = words[1:]
    key = " ".join(words)
    return _ALIASES.get(key, key)


def docker_flag(command: str, option: str) -> str | None:
    """Docker's long name of `option` (`-m` or `--memory`) if Docker's `command`
    has it, else None."""
    for spec in FLAGS.get(command, "").split():
        short, _, long = spec.rpartition("/")
        if option in (short, long):
            return long
    return None


def unknown_flag(words: list[str], option: str, help_hint: str) -> str:
    """The one line for a flag click does not know: Docker's `unknown flag` wording,
    and whether Docker's own command has it."""
    what = (f"unknown shorthand flag: '{option[1:]}' in {option}"
            if not option.startswith("--") else f"unknown flag: {option}")
    command = docker_command(words)
    long = docker_flag(command, option)
    if long is None:
        return f"{what} (see '{help_hint}')"
    named = "" if long == option else f" as {long}"
    whose = f"Docker's {command}" if command else "Docker"
    return f"{what} ({whose} has it{named}; cnmctl does not support it)"
