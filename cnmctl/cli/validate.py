"""Checks of `run`/`create` flags that need no state: refused before anything is made."""

from __future__ import annotations

import signal

from cnmctl.errors import InvalidArgument
from cnmctl.validate import (
    check_dns_search,
    check_env,
    check_hostname,
    check_text,
    parse_ip,
)


def check_container_options(opts: dict) -> None:
    """Refuse malformed or hostile values of `run`/`create` before anything is made:
    control characters in anything that reaches a file or a name, --hostname and
    --dns-search as Docker checks them, malformed addresses, -e and -w."""
    for server in opts["dns"]:
        if parse_ip(server) is None:
            raise InvalidArgument(f"{server} is not an ip address")
    for domain in opts["dns_search"]:
        check_dns_search(domain)
    for option in opts["dns_option"]:
        check_text(option, "--dns-option value")
    if opts["hostname"]:
        check_hostname(opts["hostname"])
    for entry in opts["add_host"]:
        check_text(entry, "--add-host value")
        name, sep, ip = entry.replace("=", ":", 1).partition(":")
        if not sep or not name:
            raise InvalidArgument(f"bad format for add-host: {entry!r}")
        if parse_ip(ip.strip("[]")) is None:
            raise InvalidArgument(f"invalid IP address in add-host: {ip!r}")
    for link in opts["links"]:
        check_text(link, "--link value")
        name, _, alias = link.partition(":")
        if not name or ":" in alias or (":" in link and not alias):
            raise InvalidArgument(f"invalid link format: {link!r} (NAME or NAME:ALIAS)")
    for network in opts["networks"]:
        check_text(network, "--network value")
    check_address(opts["ip"], 4)
    check_address(opts["ip6"], 6)
    mac = opts["mac"]
    if mac and not _is_mac(mac):
        raise InvalidArgument(f"{mac} is not a valid mac address")
    check_env(opts["env"])
    check_text(opts["user"], "--user value")
    workdir = opts["workdir"]
    if workdir and not workdir.startswith("/"):
        raise InvalidArgument(f"the working directory '{workdir}' is invalid, it needs to be "
                              "an absolute path")


def parse_restart_policy(text: str, auto_remove: bool) -> tuple[str, int]:
    """`--restart NAME[:COUNT]` as Docker's CLI reads it (opts.ParseRestartPolicy):
    (name, maximum retry count); the name itself is checked by the engine."""
    import re

    parts = text.split(":")
    if len(parts) > 2:
        raise InvalidArgument("invalid restart policy format")
    count = 0
    if len(parts) == 2:
        # Go's strconv.Atoi: an optional sign, ASCII digits, within int64
        if not re.fullmatch(r"[+-]?[0-9]+", parts[1]) or abs(int(parts[1])) >= 1 << 63:
            raise InvalidArgument("maximum retry count must be an integer")
        count = int(parts[1])
    if auto_remove and parts[0] not in ("", "no"):
        raise InvalidArgument("Conflicting options: --restart and --rm")
    return parts[0], count


def check_address(text: str, version: int) -> None:
    """--ip (4) or --ip6 (6), unless empty: an address of that family, no zone."""
    if not text:
        return
    address = parse_ip(text)
    if address is None or address.version != version:
        raise InvalidArgument(f"invalid IPv{version} address: {text}")


def check_network_options(opts: dict) -> None:
    """`network create`: no control characters in the -o, --ipam-opt and --label keys,
    the -o and --ipam-opt values (an -o value can become an interface name), nor in
    subnets, ranges, gateways and aux addresses."""
    for flag, values in (("--subnet", opts["subnet"]), ("--ip-range", opts["ip_range"]),
                         ("--gateway", opts["gateway"]), ("--aux-address", opts["aux_address"]),
                         ("--driver", [opts["driver"]]),
                         ("--ipam-driver", [opts["ipam_driver"]])):
        for value in values:
            check_text(value, f"{flag} value")
    for flag, pairs, values_too in (("-o", opts["opt"], True),
                                    ("--ipam-opt", opts["ipam_opt"], True),
                                    ("--label", opts["label"], False)):
        for key, value in dict(pairs).items():
            check_text(key, f"{flag} key")
            if values_too:
                check_text(value, f"{flag} value")


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
