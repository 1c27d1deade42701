"""Docker's image reference grammar (distribution/reference), as its CLI reads it.

`name[:tag][@digest]`, where name is an optional registry domain and
slash-separated lowercase path components. A name without a domain is
Docker Hub's (`alpine` is `docker.io/library/alpine`); cnmctl has no registry,
so it keeps and shows the familiar form (`alpine:latest`), as Docker shows it.
"""

from __future__ import annotations

import re

from cnmctl.errors import InvalidArgument

NAME_TOTAL_LENGTH_MAX = 255
DEFAULT_TAG = "latest"
_DEFAULT_DOMAIN = "docker.io"
_LEGACY_DEFAULT_DOMAIN = "index.docker.io"
_OFFICIAL_PREFIX = "library/"

_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?")
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
_SHA256 = re.compile(r"sha256:([a-f0-9]{64})")

INVALID = "invalid reference format"
UPPERCASE = "invalid reference format: repository name must be lowercase"


class Reference:
    """A parsed `name[:tag][@digest]`: `name` in its full form (docker.io/library/x)."""

    def __init__(self, name: str, tag: str = "", digest: str = "") -> None:
        self.name, self.tag, self.digest = name, tag, digest

    @property
    def familiar_name(self) -> str:
        """The name as Docker shows it: `alpine`, `user/app`, `localhost:5000/app`."""
        name = self.name
        if name.startswith(_DEFAULT_DOMAIN + "/"):
            name = name[len(_DEFAULT_DOMAIN) + 1:]
            if name.startswith(_OFFICIAL_PREFIX) and "/" not in name[len(_OFFICIAL_PREFIX):]:
                name = name[len(_OFFICIAL_PREFIX):]
        return name

    @property
    def tagged(self) -> str:
        """`name:tag` in the familiar form, the tag `latest` if none was given (what
        RepoTags lists and `image rm` prints as `Untagged:`)."""
        return f"{self.familiar_name}:{self.tag or DEFAULT_TAG}"


def _parse(text: str) -> Reference:
    """distribution/reference's Parse: the grammar alone, with its errors."""
    match = _REFERENCE.fullmatch(text)
    if match is None:
        if not text:
            raise InvalidArgument("repository name must have at least one component")
        if _REFERENCE.fullmatch(text.lower()):
            raise InvalidArgument(UPPERCASE)
        raise InvalidArgument(INVALID)
    if len(match.group(1)) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidArgument(
            f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    return Reference(match.group(1), match.group(2) or "", match.group(3) or "")


def parse_normalized(text: str) -> Reference:
    """ParseNormalizedNamed: a user's reference, with Docker Hub's domain and
    `library/` added where Docker adds them; InvalidArgument with Docker's message
    if it is not one."""
    if _IDENTIFIER.fullmatch(text):
        raise InvalidArgument(f"invalid repository name ({text}), cannot specify 64-byte "
                              "hexadecimal strings")
    first, slash, rest = text.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"
                     and first.lower() == first):
        domain, remainder = _DEFAULT_DOMAIN, text
    else:
        domain, remainder = first, rest
    if domain == _LEGACY_DEFAULT_DOMAIN:
        domain = _DEFAULT_DOMAIN
    if domain == _DEFAULT_DOMAIN and "/" not in remainder:
        remainder = _OFFICIAL_PREFIX + remainder
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidArgument(UPPERCASE)
    return _parse(f"{domain}/{remainder}")


def image_id_of(text: str) -> str | None:
    """The image ID a reference spells out (`sha256:<64 hex>` or 64 hex), else None
    (ParseAnyReference's digest case)."""
    if _IDENTIFIER.fullmatch(text):
        return text
    match = _SHA256.fullmatch(text)
    return match.group(1) if match else None


def id_prefix(text: str) -> str | None:
    """The hex ID prefix `text` may stand for (`9c6f07`, `sha256:9c6f07`), else None."""
    hexpart = text[len("sha256:"):] if text.startswith("sha256:") else text
    return hexpart if hexpart and re.fullmatch(r"[a-f0-9]{1,64}", hexpart) else None
