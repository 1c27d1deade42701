"""The commands scripts call in loops, run without click.

`network ls/inspect/create/rm`, `inspect`, `run`, `create` and
`start/stop/restart/kill/rm/wait/pause/unpause` (and the same in the `container`
group) are what lab scripts run over and over (`cnmctl inspect -f
'{{.State.Pid}}' c1`). Importing click costs more than the rest of such a
command, so `fast_path` recognises their plain forms and runs them directly;
anything else (help, an unknown flag, a malformed value) returns None and
click parses it, with its usual messages. Both paths call the same functions
below, and a test checks that the option tables match the click commands'.
"""

from __future__ import annotations

from collections.abc import Callable

from cnmctl.filters import filter_matches, label_matches

LS_FILTERS = ("driver", "id", "label", "name", "scope", "type", "dangling")
LS_DEFAULT_FORMAT = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
LS_HEADERS = {
    "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
    "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT",
}


def parse_filters(pairs, allowed: tuple[str, ...]) -> dict[str, list[str]]:
    """`-f k=v` pairs -> {key: [values]}; an unknown key is Docker's error."""
    from cnmctl.errors import InvalidArgument

    filters: dict[str, list[str]] = {}
    for key, value in pairs:
        if key.rstrip("!") not in allowed:
            raise InvalidArgument(f"invalid filter '{key}'")
        filters.setdefault(key, []).append(value)
    return filters


def network_filter(filters: dict, busy: set[str] | None):
    """A predicate for `network ls -f`: same key ORs, different keys AND."""
    from cnmctl.errors import InvalidArgument

    for value in filters.get("type", []):
        if value not in ("custom", "builtin"):
            raise InvalidArgument(f"invalid filter: 'type'='{value}'")
    for value in filters.get("dangling", []):
        if value not in ("true", "1", "false", "0"):
            raise InvalidArgument(f"invalid filter 'dangling={value}'")
    tests = {
        "driver": lambda n, v: n.driver == v,
        "id": lambda n, v: filter_matches(v, n.id),
        "name": lambda n, v: filter_matches(v, n.name),
        "label": lambda n, v: label_matches(n.labels, v),
        "scope": lambda n, v: n.scope == v,
        "type": lambda n, v: n.predefined == (v == "builtin"),
        "dangling": lambda n, v: (n.id not in busy) == (v in ("true", "1")),
    }
    return lambda net: all(any(tests[key](net, v) for v in values)
                           for key, values in filters.items())


def network_ls(engine, filters, fmt: str | None, no_trunc: bool, quiet: bool) -> str:
    """The output of `network ls`."""
    from cnmctl.cli.render import format_rows
    from cnmctl.views import NetworkRow

    wanted = parse_filters(filters, LS_FILTERS)
    busy = {e.network_id for e in engine.endpoints()} if "dangling" in wanted else None
    keep = network_filter(wanted, busy)
    rows = [NetworkRow(n, truncate=not no_trunc) for n in engine.networks() if keep(n)]
    if quiet:
        return "".join(f"{r.ID}\n" for r in rows)
    if not fmt or fmt == "table":
        fmt = LS_DEFAULT_FORMAT
    return format_rows(fmt, rows, header=LS_HEADERS)


def inspect_many(lookup: Callable[[str], dict], refs, fmt: str | None,
                 missing: Callable[[str, Exception], str]) -> tuple[str, list[str]]:
    """`inspect` of several objects: the output and one error line per missing ref."""
    from cnmctl.cli.render import inspect_output
    from cnmctl.errors import CnmError

    found, errors = [], []
    for ref in refs:
        try:
            found.append(lookup(ref))
        except CnmError as exc:
            errors.append(missing(ref, exc))
    out = inspect_output(found, fmt) if found or not fmt else ""
    return out, errors


def network_inspect(engine, refs, fmt: str | None) -> tuple[str, list[str]]:
    """The output and errors of `network inspect`."""
    from cnmctl.views import network_inspect as view

    def lookup(ref: str) -> dict:
        net = engine.find_network(ref)
        return view(net, engine.endpoints(net.id))

    return inspect_many(lookup, refs, fmt, lambda _ref, exc: str(exc))


