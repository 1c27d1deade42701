"""Docker's security defaults: the capabilities it grants (the default set,
--cap-add/--cap-drop, --privileged) and the /proc and /sys paths it masks or
makes read-only. Pure data and functions over names and bit masks (bit N =
capability N), nothing imported: enter.py, the engine and `inspect` load it."""

from __future__ import annotations

# linux/capability.h, by number.
NAMES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",
    "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
    "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
    "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
NUMBERS = {f"CAP_{name}": number for number, name in enumerate(NAMES)}
KNOWN = (1 << len(NAMES)) - 1

# moby's oci/caps/defaults.go: what every container keeps.
DEFAULT = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
           "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
           "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE")
ALL = "ALL"

# moby's oci.DefaultSpec: hidden, and read-only, unless --privileged.
MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/proc/scsi", "/sys/firmware")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def normalize(names: list[str], available: int) -> list[str]:
    """--cap-add/--cap-drop values as moby's NormalizeLegacyCapabilities reads them:
    upper-cased, `CAP_` added where missing, `ALL` kept; ValueError with Docker's
    words for a name it does not know or that is not in the mask `available`
    (what the kernel has and cnmctl holds)."""
    normalized = []
    for name in names:
        name = name.upper()
        if name != ALL and not name.startswith("CAP_"):
            name = "CAP_" + name
        if name != ALL and name not in NUMBERS:
            raise ValueError(f'unknown capability: "{name}"')
        if name != ALL and not available >> NUMBERS[name] & 1:
            raise ValueError("capability not supported by your kernel or not available in "
                             f'the current environment: "{name}"')
        normalized.append(name)
    return normalized


def check(cap_add: list[str], cap_drop: list[str], available: int) -> None:
    """Refuse bad --cap-add/--cap-drop values with the daemon's message."""
    for flag, names in (("CapAdd", cap_add), ("CapDrop", cap_drop)):
        try:
            normalize(names, available)
        except ValueError as exc:
            raise ValueError(f"invalid {flag}: {exc}") from None


def _bits(names: list[str] | tuple[str, ...]) -> int:
    return sum({1 << NUMBERS[n] for n in names if n != ALL})


def mask(cap_add: list[str], cap_drop: list[str], privileged: bool, available: int) -> int:
    """The container's capabilities as a bit mask, as moby's TweakCapabilities
    computes them: all those `available` when privileged or with --cap-add ALL
    (less the --cap-drop ones), only the --cap-add ones after --cap-drop ALL,
    else the default set less --cap-drop plus --cap-add; never more than
    `available` (a default one cnmctl lacks cannot be granted)."""
    if privileged:
        return available
    # names checked at create; one no longer available is left out below
    drops, adds = normalize(cap_drop, KNOWN), normalize(cap_add, KNOWN)
    if ALL in adds:
        return available & ~_bits(drops)
    if ALL in drops:
        return _bits(adds) & available
    return ((_bits(DEFAULT) & ~_bits(drops)) | _bits(adds)) & available

