"""`cnmctl network ...`: create, ls, inspect, rm, prune."""

from __future__ import annotations

import sys

import click

from cnmctl.cli.params import KeyValue, format_option

PRUNE_FILTERS = ("until", "label")


@click.group()
def network() -> None:
    """Manage networks."""


@network.command("create")
@click.option("-d", "--driver", default="bridge", show_default=True,
              help="Driver to manage the network.")
@click.option("--subnet", multiple=True, metavar="CIDR", help="Subnet in CIDR format (repeatable).")
@click.option("--ip-range", multiple=True, metavar="CIDR",
              help="Allocate container addresses from a sub-range.")
@click.option("--gateway", multiple=True, metavar="IP", help="Gateway for the subnet.")
@click.option("--aux-address", multiple=True, metavar="NAME=IP",
              help="Auxiliary addresses the IPAM must not hand out.")
@click.option("--ipv6", is_flag=True, help="Enable IPv6 networking.")
@click.option("--internal", is_flag=True, help="Restrict external access to the network.")
@click.option("--attachable", is_flag=True, help="Enable manual container attachment.")
@click.option("-o", "--opt", multiple=True, type=KeyValue(), help="Driver specific options.")
@click.option("--label", multiple=True, type=KeyValue(allow_bare=True), metavar="KEY[=VALUE]",
              help="Metadata on the network.")
@click.option("--ipam-driver", default="default", show_default=True,
              help="IP address management driver.")
@click.option("--ipam-opt", multiple=True, type=KeyValue(), help="IPAM driver specific options.")
@click.argument("name")
@click.pass_obj
def create(obj, name, **opts) -> None:
    """Create a network and print its ID."""
    from cnmctl.cli.direct import network_create

    click.echo(network_create(obj.engine, name, opts))


@network.command("ls")
@click.option("-f", "--filter", "filters", multiple=True, type=KeyValue(),
              help="Filter output (driver, id, label, name, scope, type, dangling).")
@click.option("--format", "fmt", metavar="TEMPLATE",
              help="'table', 'table TEMPLATE', 'json', or a Go template.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output.")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs.")
@click.pass_obj
def ls(obj, filters, fmt, no_trunc, quiet) -> None:
    """List networks."""
    from cnmctl.cli.direct import network_ls

    click.echo(network_ls(obj.engine, filters, fmt, no_trunc, quiet), nl=False)


network.add_command(ls, "list")


@network.command("inspect")
@format_option()
@click.option("-v", "--verbose", is_flag=True, help="Verbose output (accepted for compatibility).")
@click.argument("networks", nargs=-1, required=True)
@click.pass_obj
def inspect(obj, fmt, verbose, networks) -> None:
    """Display detailed information on one or more networks."""
    from cnmctl.cli.direct import emit, network_inspect

    sys.exit(emit(*network_inspect(obj.engine, networks, fmt)))


@network.command("rm")
@click.argument("networks", nargs=-1, required=True)
@click.pass_obj
def rm(obj, networks) -> None:
    """Remove one or more networks."""
    from cnmctl.cli.direct import emit, network_rm

    sys.exit(emit(*network_rm(obj.engine, networks)))


network.add_command(rm, "remove")


def _prune_keep(filters: dict):
    """A predicate: True for networks that `prune --filter` must keep."""
    from cnmctl.cli.timefilter import parse_until
    from cnmctl.filters import label_matches

    limits = [parse_until(v) for v in filters.get("until", [])]

    def keep(net) -> bool:
        if limits and not any(net.created_ns <= limit for limit in limits):
            return True
        if "label" in filters and not any(label_matches(net.labels, v) for v in filters["label"]):
            return True
        return any(label_matches(net.labels, v) for v in filters.get("label!", []))

    return keep


@network.command("prune")
@click.option("--filter", "filters", multiple=True, type=KeyValue(),
              help="Provide filter values (e.g. 'until=24h', 'label=k=v', 'label!=k').")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.pass_obj
def prune(obj, filters, force) -> None:
    """Remove all unused user-defined networks."""
    from cnmctl.cli.direct import parse_filters

    keep = _prune_keep(parse_filters(filters, PRUNE_FILTERS))
    if not force:
        click.echo("WARNING! This will remove all custom networks not used by at least one "
                   "container.")
        if not click.confirm("Are you sure you want to continue?", default=False):
            return
    removed = obj.engine.prune_networks(keep)
    if removed:
        click.echo("Deleted Networks:\n" + "".join(f"{n}\n" for n in removed))


@network.command("connect")
@click.option("--ip", default="", help="IPv4 address on the network.")
@click.option("--ip6", default="", help="IPv6 address on the network.")
@click.option("--alias", "aliases", multiple=True, help="Network-scoped DNS alias (repeatable).")
@click.argument("network_ref", metavar="NETWORK")
@click.argument("container")
@click.pass_obj
def connect(obj, ip, ip6, aliases, network_ref, container) -> None:
    """Connect a container to a network (hot-plugged if it runs)."""
    from cnmctl.cli.validate import check_address

    check_address(ip, 4)
    check_address(ip6, 6)
    obj.engine.connect(network_ref, container, ip=ip, ip6=ip6, aliases=list(aliases))


@network.command("disconnect")
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect.")
@click.argument("network_ref", metavar="NETWORK")
@click.argument("container")
@click.pass_obj
def disconnect(obj, force, network_ref, container) -> None:
    """Disconnect a container from a network."""
    obj.engine.disconnect(network_ref, container, force=force)