def object_inspect(engine, refs, fmt: str | None, kind: str | None,
                   size: bool = False) -> tuple[str, list[str]]:
    """The output and errors of `inspect` (containers, images, then networks); with
    `size` (`container inspect -s`), SizeRw and SizeRootFs after GraphDriver, where
    Docker puts them."""
    from cnmctl.errors import NotFound

    def lookup(ref: str) -> dict:
        doc = engine.inspect_object(ref, kind)
        if not size:
            return doc
        from cnmctl.engine.lifecycle import folder_size

        sizes = {"SizeRw": folder_size(engine.container_dir(doc["Id"])), "SizeRootFs": 0}
        keys = list(doc)
        at = keys.index("GraphDriver") + 1
        return {k: doc[k] for k in keys[:at]} | sizes | {k: doc[k] for k in keys[at:]}

    return inspect_many(lookup, refs, fmt,
                        lambda ref, exc: f"No such {kind or 'object'}: {ref}"
                        if isinstance(exc, NotFound) else str(exc))


# -- the click-free path ---------------------------------------------------------

def _take_value(args: list[str], i: int, names: tuple[str, ...]) -> tuple[str | None, int]:
    """If args[i] is one of `names` with a value (`--x V` or `--x=V`), return (V, next i)."""
    arg = args[i]
    for name in names:
        if arg == name and i + 1 < len(args):
            return args[i + 1], i + 2
        if name.startswith("--") and arg.startswith(name + "="):
            return arg[len(name) + 1:], i + 1
    return None, i


def _bundled_flags(arg: str, flags: dict[str, tuple[str, ...]]) -> list[str]:
    """The flag keys of `-abc` when every letter is a one-letter flag, else []
    (a letter taking a value, as in `-t5`, is left to click)."""
    if len(arg) < 3 or arg[0] != "-" or arg[1] == "-":
        return []
    keys = [next((key for key, names in flags.items() if f"-{c}" in names), None)
            for c in arg[1:]]
    return [] if None in keys else keys


def _parse(args: list[str], flags: dict[str, tuple[str, ...]],
           valued: dict[str, tuple[str, ...]],
           interspersed: bool = True) -> tuple[dict, list[str]] | None:
    """Flags and values by name, and positional arguments (all the rest after the
    first one unless `interspersed`); None on anything unexpected."""
    opts: dict = {key: False for key in flags} | {key: [] for key in valued}
    refs: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            refs.extend(args[i + 1:])
            break
        if not arg.startswith("-") or arg == "-":
            if not interspersed:
                refs.extend(args[i:])
                break
            refs.append(arg)
            i += 1
            continue
        bundled = _bundled_flags(arg, flags)
        if bundled:  # `-dit`: several one-letter flags in one word, as click reads it
            for key in bundled:
                opts[key] = True
            i += 1
            continue
        for key, names in flags.items():
            if arg in names:
                opts[key] = True
                i += 1
                break
        else:
            for key, names in valued.items():
                value, j = _take_value(args, i, names)
                if value is not None:
                    opts[key].append(value)
                    i = j
                    break
            else:
                return None
    return opts, refs


