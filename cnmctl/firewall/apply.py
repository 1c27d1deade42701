"""Put cnmctl's table into the kernel, read it back, and compare.

Through libnftables, in this process, with nftables' own Python bindings (PyPI's
pip-nftables; Debian ships the same module as python3-nftables) and the JSON
schema nftables documents as its stable interface (libnftables-json(5)). One
call is one netlink batch, which the kernel applies atomically: the table is
deleted and written anew in a single transaction, so no packet ever meets half a
ruleset, and no other table is touched. In-process it costs about 3 ms (loading
the library included) where running `nft -j -f -` cost about 16 ms, and only
commands that change the table pay it: a `run -d` without `-p` never loads it.
"""

from __future__ import annotations

import json
import os

from cnmctl.errors import CnmError
from cnmctl.firewall.ruleset import FAMILY, TABLE, table

NFT_MISSING = ("libnftables not found: cnmctl's firewall needs it (install the Debian "
               "package nftables)")
_NO_TABLE = "No such file or directory"
LIBRARY = "libnftables.so.1"


class FirewallError(CnmError):
    """libnftables is missing or refused the table."""


_context = None


def _nft():
    """This process's libnftables context (loaded on first use)."""
    global _context
    if _context is None:
        import ctypes

        import nftables

        # Loaded once here first: Nftables() failing to load it leaves an object
        # whose destructor prints a traceback.
        try:
            ctypes.CDLL(LIBRARY)
        except OSError:  # not installed
            raise FirewallError(NFT_MISSING) from None
        _context = nftables.Nftables(LIBRARY)
    return _context


def require() -> None:
    """FirewallError naming the package if libnftables is not installed."""
    _nft()


def _run(command: str, json_output: bool) -> str:
    nft = _nft()
    nft.set_json_output(json_output)
    code, output, error = nft.cmd(command)
    if code != 0:
        first = (error.strip().splitlines() or ["failed"])[0]
        raise FirewallError(f"nftables: {first}")
    return output


def apply(objects: list[dict]) -> None:
    """Make cnmctl's table exactly `objects` (ruleset.ruleset()), or remove it when
    `objects` is empty: one atomic batch, whatever was there before."""
    batch = [{"add": table()}, {"delete": table()}]  # add first: delete needs it there
    batch += [{"add": obj} for obj in objects]
    _run(json.dumps({"nftables": batch}), json_output=True)


def _list_table(json_output: bool) -> str | None:
    """`list table inet cnmctl`, as JSON or nft's text; None if there is none."""
    try:
        return _run(f"list table {FAMILY} {TABLE}", json_output)
    except FirewallError as exc:
        if _NO_TABLE in str(exc):
            return None
        raise


def live() -> list[dict] | None:
    """The table as the kernel holds it, in ruleset()'s form (no handles); None if
    there is none."""
    text = _list_table(json_output=True)
    if text is None:
        return None
    objects = []
    for obj in json.loads(text)["nftables"]:
        if "metainfo" in obj:
            continue
        kind, = obj
        body = dict(obj[kind])
        body.pop("handle", None)
        objects.append({kind: body})
    return objects


def ruleset_json() -> dict:
    """The host's whole ruleset, every table (`nft -j list ruleset`)."""
    return json.loads(_run("list ruleset", json_output=True))


def listing() -> str | None:
    """The table in nft's own words (its text form, comments included); None if
    there is none."""
    return _list_table(json_output=False)


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
