"""`cnmctl system check [--fix]`, `system boot`, `system firewall`, `system info`,
`system prune` and `container prune`."""

from __future__ import annotations

import sys

import click

from cnmctl.cli.app import LazyGroup

PRUNE_WARNING = "WARNING! This will remove all stopped containers."
SYSTEM_PRUNE_WARNING = """WARNING! This will remove:
  - all stopped containers
  - all networks not used by at least one container
"""


@click.group(cls=LazyGroup, lazy={"info": "cnmctl.cli.info:info"})
def system() -> None:
    """Check and clean cnmctl's state."""


@system.command("check")
@click.option("--fix", is_flag=True, help="Repair every finding.")
@click.pass_obj
def check(obj, fix) -> None:
    """Compare the store with the kernel, the run root and the processes.

    Prints one line per finding (what, which object, what --fix does) and
    exits 1 if there is any; with --fix, repairs them and exits 1 only if
    something could not be repaired.
    """
    from cnmctl.engine import Engine, repair

    engine = Engine(obj.root, obj.run_root, check_schema=False)
    blockers = engine.firewall_blockers()
    if blockers:  # no finding: --fix cannot change another firewall
        click.echo(f"Warning: {blockers}", err=True)
    if not fix:
        findings = repair.check(engine)
        for finding in findings:
            click.echo(finding.line())
        sys.exit(1 if findings else 0)
    fixed, remaining = repair.fix(engine)
    for finding in fixed:
        click.echo(f"fixed: {finding.line()}")
    for finding in remaining:
        click.echo(f"Error: still: {finding.line()}", err=True)
    sys.exit(1 if remaining else 0)


@system.command("boot")
@click.pass_obj
def boot(obj) -> None:
    """Restore cnmctl after a reboot and start the containers that must run.

    Re-creates the networks' bridges and the firewall from the store (as the
    first command after a reboot does), records the containers that were running
    as exited, then starts those whose restart policy asks for it, as Docker's
    daemon does when it comes up: always, unless-stopped unless stopped by hand,
    on-failure after a non-zero exit while below its maximum. Prints each started
    container's name. Run at boot by rel/cnmctl-boot.service.
    """
    from cnmctl.cli.direct import emit

    started, errors = obj.engine.boot()
    sys.exit(emit("".join(f"{name}\n" for name in started), errors))


@system.command("firewall")
@click.pass_obj
def firewall(obj) -> None:
    """Print cnmctl's nftables table, as the kernel holds it.

    Each rule's comment names the network, container or published port it
    serves. Warns on stderr if the table is not the one the store implies
    (`system check --fix` writes it again).
    """
    from cnmctl.engine import Engine
    from cnmctl.errors import NotFound

    text, problem = Engine(obj.root, obj.run_root).firewall_listing()
    if text is None:
        raise NotFound("cnmctl's firewall table (inet cnmctl) is not in the kernel: "
                       "`cnmctl system check --fix` writes it")
    click.echo(text, nl=False)
    if problem:
        click.echo(f"Warning: this table {problem}: `cnmctl system check --fix` "
                   "writes it again", err=True)


def _confirm(warning: str, force: bool) -> bool:
    if force:
        return True
    click.echo(warning)
    return click.confirm("Are you sure you want to continue?", default=False)


def _report(containers: list[tuple[str, int]], networks: list[str] | None = None) -> None:
    """Docker's prune report: what went, then the space the containers' logs took."""
    from cnmctl.cli.render import human_size

    if containers:
        click.echo("Deleted Containers:\n" + "".join(f"{cid}\n" for cid, _ in containers))
    if networks:
        click.echo("Deleted Networks:\n" + "".join(f"{name}\n" for name in networks))
    click.echo(f"Total reclaimed space: {human_size(sum(size for _, size in containers))}")


@system.command("prune")
@click.option("-a", "--all", "all_", is_flag=True,
              help="Accepted for compatibility: removes no images (use `rmi`).")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.pass_obj
def system_prune(obj, all_, force) -> None:
    """Remove stopped containers and unused networks."""
    if not _confirm(SYSTEM_PRUNE_WARNING, force):
        return
    containers = obj.engine.prune_containers()
    networks = obj.engine.prune_networks(lambda net: False)
    _report(containers, networks)


@click.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.pass_obj
def container_prune(obj, force) -> None:
    """Remove all stopped containers."""
    if not _confirm(PRUNE_WARNING, force):
        return
    _report(obj.engine.prune_containers())
