"""Container commands: run, create, start, stop, restart, kill, rm, ps, logs, wait,
exec, top, inspect (and `container inspect`), port, pause, unpause, rename, attach;
plus the hidden `internal exited` hook the supervisor calls."""

from __future__ import annotations

import sys

import click

from cnmctl.cli.params import KeyValue, format_option

PS_FILTERS = ("id", "name", "status", "network", "exited")
PS_DEFAULT_FORMAT = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedAt}}\t{{.Status}}\t"
                     "{{.Ports}}\t{{.Names}}")
PS_HEADERS = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED",
    "RunningFor": "CREATED", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES",
    "State": "STATE", "Networks": "NETWORKS", "Labels": "LABELS", "Mounts": "MOUNTS",
    "Size": "SIZE",
}


def container_options(func):
    """The options `run` and `create` share."""
    options = [
        click.option("--name", help="Assign a name to the container."),
        click.option("--network", "--net", "networks", multiple=True, metavar="NET",
                     help="Connect to a network: a name or ID, bridge (default), host, none, "
                          "or container:NAME (repeatable)."),
        click.option("--ip", default="", help="IPv4 address on the network."),
        click.option("--ip6", default="", help="IPv6 address on the network."),
        click.option("--network-alias", "aliases", multiple=True,
                     help="Network-scoped DNS alias (repeatable): a DNS name; user-defined "
                          "networks only."),
        click.option("-h", "--hostname", default="", help="Container host name."),
        click.option("--mac-address", "mac", default="", help="Container MAC address."),
        click.option("--dns", multiple=True,
                     help="DNS servers (repeatable): resolv.conf's on the default bridge, the "
                          "embedded DNS's (127.0.0.11) upstreams on user networks."),
        click.option("--dns-search", multiple=True,
                     help="DNS search domains for resolv.conf (repeatable)."),
        click.option("--dns-option", multiple=True,
                     help="Options for resolv.conf (repeatable)."),
        click.option("--add-host", multiple=True, metavar="NAME:IP",
                     help="Add a custom host-to-IP mapping (repeatable)."),
        click.option("--link", "links", multiple=True, metavar="NAME[:ALIAS]",
                     help="Legacy link (repeatable) to a container that must exist at create "
                          "and run at start: on the default bridge a line in /etc/hosts, on a "
                          "user network a DNS alias only this container resolves."),
        click.option("-e", "--env", multiple=True, metavar="KEY=VALUE",
                     help="Set environment variables (repeatable)."),
        click.option("-p", "--publish", multiple=True,
                     metavar="[IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]",
                     help="Publish a container's port or range of ports to the host "
                          "(repeatable): 8080:80, 127.0.0.1:8080:80/udp, 8000-8002:80-82, "
                          "8000-8010:80 (one free port of the range), or 80 (any free "
                          "port); PROTO is tcp (default), udp or sctp."),
        click.option("-P", "--publish-all", is_flag=True,
                     help="Publish every exposed port on a free host port."),
        click.option("--expose", multiple=True, metavar="PORT[-END][/PROTO]",
                     help="Expose a port or a range of ports without publishing them "
                          "(repeatable)."),
        click.option("-w", "--workdir", default="", help="Working directory inside the container."),
        click.option("--rm", "auto_remove", is_flag=True,
                     help="Remove the container when it exits."),
        click.option("--restart", default="", metavar="POLICY",
                     help="Restart policy when the container exits: no (default), always, "
                          "unless-stopped, on-failure[:MAX_RETRIES]; after a reboot, "
                          "`cnmctl system boot` restarts them."),
        click.option("--rootfs", default="", metavar="DIR",
                     help="Run in DIR (e.g. a busybox tree; made the root by pivot_root) "
                          "instead of the host's filesystem."),
        click.option("-u", "--user", default="", metavar="NAME|UID[:GROUP|GID]",
                     help="Run as this user (names from the container's /etc/passwd and "
                          "/etc/group); a user other than root has no capabilities."),
        click.option("--cap-add", multiple=True, metavar="CAP",
                     help="Add a Linux capability to Docker's default set (repeatable; "
                          "NET_ADMIN or CAP_NET_ADMIN, any case; ALL)."),
        click.option("--cap-drop", multiple=True, metavar="CAP",
                     help="Drop a Linux capability from the default set (repeatable; ALL)."),
        click.option("--privileged", is_flag=True,
                     help="Every capability, the host's /dev, /sys writable, no masked "
                          "/proc paths."),
        click.option("--read-only", is_flag=True,
                     help="Mount the container's root (--rootfs) read-only; /dev, /dev/shm "
                          "and its /etc/hosts, /etc/hostname, /etc/resolv.conf stay "
                          "writable."),
        click.option("-i", "--interactive", is_flag=True,
                     help="Keep STDIN open (attached to yours in the foreground)."),
        click.option("-t", "--tty", is_flag=True,
                     help="Allocate a pseudo-terminal (`run -it`: yours, in raw mode; "
                          "`run -dit`: kept for `attach`)."),
        click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED,
                       metavar="IMAGE [COMMAND] [ARG]... | COMMAND [ARG]..."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


detach_keys_option = click.option(
    "--detach-keys", default="", metavar="KEYS",
    help="Keys that detach and leave the container running (default ctrl-p,ctrl-q): "
         "comma-separated, each a character or ctrl-X.")


@click.command(context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Run in the background and print the ID.")
@detach_keys_option
@click.option("--sig-proxy", type=click.BOOL, default=True, is_flag=False, flag_value=True,
              show_default=True, metavar="BOOL",
              help="Pass the signals cnmctl receives on to the container (no terminal).")
@container_options
@click.pass_obj
def run(obj, detach, **opts) -> None:
    """Create and start a container running IMAGE's command (or COMMAND in it), or a
    host COMMAND when the first word names no image (see `cnmctl images`).

    On a user-defined network, containers resolve each other's names, aliases,
    short IDs and host names through an embedded DNS server at 127.0.0.11; the
    default bridge has none (use --link there)."""
    from cnmctl.cli.direct import run_container

    sys.exit(run_container(obj.engine, opts, detach))


@click.command(context_settings={"allow_interspersed_args": False})
@container_options
@click.pass_obj
def create(obj, **opts) -> None:
    """Create a container of IMAGE, or of a host COMMAND when the first word names
    no image (its sandbox is made at start), and print its ID.

    On a user-defined network, containers resolve each other's names, aliases,
    short IDs and host names through an embedded DNS server at 127.0.0.11; the
    default bridge has none (use --link there)."""
    from cnmctl.cli.direct import create_container

    click.echo(create_container(obj.engine, opts).id)


def _each(obj, verb: str, refs, **opts) -> None:
    """Run a per-container verb over `refs` (shared with the click-free path)."""
    from cnmctl.cli.direct import container_verb, each_ref, emit

    sys.exit(emit(*each_ref(refs, container_verb(obj.engine, verb, opts))))


@click.command()
@click.option("-a", "--attach", is_flag=True,
              help="Attach its output (and exit with its status).")
@click.option("-i", "--interactive", is_flag=True, help="Attach its STDIN too.")
@detach_keys_option
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def start(obj, attach, interactive, detach_keys, containers) -> None:
    """Start one or more created or stopped containers."""
    from cnmctl.runtime.attach import DEFAULT_DETACH_KEYS, parse_detach_keys

    parse_detach_keys(detach_keys or DEFAULT_DETACH_KEYS)  # refused before anything starts
    if not (attach or interactive):
        _each(obj, "start", containers)  # exits
    if len(containers) > 1:
        from cnmctl.errors import InvalidArgument

        raise InvalidArgument("you cannot start and attach multiple containers at once")
    sys.exit(obj.engine.start_attached(containers[0], stdin=interactive,
                                       detach_keys=detach_keys or DEFAULT_DETACH_KEYS))


@click.command()
@detach_keys_option
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN.")
@click.option("--sig-proxy", type=click.BOOL, default=True, is_flag=False, flag_value=True,
              show_default=True, metavar="BOOL",
              help="Pass the signals cnmctl receives on to the container (no terminal).")
@click.argument("container")
@click.pass_obj
def attach(obj, detach_keys, no_stdin, sig_proxy, container) -> None:
    """Attach your terminal to a running container: its terminal (-t) or its output,
    and its STDIN if it keeps one open (-i). Ctrl-P Ctrl-Q (or --detach-keys)
    detaches and leaves it running."""
    from cnmctl.runtime.attach import DEFAULT_DETACH_KEYS, parse_detach_keys

    parse_detach_keys(detach_keys or DEFAULT_DETACH_KEYS)
    sys.exit(obj.engine.attach_container(container, stdin=not no_stdin,
                                         detach_keys=detach_keys or DEFAULT_DETACH_KEYS,
                                         sig_proxy=sig_proxy))


timeout_option = click.option("-t", "--time", "timeout", default=10, show_default=True,
                              type=int, help="Seconds to wait before killing the container.")


@click.command()
@timeout_option
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def stop(obj, timeout, containers) -> None:
    """Stop running containers: SIGTERM, then SIGKILL after the timeout."""
    _each(obj, "stop", containers, time=timeout)


@click.command()
@timeout_option
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def restart(obj, timeout, containers) -> None:
    """Restart one or more containers."""
    _each(obj, "restart", containers, time=timeout)


@click.command()
@click.option("-s", "--signal", "sig", default="KILL", show_default=True,
              help="Signal to send (name or number).")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def kill(obj, sig, containers) -> None:
    """Send a signal to running containers."""
    _each(obj, "kill", containers, signal=sig)


@click.command()
@click.option("-f", "--force", is_flag=True, help="Kill and remove a running container.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def rm(obj, force, containers) -> None:
    """Remove one or more containers."""
    _each(obj, "rm", containers, force=force)


@click.command()
@click.option("-a", "--all", "show_all", is_flag=True, help="Show all containers.")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output.")
@click.option("-f", "--filter", "filters", multiple=True, type=KeyValue(),
              help="Filter output (id, name, status, network, exited).")
@click.option("--format", "fmt", metavar="TEMPLATE",
              help="'table', 'table TEMPLATE', 'json', or a Go template.")
@click.pass_obj
def ps(obj, show_all, quiet, no_trunc, filters, fmt) -> None:
    """List containers (running ones unless -a)."""
    from cnmctl.cli.direct import parse_filters
    from cnmctl.cli.render import format_rows
    from cnmctl.views import ContainerRow

    engine = obj.engine
    wanted = parse_filters(filters, PS_FILTERS)
    networks = {n.id: n for n in engine.networks()}
    rows = []
    for ctr in engine.reap(engine.containers()):  # a container whose process is gone: exited
        if not show_all and ctr.status not in ("running", "restarting") and "status" not in wanted:
            continue
        row = ContainerRow(ctr, networks, truncate=not no_trunc)
        if row.matches(wanted):
            rows.append(row)
    if quiet:
        click.echo("".join(f"{r.ID}\n" for r in rows), nl=False)
        return
    if not fmt or fmt == "table":
        fmt = PS_DEFAULT_FORMAT
    click.echo(format_rows(fmt, rows, header=PS_HEADERS), nl=False)


@click.command()
@click.option("--details", is_flag=True, help="Show extra details provided to logs.")
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("--since", metavar="TIME",
              help="Show logs since a timestamp (e.g. 2013-01-02T13:23:37Z) or relative "
                   "(e.g. 42m for 42 minutes).")
@click.option("-n", "--tail", default="all", show_default=True,
              help="Number of lines to show from the end of the logs.")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.option("--until", metavar="TIME",
              help="Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative "
                   "(e.g. 42m for 42 minutes).")
@click.argument("container")
@click.pass_obj
def logs(obj, details, follow, since, tail, timestamps, until, container) -> None:
    """Fetch the output of a container: stdout and stderr in the order written."""
    from cnmctl.cli.timefilter import parse_log_time
    from cnmctl.runtime.logs import tail_count

    count = tail_count(tail)  # all refused before the container is looked up
    since_ns = parse_log_time(since) if since else None
    until_ns = parse_log_time(until) if until else None
    obj.engine.show_logs(container, follow=follow, tail=count, timestamps=timestamps,
                         details=details, since=since_ns, until=until_ns)


@click.command()
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def wait(obj, containers) -> None:
    """Block until containers stop, then print their exit codes."""
    _each(obj, "wait", containers)


@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Run the command in the background.")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open.")
@click.option("-t", "--tty", is_flag=True,
              help="Allocate a pseudo-terminal (`exec -it c1 sh`: yours, in raw mode).")
@click.option("-e", "--env", multiple=True, metavar="KEY=VALUE", help="Set environment variables.")
@click.option("-w", "--workdir", default="", help="Working directory inside the container.")
@click.option("-u", "--user", default="", metavar="NAME|UID[:GROUP|GID]",
              help="Run as this user (default: the container's).")
@click.option("--privileged", is_flag=True,
              help="Give the command every capability.")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def exec_(obj, detach, interactive, tty, env, workdir, user, privileged, container,
          command) -> None:
    """Run a command in a running container: in its namespaces (PID included) and
    root, with its capabilities and user unless -u or --privileged."""
    from cnmctl.cli.app import EXIT_USAGE
    from cnmctl.engine.attach import require_terminal
    from cnmctl.errors import InvalidArgument
    from cnmctl.validate import check_env, check_text

    try:
        check_env(env)  # before anything is looked up; a flag error for Docker (125)
        check_text(user, "--user value")
    except InvalidArgument as exc:
        exc.exit_code = EXIT_USAGE
        raise
    require_terminal(tty and interactive and not detach)
    sys.exit(obj.engine.exec_container(container, list(command), env=list(env),
                                       workdir=workdir, detach=detach,
                                       interactive=interactive, user=user,
                                       privileged=privileged, tty=tty and not detach))


@click.command(context_settings={"allow_interspersed_args": False,
                                "ignore_unknown_options": True})
@click.argument("container")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED, metavar="[ps OPTIONS]")
@click.pass_obj
def top(obj, container, ps_args) -> None:
    """Display the running processes of a container: the host's `ps` (`-ef` unless
    ps options are given), with its header, keeping the container's rows."""
    from cnmctl.cli.render import tabwrite

    titles, rows = obj.engine.top_container(container, list(ps_args) or ["-ef"])
    lines = ["\t".join(titles), *("\t".join(row) for row in rows)]
    click.echo(tabwrite(lines, minwidth=20), nl=False)  # Docker's tabwriter for top


@click.command()
@format_option()
@click.option("--type", "kind", type=click.Choice(["container", "image", "network"]),
              help="Only look for objects of this type.")
@click.argument("objects", nargs=-1, required=True)
@click.pass_obj
def inspect(obj, fmt, kind, objects) -> None:
    """Display detailed information on containers, images or networks."""
    from cnmctl.cli.direct import emit, object_inspect

    sys.exit(emit(*object_inspect(obj.engine, objects, fmt, kind)))


@click.command("inspect")
@format_option()
@click.option("-s", "--size", is_flag=True,
              help="Add SizeRw (the container's logs and files) and SizeRootFs (0: no "
                   "image layers).")
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def container_inspect(obj, fmt, size, containers) -> None:
    """Display detailed information on one or more containers."""
    from cnmctl.cli.direct import emit, object_inspect

    sys.exit(emit(*object_inspect(obj.engine, containers, fmt, "container", size)))


@click.command()
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def pause(obj, containers) -> None:
    """Pause all processes within one or more containers (the cgroup freezer)."""
    _each(obj, "pause", containers)


@click.command()
@click.argument("containers", nargs=-1, required=True)
@click.pass_obj
def unpause(obj, containers) -> None:
    """Unpause all processes within one or more containers."""
    _each(obj, "unpause", containers)


@click.command()
@click.argument("container")
@click.argument("new_name")
@click.pass_obj
def rename(obj, container, new_name) -> None:
    """Rename a container: its name, and on user-defined networks the name the
    embedded DNS answers, at once."""
    obj.engine.rename_container(container, new_name)


@click.command()
@click.argument("container")
@click.argument("private_port", required=False, metavar="[PRIVATE_PORT[/PROTO]]")
@click.pass_obj
def port(obj, container, private_port) -> None:
    """List a container's port mappings, or the host addresses of one port.

    Each published port as `80/tcp -> 0.0.0.0:8080`; with PRIVATE_PORT (tcp
    unless /PROTO is given) only its host addresses, as `0.0.0.0:8080`."""
    from cnmctl.ports import port_lines

    lines = port_lines(obj.engine.published_ports(container), container, private_port)
    click.echo("".join(f"{line}\n" for line in lines), nl=False)


@click.group(hidden=True)
def internal() -> None:
    """Hooks cnmctl's own helper processes call."""


@internal.command("exited")
@click.argument("container_id")
@click.argument("code", type=int)
@click.argument("pid", type=int)
@click.pass_obj
def exited(obj, container_id, code, pid) -> None:
    """Record that a container's process exited (called by its supervisor)."""
    from cnmctl.engine import reports
    from cnmctl.validate import check_id

    check_id(container_id, "container")
    # Its stderr is the pipe of the command that started the container, maybe gone.
    reports.divert_stderr(obj.engine.run_root)
    # With a restart policy, this process waits out the back-off and starts it again.
    delay = obj.engine.container_exited(container_id, code, expected_pid=pid, waiter=True)
    if delay is not None:
        obj.engine.restart_after(container_id, delay)