def fast_path(argv: list[str]) -> int | None:
    """Run the plain form of a looped command without click; None if click must
    handle argv (help, an unknown flag, a malformed value)."""
    parsed = _parse_global(argv)
    if parsed is None:
        return None
    root, run_root, args = parsed
    if args[:2] == ["container", "inspect"]:  # containers only, no --type
        result = _parse(args[2:], CONTAINER_INSPECT_FLAGS, {"format": ("-f", "--format")})
        if result is None or not result[1] or len(result[0]["format"]) > 1:
            return None
        fmt, size = (result[0]["format"] or [None])[0], result[0]["size"]
        return _run(root, run_root,
                    lambda engine: object_inspect(engine, result[1], fmt, "container", size))
    if args[:1] == ["container"] and len(args) > 1:
        verb = "rm" if args[1] == "remove" else args[1]
        if verb not in ("run", "create", *CONTAINER_VERBS):
            return None
        args = [verb, *args[2:]]  # `container run`, `container rm`...: the top-level path
    if args[:2] in (["network", "ls"], ["network", "list"]):
        result = _parse(args[2:], {"quiet": ("-q", "--quiet"), "no_trunc": ("--no-trunc",)},
                        {"filter": ("-f", "--filter"), "format": ("--format",)})
        if result is None or result[1] or len(result[0]["format"]) > 1:
            return None
        opts = result[0]
        if any("=" not in f or f.startswith("=") for f in opts["filter"]):
            return None
        pairs = [tuple(f.split("=", 1)) for f in opts["filter"]]
        return _run(root, run_root, lambda engine: (network_ls(
            engine, pairs, (opts["format"] or [None])[0], opts["no_trunc"], opts["quiet"]), []))
    if args[:2] == ["network", "inspect"]:
        result = _parse(args[2:], {"verbose": ("-v", "--verbose")},
                        {"format": ("-f", "--format")})
        if result is None or not result[1] or len(result[0]["format"]) > 1:
            return None
        fmt = (result[0]["format"] or [None])[0]
        return _run(root, run_root, lambda engine: network_inspect(engine, result[1], fmt))
    if args[:2] == ["network", "create"]:
        return _create(root, run_root, args[2:])
    if args[:2] in (["network", "rm"], ["network", "remove"]):
        result = _parse(args[2:], {}, {})
        if result is None or not result[1]:
            return None
        return _run(root, run_root, lambda engine: network_rm(engine, result[1]))
    if args[:1] in (["run"], ["create"]):
        return _run_or_create(root, run_root, args[0], args[1:])
    if args[:1] and args[0] in CONTAINER_VERBS:
        return _container_verb(root, run_root, args[0], args[1:])
    if args[:1] == ["inspect"]:
        result = _parse(args[1:], {}, {"format": ("-f", "--format"), "type": ("--type",)})
        if result is None or not result[1] or len(result[0]["format"]) > 1:
            return None
        kinds = result[0]["type"]
        if len(kinds) > 1 or (kinds and kinds[0] not in ("container", "image", "network")):
            return None
        fmt = (result[0]["format"] or [None])[0]
        kind = kinds[0] if kinds else None
        return _run(root, run_root, lambda engine: object_inspect(engine, result[1], fmt, kind))
    return None


CONTAINER_INSPECT_FLAGS = {"size": ("-s", "--size")}

# Options of the commands handled here: {key: names} for flags and for valued options.
CREATE_FLAGS = {"ipv6": ("--ipv6",), "internal": ("--internal",),
                "attachable": ("--attachable",)}
CREATE_VALUED = {"driver": ("-d", "--driver"), "subnet": ("--subnet",),
                 "ip_range": ("--ip-range",), "gateway": ("--gateway",),
                 "aux_address": ("--aux-address",), "opt": ("-o", "--opt"),
                 "label": ("--label",), "ipam_driver": ("--ipam-driver",),
                 "ipam_opt": ("--ipam-opt",)}


def _pairs(values: list[str], allow_bare: bool) -> dict[str, str] | None:
    """KEY=VALUE options as a dict; None if one is malformed (click reports it)."""
    result = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not key or (not sep and not allow_bare):
            return None
        result[key] = value
    return result


def _create(root, run_root, args: list[str]) -> int | None:
    result = _parse(args, CREATE_FLAGS, CREATE_VALUED)
    if result is None or len(result[1]) != 1:
        return None
    opts, (name,) = result
    single = {k: opts[k] for k in ("driver", "ipam_driver")}
    if any(len(v) > 1 for v in single.values()):
        return None
    opts.update(opt=_pairs(opts["opt"], False), label=_pairs(opts["label"], True),
                ipam_opt=_pairs(opts["ipam_opt"], False),
                driver=(single["driver"] or ["bridge"])[0],
                ipam_driver=(single["ipam_driver"] or ["default"])[0])
    if None in (opts["opt"], opts["label"], opts["ipam_opt"]):
        return None
    return _run(root, run_root, lambda engine: (network_create(engine, name, opts) + "\n", []))


