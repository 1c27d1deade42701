"""Finding a plugin by name, as Docker's pkg/plugins/discovery.go does.

Lookup stops at the first hit: a socket `SOCK_DIR/NAME.sock` or
`SOCK_DIR/NAME/NAME.sock`, then in each spec folder `NAME.spec`,
`NAME/NAME.spec`, `NAME.json`, `NAME/NAME.json`. A `.spec` holds one URL
(`unix:///path` or `tcp://host:port`); a `.json` holds {"Addr": URL,
"TLSConfig": {...}}. Every file and socket is accepted only from a folder
owned by root whose entries nobody else can replace, so an unprivileged user
cannot plant a plugin that cnmctl, running as root, would trust. The folders
are settings (CNMCTL_PLUGIN_SOCK_DIR, CNMCTL_PLUGIN_SPEC_DIRS, colon-separated)
so tests never touch the host's.
"""

from __future__ import annotations

import json
import os
import re
import stat
from typing import NamedTuple

from cnmctl.errors import CnmError, InvalidArgument, NotFound

SOCK_DIR = "/run/docker/plugins"
SPEC_DIRS = ("/etc/docker/plugins", "/usr/lib/docker/plugins")
# Docker's legacy plugin names are file names; refuse anything that could walk a path.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class PluginAddress(NamedTuple):
    """Where a plugin listens: its name, its URL, and TLS settings of a .json file."""

    name: str
    url: str
    tls: dict


def sock_dir() -> str:
    """The folder of plugin sockets (Docker's /run/docker/plugins)."""
    return os.environ.get("CNMCTL_PLUGIN_SOCK_DIR") or SOCK_DIR


def spec_dirs() -> list[str]:
    """The folders of .spec and .json files, in priority order."""
    text = os.environ.get("CNMCTL_PLUGIN_SPEC_DIRS")
    return [d for d in text.split(":") if d] if text else list(SPEC_DIRS)


def check_name(name: str) -> str:
    """`name`, refused unless it is a plain plugin name (no path, no control characters)."""
    if not _NAME.fullmatch(name):
        raise InvalidArgument(f"invalid plugin name {name!r}: only letters, digits, '_', '.' "
                              "and '-' are allowed")
    return name


class Untrusted(CnmError):
    """A plugin file or socket found where someone other than root could have put it."""


def check_trusted(path: str) -> None:
    """Refuse `path` unless it and every folder above it belong to root, and no folder
    can have its entries replaced by anyone else: writable by root alone, or sticky
    (like /tmp: others may add entries there but not replace root's). A path not
    there yet (the socket of a plugin not started) is trusted when only root can
    make it: the folder that would hold it, sticky or not, is writable by root alone."""
    current = os.path.realpath(path)
    missing = False
    while True:
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            missing, current = True, os.path.dirname(current)
            continue
        shared = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX and not missing:
            shared = 0
        elif stat.S_ISSOCK(st.st_mode):
            shared = 0  # who may connect is not who made it: the owner says that
        missing = False
        if st.st_uid != 0 or shared:
            raise Untrusted(f"plugin {path} is not trusted: {current} must belong to root and "
                            "be writable by root alone")
        if current == "/":
            return
        current = os.path.dirname(current)


def _candidates(name: str) -> list[tuple[str, str]]:
    """(path, kind) in Docker's lookup order; kind is "sock", "spec" or "json"."""
    found = [(os.path.join(sock_dir(), f"{name}.sock"), "sock"),
             (os.path.join(sock_dir(), name, f"{name}.sock"), "sock")]
    for folder in spec_dirs():
        for ext in ("spec", "json"):
            found += [(os.path.join(folder, f"{name}.{ext}"), ext),
                      (os.path.join(folder, name, f"{name}.{ext}"), ext)]
    return found


def find(name: str) -> PluginAddress:
    """The address of plugin `name`; NotFound (Docker's message) when nothing names it."""
    check_name(name)
    for path, kind in _candidates(name):
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue
        if kind == "sock":
            if not stat.S_ISSOCK(mode):
                continue  # Docker checks the mode: a plain file there is not a plugin
            check_trusted(path)
            return PluginAddress(name, f"unix://{path}", {})
        if not stat.S_ISREG(mode):
            continue
        check_trusted(path)
        return _read_spec(name, path, kind)
    raise NotFound(f'plugin "{name}" not found')


def _read_spec(name: str, path: str, kind: str) -> PluginAddress:
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read(65536)
    if kind == "spec":
        url, tls = text.strip(), {}
    else:
        try:
            doc = json.loads(text)
            url, tls = str(doc["Addr"]).strip(), doc.get("TLSConfig") or {}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise CnmError(f'plugin "{name}": {path} is not a plugin description '
                           '(expected {"Addr": URL})') from None
        if not isinstance(tls, dict):
            raise CnmError(f'plugin "{name}": {path}: TLSConfig is not an object')
    scheme = url.partition("://")[0] if "://" in url else ""
    if scheme not in ("unix", "tcp", "http", "https"):
        raise CnmError(f'plugin "{name}": {path}: Unknown protocol in {url[:80]!r}')
    if scheme == "unix":
        check_trusted(url[len("unix://"):])
    return PluginAddress(name, url, tls)


def scan() -> list[str]:
    """The names of every plugin the folders offer (Docker's Scan), sorted."""
    names = set()
    try:
        entries = os.listdir(sock_dir())
    except OSError:
        entries = []
    for entry in entries:
        path = os.path.join(sock_dir(), entry)
        if entry.endswith(".sock") and _is_socket(path):
            names.add(entry[:-5])
        elif _is_socket(os.path.join(path, f"{entry}.sock")):
            names.add(entry)
    for folder in spec_dirs():
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            stem, _, ext = entry.rpartition(".")
            if ext in ("spec", "json") and stem:
                names.add(stem)
            elif any(os.path.isfile(os.path.join(folder, entry, f"{entry}.{e}"))
                     for e in ("spec", "json")):
                names.add(entry)
    return sorted(n for n in names if _NAME.fullmatch(n))


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False
