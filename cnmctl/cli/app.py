"""The click command tree: parse, call the engine, render. No netlink here.

Subcommand modules load only when invoked, so `cnmctl --help` and
`cnmctl network ls` pay for nothing they do not use.
"""

from __future__ import annotations

import importlib
import sys

import click

from cnmctl import __version__
from cnmctl.errors import CnmError

# Docker's exit code for errors in cnmctl itself (usage errors included).
EXIT_USAGE = 125


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use: name -> 'module:attr'."""

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, attr = self.lazy[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


class Context:
    """What every command gets: where the store and the run root are."""

    def __init__(self, root: str | None, run_root: str | None) -> None:
        self.root = root
        self.run_root = run_root
        self._engine = None

    @property
    def engine(self):
        """The engine, created on first use (it initialises the store)."""
        if self._engine is None:
            from cnmctl.engine import Engine

            self._engine = Engine(self.root, self.run_root)
        return self._engine


# The container commands, at the top level and in the `container` group alike.
CONTAINER_COMMANDS = {name: f"cnmctl.cli.container:{attr}" for name, attr in (
    ("run", "run"), ("create", "create"), ("start", "start"), ("stop", "stop"),
    ("restart", "restart"), ("kill", "kill"), ("rm", "rm"), ("ps", "ps"),
    ("logs", "logs"), ("wait", "wait"), ("exec", "exec_"), ("inspect", "inspect"),
    ("port", "port"), ("pause", "pause"), ("unpause", "unpause"), ("rename", "rename"),
    ("attach", "attach"), ("top", "top"),
)}


@click.group(
    cls=LazyGroup,
    lazy={
        "network": "cnmctl.cli.network:network",
        "system": "cnmctl.cli.system:system",
        "container": "cnmctl.cli.app:container",
        "version": "cnmctl.cli.info:version",
        "info": "cnmctl.cli.info:info",
        "internal": "cnmctl.cli.container:internal",
        "image": "cnmctl.cli.image:image",
        "images": "cnmctl.cli.image:ls",
        "rmi": "cnmctl.cli.image:rm",
        "import": "cnmctl.cli.image:import_",
        **CONTAINER_COMMANDS,
    },
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--root", envvar="CNMCTL_ROOT", metavar="DIR",
              help="Store folder (default /var/lib/cnmctl; env CNMCTL_ROOT).")
@click.option("--run-root", envvar="CNMCTL_RUN_ROOT", metavar="DIR",
              help="Runtime folder (default /run/cnmctl; env CNMCTL_RUN_ROOT).")
@click.version_option(__version__, "-v", "--version", prog_name="cnmctl")
@click.pass_context
def cli(ctx: click.Context, root: str | None, run_root: str | None) -> None:
    """cnmctl: Docker's Container Network Model on Linux, without a daemon."""
    ctx.obj = Context(root, run_root)


@click.group(cls=LazyGroup, lazy={
    **CONTAINER_COMMANDS,
    "ls": CONTAINER_COMMANDS["ps"], "list": CONTAINER_COMMANDS["ps"],
    "remove": CONTAINER_COMMANDS["rm"],
    "inspect": "cnmctl.cli.container:container_inspect",  # containers only, as Docker's
    "prune": "cnmctl.cli.system:container_prune",
})
def container() -> None:
    """Manage containers (each command as at the top level)."""


def fail(message: str, code: int = 1) -> None:
    """Print one error line on stderr (control characters escaped) and exit."""
    from cnmctl.validate import printable

    click.echo(f"Error: {printable(message)}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every failure into one line and an exit code."""
    try:
        status = cli.main(args=argv, prog_name="cnmctl", standalone_mode=False)
    except CnmError as exc:
        fail(str(exc), exc.exit_code)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):
            sys.exit(130)  # Ctrl-C, as a shell reports it
        fail("aborted", 1)
    except click.NoSuchOption as exc:
        from cnmctl.cli.dockerflags import unknown_flag

        path = exc.ctx.command_path if exc.ctx else "cnmctl"
        fail(unknown_flag(path.split()[1:], exc.option_name, f"{path} --help"), EXIT_USAGE)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        fail(exc.format_message() + hint, EXIT_USAGE)
    except click.ClickException as exc:
        fail(exc.format_message(), EXIT_USAGE)
    except KeyboardInterrupt:
        sys.exit(130)
    if isinstance(status, int):
        sys.exit(status)