def network_create(engine, name: str, opts: dict) -> str:
    """`network create` from the parsed options, keyed by click's parameter names
    (KEY=VALUE options as pairs or dicts); the new network's ID."""
    from cnmctl.cli.validate import check_network_options

    check_network_options(opts)
    net = engine.create_network(
        name, driver=opts["driver"], subnets=opts["subnet"], ip_ranges=opts["ip_range"],
        gateways=opts["gateway"], aux_addresses=opts["aux_address"],
        enable_ipv6=opts["ipv6"], internal=opts["internal"], attachable=opts["attachable"],
        options=dict(opts["opt"]), labels=dict(opts["label"]), ipam_driver=opts["ipam_driver"],
        ipam_options=dict(opts["ipam_opt"]))
    if net.driver == "bridge" and not net.internal:
        blockers = engine.firewall_blockers()
        if blockers:
            import sys

            sys.stderr.write(f"Warning: {blockers}\n")
    return net.id


def network_rm(engine, refs) -> tuple[str, list[str]]:
    """`network rm`: each removed name, and one error line per failure."""
    from cnmctl.errors import CnmError

    out, errors = [], []
    for ref in refs:
        try:
            engine.remove_network(ref)
        except CnmError as exc:
            errors.append(str(exc))
        else:
            out.append(ref + "\n")
    return "".join(out), errors


def each_ref(refs, action: Callable[[str], str]) -> tuple[str, list[str], int]:
    """Apply `action` to every ref in turn (Docker goes on past failures): the
    lines it returned, one error line per failure, and the exit status."""
    from cnmctl.errors import CnmError

    out, errors, status = [], [], 0
    for ref in refs:
        try:
            out.append(action(ref) + "\n")
        except CnmError as exc:
            errors.append(str(exc))
            status = exc.exit_code
    return "".join(out), errors, status


def container_verb(engine, verb: str, opts: dict) -> Callable[[str], str]:
    """The per-container action of start, stop, restart, kill, rm, wait, pause and
    unpause."""
    if verb == "kill":
        from cnmctl.cli.validate import parse_signal

        number = parse_signal(opts["signal"])  # refused before touching any container

    def act(ref: str) -> str:
        if verb in ("stop", "restart"):
            engine.stop_container(ref, opts["time"])
        if verb in ("start", "restart"):
            engine.start_container(ref)
        if verb == "kill":
            engine.kill_container(ref, number)
        if verb == "rm":
            engine.remove_container(ref, force=opts["force"])
        if verb == "wait":
            return str(engine.wait_container(ref))
        if verb == "pause":
            engine.pause_container(ref)
        if verb == "unpause":
            engine.unpause_container(ref)
        return ref

    return act


# {verb: (flags, valued options, defaults of the valued options)}
CONTAINER_VERBS = {
    "start": ({}, {}, {}),
    "stop": ({}, {"time": ("-t", "--time")}, {"time": "10"}),
    "restart": ({}, {"time": ("-t", "--time")}, {"time": "10"}),
    "kill": ({}, {"signal": ("-s", "--signal")}, {"signal": "KILL"}),
    "rm": ({"force": ("-f", "--force")}, {}, {}),
    "wait": ({}, {}, {}),
    "pause": ({}, {}, {}),
    "unpause": ({}, {}, {}),
}


def _container_verb(root, run_root, verb: str, args: list[str]) -> int | None:
    flags, valued, defaults = CONTAINER_VERBS[verb]
    result = _parse(args, flags, valued)
    if result is None or not result[1]:
        return None
    opts, refs = result
    for key, default in defaults.items():
        opts[key] = opts[key][-1] if opts[key] else default
    if "time" in opts:
        try:
            opts["time"] = int(opts["time"])  # what click's INT accepts, no more
        except ValueError:
            return None  # click says what is wrong with it
    return _run(root, run_root, lambda engine: each_ref(refs, container_verb(engine, verb, opts)))


