"""Put cnmctl's table into the kernel, read it back, and compare.

Through the `nft` command with JSON on its stdin, not the libnftables Python
bindings: those are packaged by Debian only (python3-nftables, not on PyPI, so
not in cnmctl's virtualenv), and the JSON schema is the interface nftables
documents as stable. One `nft -j -f -` is one netlink batch, which the kernel
applies atomically: the table is deleted and written anew in a single
transaction, so no packet ever sees half a ruleset, and no other table is
touched. It costs one exec (about 10 ms), paid only by commands that change
what the table holds: a `run -d` without `-p` does not run nft at all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

from cnmctl.errors import CnmError
from cnmctl.firewall.ruleset import FAMILY, TABLE, table

NFT_MISSING = "nft not found: cnmctl's firewall needs it (install the Debian package nftables)"


class FirewallError(CnmError):
    """nft is missing or refused the table."""


def nft_path() -> str:
    """The nft command; FirewallError naming the package if it is not installed."""
    path = shutil.which("nft")
    if path is None:
        raise FirewallError(NFT_MISSING)
    return path


def _nft(args: list[str], stdin: str | None = None) -> str:
    result = subprocess.run([nft_path(), *args], input=stdin, capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["failed"])[0]
        raise FirewallError(f"nft {' '.join(args)}: {first}")
    return result.stdout


def apply(objects: list[dict]) -> None:
    """Make cnmctl's table exactly `objects` (ruleset.ruleset()), or remove it when
    `objects` is empty: one atomic batch, whatever was there before."""
    batch = [{"add": table()}, {"delete": table()}]  # add first: delete needs it there
    batch += [{"add": obj} for obj in objects]
    _nft(["-j", "-f", "-"], json.dumps({"nftables": batch}))


def live() -> list[dict] | None:
    """The table as the kernel holds it, in ruleset()'s form (no handles); None if
    there is none."""
    try:
        text = _nft(["-j", "list", "table", FAMILY, TABLE])
    except FirewallError as exc:
        if "No such file or directory" in str(exc):
            return None
        raise
    objects = []
    for obj in json.loads(text)["nftables"]:
        if "metainfo" in obj:
            continue
        kind, = obj
        body = dict(obj[kind])
        body.pop("handle", None)
        objects.append({kind: body})
    return objects


def listing() -> str | None:
    """The table in nft's own words (its text form, comments included); None if
    there is none."""
    try:
        return _nft(["list", "table", FAMILY, TABLE])
    except FirewallError as exc:
        if "No such file or directory" in str(exc):
            return None
        raise


def set_forwarding(ipv4: bool, ipv6: bool) -> None:
    """Turn on IP forwarding for the versions asked (never off: other software on the
    host may rely on it, as Docker leaves it on)."""
    for wanted, path in ((ipv4, "/proc/sys/net/ipv4/ip_forward"),
                         (ipv6, "/proc/sys/net/ipv6/conf/all/forwarding")):
        if wanted and _read(path) != "1":
            with open(path, "w", encoding="ascii") as f:
                f.write("1\n")


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except FileNotFoundError:  # no IPv6 in this kernel
        return ""


def route_localnet(bridge: str) -> None:
    """Let the host's 127.0.0.1 connections to published ports leave through
    `bridge` (masqueraded there): the kernel otherwise drops a packet with a
    loopback source on any other interface. The input chain drops what comes the
    other way."""
    path = os.path.join("/proc/sys/net/ipv4/conf", os.path.basename(bridge), "route_localnet")
    with open(path, "w", encoding="ascii") as f:
        f.write("1\n")
