"""`cnmctl image ...` (ls/list, rm/remove, inspect, import) and Docker's top-level
`images`, `rmi` and `import`."""

from __future__ import annotations

import sys

import click

from cnmctl.cli.params import KeyValue, format_option

IMAGES_DEFAULT_FORMAT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGES_HEADERS = {
    "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT", "Size": "SIZE", "Digest": "DIGEST", "Containers": "CONTAINERS",
    "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE",
}


@click.group()
def image() -> None:
    """Manage images (root filesystem tarballs imported with `import`)."""


@click.command("import")
@click.option("-m", "--message", default="", help="Set the commit message for the image.")
@click.option("-c", "--change", "changes", multiple=True, metavar="INSTRUCTION",
              help="Apply a Dockerfile instruction to the image (repeatable): CMD, "
                   "ENTRYPOINT, ENV, LABEL or WORKDIR, e.g. 'CMD [\"ash\"]'.")
@click.argument("source", metavar="FILE|-")
@click.argument("repository", required=False, default="", metavar="[REPOSITORY[:TAG]]")
@click.pass_obj
def import_(obj, message, changes, source, repository) -> None:
    """Import a root filesystem tarball (plain, gzip, bzip2 or xz) as an image.

    Prints the image's ID. Without a tag the image is REPOSITORY:latest; a tag
    that another image had moves to this one. `tools/mkimage-busybox | cnmctl
    import - alpine` makes a small busybox image from the host's busybox-static.
    """
    from cnmctl.errors import InvalidArgument

    if "://" in source:
        raise InvalidArgument(f"cannot import {source}: cnmctl imports from a file or "
                              "from standard input (-), not from a URL")
    try:
        stream = sys.stdin.buffer if source == "-" else open(source, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InvalidArgument(f"open {source}: {(exc.strerror or str(exc)).lower()}") from None
    with stream:  # the name and the changes are checked before anything is read
        found, skipped = obj.engine.import_image(stream, repository, message, list(changes))
    if skipped:
        click.echo(f"Warning: skipped {skipped} device node(s): containers get their /dev "
                   "from the host, and cnmctl has no device cgroup to fence others off",
                   err=True)
    click.echo(f"sha256:{found.id}")


@click.command("ls")
@click.option("-a", "--all", "show_all", is_flag=True,
              help="Show all images (cnmctl has no intermediate images to hide).")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-f", "--filter", "filters", multiple=True, type=KeyValue(),
              help="Filter output (reference, dangling, label, before, since).")
@click.option("--format", "fmt", metavar="TEMPLATE",
              help="'table', 'table TEMPLATE', 'json', or a Go template.")
@click.argument("repository", required=False, metavar="[REPOSITORY[:TAG]]")
@click.pass_obj
def ls(obj, show_all, quiet, no_trunc, filters, fmt, repository) -> None:
    """List images: one row per tag, newest first."""
    from cnmctl.cli.direct import parse_filters
    from cnmctl.cli.render import format_rows
    from cnmctl.images.views import IMAGES_FILTERS, image_rows

    engine = obj.engine
    wanted = parse_filters(filters, IMAGES_FILTERS)
    if repository:
        wanted.setdefault("reference", []).append(repository)
    rows = image_rows(engine.images(), wanted, not no_trunc, engine.find_image)
    if quiet:
        click.echo("".join(f"{r.ID}\n" for r in rows), nl=False)
        return
    if not fmt or fmt == "table":
        fmt = IMAGES_DEFAULT_FORMAT
    click.echo(format_rows(fmt, rows, header=IMAGES_HEADERS), nl=False)


@click.command("rm")
@click.option("-f", "--force", is_flag=True,
              help="Force removal: untag and delete though stopped containers use it.")
@click.option("--no-prune", is_flag=True, help="Accepted for compatibility (no parents).")
@click.argument("images", nargs=-1, required=True)
@click.pass_obj
def rm(obj, force, no_prune, images) -> None:
    """Remove one or more images (refused while a container uses one)."""
    from cnmctl.cli.direct import emit
    from cnmctl.errors import CnmError

    out, errors = [], []
    for ref in images:
        try:
            out += [f"{what}: {name}\n" for what, name in obj.engine.remove_image(ref, force)]
        except CnmError as exc:
            errors.append(str(exc))
    sys.exit(emit("".join(out), errors))


@click.command("inspect")
@format_option()
@click.argument("images", nargs=-1, required=True)
@click.pass_obj
def inspect(obj, fmt, images) -> None:
    """Display detailed information on one or more images."""
    from cnmctl.cli.direct import emit, object_inspect

    sys.exit(emit(*object_inspect(obj.engine, images, fmt, "image")))


image.add_command(import_, "import")
image.add_command(ls, "ls")
image.add_command(ls, "list")
image.add_command(rm, "rm")
image.add_command(rm, "remove")
image.add_command(inspect, "inspect")