# `run` and `create`: flags, options taken once (the last wins, as with click) and
# repeatable options, keyed by the click parameter names.
RUN_FLAGS = {"detach": ("-d", "--detach"), "auto_remove": ("--rm",),
             "interactive": ("-i", "--interactive"), "tty": ("-t", "--tty"),
             "publish_all": ("-P", "--publish-all"), "privileged": ("--privileged",),
             "read_only": ("--read-only",)}
RUN_SINGLE = {"name": ("--name",), "ip": ("--ip",), "ip6": ("--ip6",),
              "hostname": ("-h", "--hostname"), "mac": ("--mac-address",),
              "workdir": ("-w", "--workdir"), "rootfs": ("--rootfs",),
              "restart": ("--restart",), "detach_keys": ("--detach-keys",),
              "user": ("-u", "--user")}
RUN_ONLY = ("detach", "detach_keys", "sig_proxy")  # not `create`'s
RUN_MULTIPLE = {"networks": ("--network", "--net"), "aliases": ("--network-alias",),
                "dns": ("--dns",), "dns_search": ("--dns-search",),
                "dns_option": ("--dns-option",), "add_host": ("--add-host",),
                "links": ("--link",), "env": ("-e", "--env"), "publish": ("-p", "--publish"),
                "expose": ("--expose",), "cap_add": ("--cap-add",),
                "cap_drop": ("--cap-drop",)}
EXIT_RUN_FAILED = 125  # Docker's code when the engine itself fails during `run`
HOST_PORTS_WARNING = "WARNING: Published ports are discarded when using host network mode"


def container_options(opts: dict) -> tuple[list[str], dict]:
    """The command and the engine's keyword options of `create` and `run`, checked."""
    from cnmctl.cli.validate import check_container_options, parse_restart_policy
    from cnmctl.engine.restart import check_restart_policy
    from cnmctl.errors import InvalidArgument
    from cnmctl.ports import parse_port_options

    check_container_options(opts)
    try:
        bindings, exposed = parse_port_options(opts["publish"], opts["expose"])
        restart = parse_restart_policy(opts["restart"] or "no", opts["auto_remove"])
    except InvalidArgument as exc:
        exc.exit_code = EXIT_RUN_FAILED  # Docker's CLI refuses these itself: 125, create too
        raise
    check_restart_policy(*restart)  # dockerd's check (1 from create), before any change
    return list(opts["command"]), {
        "name": opts["name"], "networks": opts["networks"], "ip": opts["ip"],
        "ip6": opts["ip6"], "aliases": opts["aliases"], "hostname": opts["hostname"],
        "mac": opts["mac"], "dns": opts["dns"], "dns_search": opts["dns_search"],
        "dns_options": opts["dns_option"], "extra_hosts": opts["add_host"],
        "links": opts["links"], "env": opts["env"], "workdir": opts["workdir"],
        "rootfs": opts["rootfs"], "auto_remove": opts["auto_remove"],
        "interactive": opts["interactive"], "tty": opts["tty"], "port_bindings": bindings,
        "exposed_ports": exposed, "publish_all": opts["publish_all"],
        "restart_policy": restart,
        "user": opts["user"], "cap_add": opts["cap_add"], "cap_drop": opts["cap_drop"],
        "privileged": opts["privileged"], "read_only": opts["read_only"],
    }


def warn_discarded_ports(ctr, options: dict) -> None:
    """Docker's warning, on stderr, once a container asking for -p is made in host
    mode (which stores no bindings)."""
    import sys

    if ctr.network_mode == "host" and options["port_bindings"]:
        sys.stderr.write(HOST_PORTS_WARNING + "\n")


def create_container(engine, opts: dict):
    """`create` from the parsed options."""
    argv, options = container_options(opts)
    ctr = engine.create_container(argv, attached=True, **options)
    warn_discarded_ports(ctr, options)
    return ctr


