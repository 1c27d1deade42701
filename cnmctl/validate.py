"""Hostile-input guards: values that reach a file, a name, a path or the kernel.

Every check here runs before anything is touched (store, kernel, run root) and
raises a CnmError with one line naming the value, its control characters
escaped. Kept to `re` and `os` (plus cnmctl.errors and cnmctl.model): the
store calls `check_key` on every document path, so this is on every
command's start-up path.
"""

from __future__ import annotations

import os
import re

from cnmctl.errors import CnmError, InvalidArgument
from cnmctl.model import NAME_MAX, NAME_PATTERN

# C0 controls and DEL: a newline or NUL would add lines to /etc/hosts or
# resolv.conf, or cut a name short.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ID = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(NAME_PATTERN)
# The patterns below only some commands use are compiled on first use (re caches
# them), so that the others do not pay for them at start-up.
_SHORT_ID = r"[0-9a-f]{12}"
# Docker's CLI check of --hostname (RFC 1123, at most 64 characters: HOST_NAME_MAX).
_HOSTNAME = (r"(?:(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])\.)*"
             r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])")
HOSTNAME_MAX = 64
# Docker's opts.ValidateDNSSearch: dot-separated labels, at least one letter.
_DOMAIN = (r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
           r"(?:\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*\.?")
DOMAIN_MAX = 254

# Effective capabilities cnmctl needs (linux/capability.h bit numbers).
CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21


def printable(text: str) -> str:
    """`text` with each control character escaped (\\n, \\x00, ...), so a message
    that quotes user input stays one line."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def check_text(value: str, what: str) -> str:
    """Refuse a value with a control character (newline, NUL, tab, DEL, ...)."""
    if _CONTROL.search(value):
        raise InvalidArgument(f"invalid {what} '{printable(value)}': "
                              "control characters are not allowed")
    return value


def is_valid_name(name: str) -> bool:
    """True for a name cnmctl accepts for containers and networks
    (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 64 characters)."""
    return len(name) <= NAME_MAX and _NAME.fullmatch(name) is not None


def is_id(text: str) -> bool:
    """True for a full object ID: 64 lowercase hex digits."""
    return _ID.fullmatch(text) is not None


def check_id(text: str, what: str = "object") -> str:
    """An object ID fit to be a path component, else CnmError."""
    if not is_id(text):
        raise CnmError(f"invalid {what} ID '{printable(text)}': expected 64 lowercase hex digits")
    return text


def check_short_id(text: str, what: str = "network") -> str:
    """The first 12 hex digits of an ID (file names under the run root), else CnmError."""
    short = text[:12]
    if not re.fullmatch(_SHORT_ID, short):
        raise CnmError(f"invalid {what} ID '{printable(text)}': expected lowercase hex digits")
    return short


def is_key(key: str) -> bool:
    """True for a store document key: an ID or a valid name."""
    return is_id(key) or is_valid_name(key)


def check_key(key: str) -> str:
    """A store document key (its file name): an ID or a valid name, never `.`,
    `..` or anything with a slash."""
    if not is_key(key):
        raise CnmError(f"invalid store key '{printable(key)}': expected a 64-hex ID or a "
                       "name of [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    return key


def check_hostname(name: str) -> str:
    """--hostname as Docker's CLI checks it: RFC 1123, at most 64 characters."""
    check_text(name, "hostname")
    if len(name) > HOSTNAME_MAX or not re.fullmatch(_HOSTNAME, name):
        raise InvalidArgument(f"invalid hostname format: {name}")
    return name


def check_dns_search(domain: str) -> str:
    """--dns-search as Docker checks it: `.` (no search list) or a domain name."""
    check_text(domain, "--dns-search value")
    if domain == ".":
        return domain
    if (not re.search(r"[A-Za-z]", domain) or len(domain) >= DOMAIN_MAX
            or not re.fullmatch(_DOMAIN, domain)):
        raise InvalidArgument(f"{domain} is not a valid domain")
    return domain


def check_env(items) -> None:
    """-e KEY=VALUE (or KEY): the key non-empty and free of control characters and
    `=`; a value may hold anything but NUL (a newline is a valid value)."""
    for item in items:
        key, _, value = item.partition("=")
        if not key or _CONTROL.search(key) or "\0" in value:
            raise InvalidArgument(f"invalid environment variable: {printable(item)}")


def parse_ip(text: str):
    """An IP address as Go's net.ParseIP reads it, else None: no zone (`%eth0`,
    which Python would accept with any characters after it), no control
    characters, no surrounding spaces."""
    import ipaddress

    if "%" in text or _CONTROL.search(text):
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def private_dir(path: str, what: str) -> str:
    """Create `path` (mode 0700) if missing; refuse it if it is a symlink, not a
    folder, writable by group or others, or owned by someone other than root or
    this user: anyone who could write there could plant symlinks cnmctl follows."""
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o755, exist_ok=True)
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except PermissionError:
        raise CnmError(f"permission denied: {path}: {NEEDS_ROOT}") from None
    except OSError as exc:
        raise CnmError(f"cannot create the {what} {path}: {exc.strerror}") from None
    try:
        info = os.lstat(path)
    except PermissionError:
        raise CnmError(f"permission denied: {path}: {NEEDS_ROOT}") from None
    except OSError as exc:
        raise CnmError(f"cannot use the {what} {path}: {exc.strerror}") from None
    import stat

    problem = ""
    if stat.S_ISLNK(info.st_mode):
        problem = "it is a symbolic link"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "it is not a directory"
    elif info.st_uid not in (0, os.geteuid()):
        problem = f"it is owned by uid {info.st_uid}, not root"
    elif info.st_mode & 0o022:
        problem = f"it is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o})"
    if problem:
        raise CnmError(f"refusing the {what} {path}: {problem}")
    return path


def missing_privileges(status_path: str = "/proc/self/status") -> bool:
    """True unless this process has CAP_NET_ADMIN and CAP_SYS_ADMIN in its
    effective set (root, root in a user namespace, or granted capabilities)."""
    try:
        with open(status_path, encoding="ascii") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    caps = int(line.split()[1], 16)
                    return not (caps >> CAP_NET_ADMIN & 1 and caps >> CAP_SYS_ADMIN & 1)
    except (OSError, ValueError):
        pass
    return os.geteuid() != 0


NEEDS_ROOT = "cnmctl needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to change containers and networks"
