"""Checks of `run`/`create` flags that need no state: refused before anything is made."""

from __future__ import annotations

import ipaddress
import signal

from cnmctl.errors import InvalidArgument


def check_container_options(opts: dict) -> None:
    """Refuse malformed --dns, --add-host, --link, --ip, --ip6, --mac-address and -e values."""
    for server in opts["dns"]:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise InvalidArgument(f"{server} is not an ip address") from None
    for entry in opts["add_host"]:
        name, sep, ip = entry.replace("=", ":", 1).partition(":")
        if not sep or not name:
            raise InvalidArgument(f"bad format for add-host: {entry!r}")
        try:
            ipaddress.ip_address(ip.strip("[]"))
        except ValueError:
            raise InvalidArgument(f"invalid IP address in add-host: {ip!r}") from None
    for link in opts["links"]:
        name, _, alias = link.partition(":")
        if not name or ":" in alias or (":" in link and not alias):
            raise InvalidArgument(f"invalid link format: {link!r} (NAME or NAME:ALIAS)")
    for flag, version in (("ip", 4), ("ip6", 6)):
        text = opts[flag]
        if not text:
            continue
        try:
            ok = ipaddress.ip_address(text).version == version
        except ValueError:
            ok = False
        if not ok:
            raise InvalidArgument(f"invalid IPv{version} address: {text}")
    mac = opts["mac"]
    if mac and not _is_mac(mac):
        raise InvalidArgument(f"{mac} is not a valid mac address")
    for item in opts["env"]:
        if not item or item.startswith("="):
            raise InvalidArgument(f"invalid environment variable: {item}")


def _is_mac(text: str) -> bool:
    parts = text.split(":")
    return len(parts) == 6 and all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p)
                                   for p in parts)


def parse_signal(text: str) -> int:
    """A signal by number, name (KILL) or SIG-name (SIGKILL)."""
    if text.isdecimal():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
        raise InvalidArgument(f"invalid signal: {text}")
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(getattr(signal.Signals, name))
    except AttributeError:
        raise InvalidArgument(f"invalid signal: {text}") from None
