"""`cnmctl version` and `cnmctl info` (also `system info`): Docker's layouts.

The renderers are pure functions of the documents engine/info.py builds, so
tests can check them without a machine to ask.
"""

from __future__ import annotations

import click

from cnmctl.cli.params import format_option
from cnmctl.cli.render import bytes_size

VERSION_LABEL_WIDTH = 20  # Docker's tabwriter minwidth for `version`


def _pairs(indent: str, pairs: list[tuple[str, object]]) -> list[str]:
    """`label:value` lines aligned as Docker's tabwriter(minwidth 20, padding 1) does."""
    return [f"{indent}{label}:".ljust(max(VERSION_LABEL_WIDTH, len(indent + label) + 2))
            + str(value) for label, value in pairs]


def render_version(doc: dict) -> str:
    """`version` without --format: the Client block, then the in-process engine's."""
    client, server = doc["Client"], doc["Server"]
    lines = [f"Client: {client['Platform']['Name']}".rstrip()]
    lines += _pairs(" ", [("Version", client["Version"]), ("API version", client["ApiVersion"]),
                          ("Python version", client["PythonVersion"]),
                          ("Git commit", client["GitCommit"] or "unknown"),
                          ("Built", client["BuildTime"]),
                          ("OS/Arch", f"{client['Os']}/{client['Arch']}"),
                          ("Context", client["Context"])])
    lines += ["", f"Server: {server['Platform']['Name']}".rstrip()]
    for component in server["Components"]:
        lines.append(f" {component['Name']}:")
        if component["Name"] != "Engine":
            lines += _pairs("  ", [("Version", component["Version"])])
            continue
        details = component["Details"]
        lines += _pairs("  ", [
            ("Version", component["Version"]),
            ("API version", f"{details['ApiVersion']} (minimum version "
                            f"{details['MinAPIVersion']})"),
            ("Python version", details["PythonVersion"]),
            ("Git commit", details["GitCommit"] or "unknown"),
            ("Built", details["BuildTime"]),
            ("OS/Arch", f"{details['Os']}/{details['Arch']}"),
            ("Kernel version", details["KernelVersion"]),
            ("Experimental", details["Experimental"])])
    return "\n".join(lines) + "\n"


def render_info(doc: dict) -> str:
    """`info` without --format: Docker's Client and Server blocks (the server being
    this process's engine), with cnmctl's own lines where Docker has its root dir."""
    yes_no = {True: "true", False: "false"}
    lines = ["Client:", " Context:    default", f" Debug Mode: {yes_no[doc['Debug']]}", "",
             "Server:",
             f" Containers: {doc['Containers']}",
             f"  Running: {doc['ContainersRunning']}",
             f"  Paused: {doc['ContainersPaused']}",
             f"  Stopped: {doc['ContainersStopped']}",
             f" Images: {doc['Images']}",
             f" Server Version: {doc['ServerVersion']}",
             f" Storage Driver: {doc['Driver']}",
             f" Logging Driver: {doc['LoggingDriver']}",
             f" Cgroup Driver: {doc['CgroupDriver']}",
             f" Cgroup Version: {doc['CgroupVersion']}",
             " Plugins:",
             f"  Network: {' '.join(doc['Plugins']['Network'])}",
             f"  Log: {' '.join(doc['Plugins']['Log'])}",
             f" Swarm: {doc['Swarm']['LocalNodeState']}",
             f" Runtimes: {' '.join(doc['Runtimes'])}",
             f" Default Runtime: {doc['DefaultRuntime']}",
             f" Kernel Version: {doc['KernelVersion']}",
             f" Operating System: {doc['OperatingSystem']}",
             f" OSType: {doc['OSType']}",
             f" Architecture: {doc['Architecture']}",
             f" CPUs: {doc['NCPU']}",
             f" Total Memory: {bytes_size(doc['MemTotal'])}",
             f" Name: {doc['Name']}",
             f" Store Dir: {doc['StoreDir']}",
             f" Run Root: {doc['RunRoot']}",
             f" Networks: {doc['Networks']}",
             " Kernel Features:"]
    for name, feature in doc["KernelFeatures"].items():
        state = "found" if feature["Found"] else f"not found ({feature['Reason']})"
        lines.append(f"  {name}: {state}")
    lines += [f" Debug Mode: {yes_no[doc['Debug']]}",
              f" Experimental: {yes_no[doc['ExperimentalBuild']]}",
              f" Live Restore Enabled: {yes_no[doc['LiveRestoreEnabled']]}"]
    return "\n".join(lines) + "\n"


def _formatted(doc: dict, fmt: str) -> str:
    from cnmctl.cli.render import format_rows

    return format_rows(fmt, [doc])


@click.command()
@format_option("Format output using a Go template ('{{.Client.Version}}'), or 'json'")
def version(fmt) -> None:
    """Show the cnmctl version information (client, and the in-process engine)."""
    from cnmctl.engine.info import version_info

    doc = version_info()
    click.echo(_formatted(doc, fmt) if fmt else render_version(doc), nl=False)


@click.command()
@format_option("Format output using a Go template ('{{.Containers}}'), or 'json'")
@click.pass_obj
def info(obj, fmt) -> None:
    """Display system-wide information: containers, the store and run root, and the
    kernel features cnmctl found by trying them (nftables; macvlan, ipvlan, vxlan,
    dummy and 802.1Q VLAN links)."""
    from cnmctl.engine.info import system_info

    doc = system_info(obj.engine)
    if fmt:
        click.echo(_formatted(doc, fmt), nl=False)
        return
    click.echo(render_info(doc), nl=False)
    if doc["Warnings"]:  # after the report, on stderr, as Docker prints them
        click.echo("\n" + "\n".join(doc["Warnings"]), err=True)
