"""`import -c/--change`: Dockerfile instructions applied to an image's Config.

CMD and ENTRYPOINT in JSON form (`["ash", "-l"]`, the exec form) or shell
form (`ash -l`, run as `/bin/sh -c "ash -l"`), ENV and LABEL as `KEY=VALUE`
pairs (quotes as a shell reads them) or the legacy `KEY VALUE`, WORKDIR (a
relative one joins the previous). Docker's other change instructions (EXPOSE,
USER, VOLUME, ...) are refused with one line: cnmctl would not apply them.
"""

from __future__ import annotations

import json
import posixpath
import shlex

from cnmctl.errors import InvalidArgument

# Docker's BuildFromConfig accepts these (any other: "X is not a valid change command").
_DOCKER_CHANGES = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL", "ONBUILD",
                   "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")


def empty_config() -> dict:
    """The Config of an image imported without changes, as Docker records it."""
    return {"Hostname": "", "Domainname": "", "User": "", "AttachStdin": False,
            "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False,
            "StdinOnce": False, "Env": None, "Cmd": None, "Image": "", "Volumes": None,
            "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None}


def _command(args: str) -> list[str]:
    """CMD/ENTRYPOINT arguments: a JSON array of strings (exec form) or a shell line."""
    if args.startswith("["):
        try:
            value = json.loads(args)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", args]


def _pairs(instruction: str, args: str) -> list[tuple[str, str]]:
    """ENV/LABEL arguments: `K=V ...` (shell quoting) or the legacy `K V`."""
    first = args.split(None, 1)[0]
    if "=" not in first:
        key, _, value = args.partition(" ")
        return [(key, value.strip())]
    try:
        words = shlex.split(args)
    except ValueError as exc:
        raise InvalidArgument(f"{instruction} {args}: {exc}") from None
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not key or not sep:
            raise InvalidArgument(f"{instruction} names can not be blank" if not key else
                                  f"Syntax error - can't find = in {word!r}. Must be of the "
                                  "form: name=value")
        pairs.append((key, value))
    return pairs


def apply_changes(changes: list[str]) -> dict:
    """The Config of an imported image with `changes` applied in order."""
    config = empty_config()
    for change in changes:
        instruction, _, args = change.strip().partition(" ")
        instruction, args = instruction.upper(), args.strip()
        if instruction not in _DOCKER_CHANGES:
            raise InvalidArgument(f"{instruction.lower()} is not a valid change command")
        if not args:
            raise InvalidArgument(f"{instruction} requires at least one argument")
        if instruction in ("CMD", "ENTRYPOINT"):
            config["Cmd" if instruction == "CMD" else "Entrypoint"] = _command(args)
        elif instruction == "ENV":
            env = dict(item.partition("=")[::2] for item in config["Env"] or [])
            env.update(_pairs(instruction, args))
            config["Env"] = [f"{k}={v}" for k, v in env.items()]
        elif instruction == "LABEL":
            config["Labels"] = {**(config["Labels"] or {}), **dict(_pairs(instruction, args))}
        elif instruction == "WORKDIR":
            config["WorkingDir"] = posixpath.normpath(
                posixpath.join(config["WorkingDir"] or "/", args))
        else:
            raise InvalidArgument(f"{instruction} is not supported by cnmctl import -c "
                                  "(CMD, ENTRYPOINT, ENV, LABEL and WORKDIR are)")
    return config