def run_container(engine, opts: dict, detach: bool) -> int:
    """`run`: create and start in one transaction, detached (print the ID) or
    attached (the command's status); a failure leaves no container and exits 125
    (or the command's 126/127)."""
    import sys

    from cnmctl.engine.attach import require_terminal
    from cnmctl.errors import CnmError

    require_terminal(not detach and opts["tty"] and opts["interactive"])  # exit 1, as Docker
    detach_keys = opts["detach_keys"] or "ctrl-p,ctrl-q"
    try:
        if not detach:
            from cnmctl.runtime.attach import parse_detach_keys

            parse_detach_keys(detach_keys)  # refused before anything is made (125)
        argv, options = container_options(opts)
        if not detach:
            return engine.run_attached(argv, {**options, "attached": True},
                                       detach_keys=detach_keys,
                                       sig_proxy=opts["sig_proxy"],
                                       created=lambda ctr: warn_discarded_ports(ctr, options))
        ctr, _attached = engine.run_container(argv, **options)
    except CnmError as exc:
        if exc.exit_code == 1:
            exc.exit_code = EXIT_RUN_FAILED
        elif exc.exit_code == 127:
            exc.args = (str(exc) + _no_image_hint(opts["command"][0]),)
        raise
    warn_discarded_ports(ctr, options)
    sys.stdout.write(ctr.id + "\n")
    return 0


def _no_image_hint(word: str) -> str:
    """For a first word that is neither a command nor an image but could name one
    (`alpine`): how to get one. Not found as a host command, the run exits 127,
    as before images: the word was tried as a command, the fallback."""
    from cnmctl.errors import InvalidArgument
    from cnmctl.images.reference import parse_normalized

    try:
        parse_normalized(word)
    except InvalidArgument:
        return ""
    return (f"; no image {word} either: make one with `cnmctl import` (see "
            "tools/mkimage-busybox), or run a tree with --rootfs DIR")


def _run_or_create(root, run_root, verb: str, args: list[str]) -> int | None:
    flags = RUN_FLAGS if verb == "run" else {k: v for k, v in RUN_FLAGS.items()
                                             if k not in RUN_ONLY}
    single = RUN_SINGLE if verb == "run" else {k: v for k, v in RUN_SINGLE.items()
                                               if k not in RUN_ONLY}
    result = _parse(args, flags, single | RUN_MULTIPLE, interspersed=False)
    if result is None or not result[1]:
        return None
    opts, command = result
    for key in single:
        opts[key] = opts[key][-1] if opts[key] else ""
    opts["sig_proxy"] = True  # `--sig-proxy[=BOOL]` is left to click
    opts["name"] = opts["name"] or None
    opts["command"] = command
    detach = opts.pop("detach", False)

    def act(engine):
        if verb == "create":
            return create_container(engine, opts).id + "\n", []
        return "", [], run_container(engine, opts, detach)

    return _run(root, run_root, act)


def _parse_global(argv: list[str]) -> tuple[str | None, str | None, list[str]] | None:
    """Strip `--root DIR` / `--run-root DIR` before the command."""
    root = run_root = None
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        value, j = _take_value(argv, i, ("--root",))
        if value is not None:
            root, i = value, j
            continue
        value, j = _take_value(argv, i, ("--run-root",))
        if value is None:
            return None
        run_root, i = value, j
    return root, run_root, argv[i:]


def emit(out: str, errors: list[str], status: int | None = None) -> int:
    """Print a command's output and one `Error:` line per failure; its exit status
    (1 if anything failed, unless given). Both paths print through here."""
    import sys

    from cnmctl.validate import printable

    sys.stdout.write(out)
    for message in errors:
        sys.stderr.write(f"Error: {printable(message)}\n")
    return status if status is not None else int(bool(errors))


def _run(root: str | None, run_root: str | None, action) -> int:
    from cnmctl.engine import Engine
    from cnmctl.errors import CnmError

    try:
        result = action(Engine(root, run_root))
    except CnmError as exc:
        return emit("", [str(exc)], exc.exit_code)
    return emit(*result)
