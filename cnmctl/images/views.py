"""Docker-shaped image documents: `image inspect`, and `images` rows and filters."""

from __future__ import annotations

import re
import time

from cnmctl.images.changes import empty_config
from cnmctl.model import Image, rfc3339_to_ns

NONE = "<none>"
IMAGES_FILTERS = ("dangling", "reference", "label", "before", "since")


def image_inspect(image: Image, folder: str) -> dict:
    """The `image inspect` object of one image, in Docker 20.10's shape."""
    from cnmctl import __version__

    return {
        "Id": f"sha256:{image.id}",
        "RepoTags": list(image.repo_tags),
        "RepoDigests": [],
        "Parent": "",
        "Comment": image.comment,
        "Created": image.created,
        "Container": "",
        "ContainerConfig": empty_config(),
        "DockerVersion": f"cnmctl {__version__}",
        "Author": "",
        "Config": image.config,
        "Architecture": image.architecture,
        "Os": image.os,
        "Size": image.size,
        "VirtualSize": image.size,
        "GraphDriver": {"Data": {"UpperDir": folder}, "Name": "overlay"},
        "RootFS": {"Type": "layers", "Layers": [image.diff_id]},
        "Metadata": {"LastTagTime": image.last_tag_time or "0001-01-01T00:00:00Z"},
    }


class ImageRow:
    """One `images` row: the fields `--format` templates use (sorted, as Docker's
    `{{json .}}` writes them)."""

    def __init__(self, image: Image, repository: str, tag: str, truncate: bool = True) -> None:
        from cnmctl.cli.render import human_size
        from cnmctl.views import human_duration

        seconds = rfc3339_to_ns(image.created) // 1_000_000_000
        size = human_size(image.size, 3)
        self.__dict__.update({
            "Containers": "N/A",
            "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(seconds)),
            "CreatedSince": human_duration(time.time() - seconds) + " ago",
            "Digest": NONE,
            "ID": image.id[:12] if truncate else f"sha256:{image.id}",
            "Repository": repository,
            "SharedSize": "N/A",
            "Size": size,
            "Tag": tag,
            "UniqueSize": "N/A",
            "VirtualSize": size,
        })


def _glob(pattern: str) -> re.Pattern:
    """Go's path.Match as a regular expression: `*` and `?` stop at `/`."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and "]" in pattern[i + 2:]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1:end]
            body = "^" + body[1:] if body.startswith("^") else body
            out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))


def image_rows(images: list[Image], filters: dict[str, list[str]], truncate: bool,
               find) -> list[ImageRow]:
    """The `images` rows, one per tag (`<none>` for an untagged image), newest
    image first; `filters` as Docker's (`reference` a glob on name or name:tag,
    `dangling`, `label`, `before`/`since` an image); `find` looks an image up."""
    from cnmctl.errors import InvalidArgument
    from cnmctl.filters import label_matches

    for value in filters.get("dangling", []):
        if value not in ("true", "1", "false", "0"):
            raise InvalidArgument(f"Invalid filter 'dangling={value}'")
    patterns = [_glob(p) for p in filters.get("reference", [])]
    limits = {key: [find(v).created for v in filters.get(key, [])] for key in ("before", "since")}
    rows = []
    for image in images:
        if "dangling" in filters and not any(
                (not image.repo_tags) == (v in ("true", "1")) for v in filters["dangling"]):
            continue
        labels = image.config.get("Labels") or {}
        if "label" in filters and not all(label_matches(labels, v) for v in filters["label"]):
            continue
        if any(image.created >= t for t in limits["before"]) or any(
                image.created <= t for t in limits["since"]):
            continue
        tags = sorted(image.repo_tags)
        if patterns:
            tags = [t for t in tags if any(p.fullmatch(t.rpartition(":")[0]) or p.fullmatch(t)
                                           for p in patterns)]
            if not tags:
                continue
        for tagged in tags or [f"{NONE}:{NONE}"]:
            repository, _, tag = tagged.rpartition(":")
            rows.append(ImageRow(image, repository, tag, truncate))
    return rows
