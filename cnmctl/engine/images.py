"""Images: `import`, lookups, `image rm`, and each container's writable layer.

An image is a store document (images/ID.json) and a folder of its files
(image-roots/ID). A container of an image gets its own writable layer
(layers/CID/diff, work and merged): its process mounts an overlay of the two
inside its own mount namespace at start (runtime/enter.py), so the mount
never outlives it, and what it writes stays in its layer across stop and
start until `rm`.

Crash safety: `import` unpacks into image-roots/TXID.partial, whose removal
its transaction records first, then renames it to the image's ID and records
the image in the same commit; a kill anywhere leaves nothing once the next
command (or `system check --fix`) has undone it. A layer is made in the
create transaction (its removal recorded first) and removed after the commit
that forgets its container.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import BinaryIO

from cnmctl.errors import Conflict, InvalidArgument, NotFound
from cnmctl.faults import point
from cnmctl.model import Container, Image, now_rfc3339nano
from cnmctl.store import Store
from cnmctl.validate import check_id

IMAGE_ROOTS = "image-roots"
LAYERS = "layers"
# The shortest ID prefix that names an image as `run`'s first word: `df`, `dd` or `bc`
# are commands, not the first hex digits of an image's ID.
RUN_ID_PREFIX_MIN = 12


class DeleteConflict(Conflict):
    """Docker's imageDeleteConflict; `used` when a container is the reason."""

    def __init__(self, message: str, used: bool) -> None:
        super().__init__(message)
        self.used = used


def _architecture() -> str:
    """The host's architecture in Go's words (GOARCH), as Docker records it."""
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(
        machine, machine)


def merge_env(defaults: list[str], overrides: list[str]) -> list[str]:
    """The image's Env with -e values replacing the same names in place and new ones
    appended (Docker's ReplaceOrAppendEnvValues)."""
    merged = list(defaults)
    where = {item.partition("=")[0]: i for i, item in enumerate(merged)}
    for item in overrides:
        key = item.partition("=")[0]
        if key in where:
            merged[where[key]] = item
        else:
            where[key] = len(merged)
            merged.append(item)
    return merged


class ImageOps:
    """Mixed into Engine; relies on its store, root, transactions and containers."""

    store: Store
    root: str

    # -- paths ----------------------------------------------------------------------
    def image_dir(self, image_id: str) -> str:
        """The folder of an image's files (the lower layer of its containers)."""
        return os.path.join(self.root, IMAGE_ROOTS, check_id(image_id, "image"))

    def layer_dir(self, cid: str) -> str:
        """A container's writable layer: diff/ (its changes), work/ and merged/."""
        return os.path.join(self.root, LAYERS, check_id(cid, "container"))

    def overlay_spec(self, ctr: Container) -> dict | None:
        """What runtime/enter.py mounts as the container's root (paths relative to
        the store, so the store's own path never reaches the mount options)."""
        if not ctr.image_id:
            return None
        layer = os.path.join(LAYERS, ctr.id)
        return {"base": self.root, "lower": os.path.join(IMAGE_ROOTS, ctr.image_id),
                "upper": f"{layer}/diff", "work": f"{layer}/work", "target": f"{layer}/merged"}

    # -- lookups ----------------------------------------------------------------------
    def images(self) -> list[Image]:
        """Every image, newest first (as `images` lists them)."""
        found = [Image.from_doc(d) for d in self.store.list("images")]
        return sorted(found, key=lambda i: i.created, reverse=True)

    def find_image(self, ref: str, min_prefix: int = 1) -> Image:
        """An image as Docker's GetImage finds it: an ID spelled out (64 hex or
        sha256:...), a name[:tag] (tag latest if none), then a unique ID prefix of
        at least `min_prefix` digits. InvalidArgument if `ref` is no reference."""
        from cnmctl.images.reference import id_prefix, image_id_of, parse_normalized

        full = image_id_of(ref)
        if full:
            doc = self.store.get("images", full)
            if doc is None:
                raise NotFound(f"No such image: sha256:{full}")
            return Image.from_doc(doc)
        parsed = parse_normalized(ref)
        images = self.images()
        if not parsed.digest:
            for image in images:
                if parsed.tagged in image.repo_tags:
                    return image
        prefix = id_prefix(ref)
        if prefix and len(prefix) >= min_prefix:
            matches = [i for i in images if i.id.startswith(prefix)]
            if len(matches) == 1:
                return matches[0]
        raise NotFound(f"No such image: {ref if parsed.digest else parsed.tagged}")

    def image_for_command(self, word: str) -> Image | None:
        """The image `run`'s first word names, or None (then it is a host command)."""
        if not self.store.ids("images"):  # no image at all: nothing to parse or read
            return None
        try:
            return self.find_image(word, min_prefix=RUN_ID_PREFIX_MIN)
        except (NotFound, InvalidArgument):
            return None

    def image_view(self, image: Image) -> dict:
        """The `image inspect` document of one image."""
        from cnmctl.images.views import image_inspect

        return image_inspect(image, self.image_dir(image.id))

    # -- import -------------------------------------------------------------------------
    def import_image(self, source: BinaryIO, repository: str = "", message: str = "",
                     changes: list[str] = (), origin: str = "-") -> tuple[Image, int]:
        """`import`: unpack the tarball read from `source` into a new image, tagged
        `repository` if given (the tag moves from any image that had it); the
        image and how many device nodes were skipped (unpack.py says why)."""
        from cnmctl.images.changes import apply_changes
        from cnmctl.images.reference import parse_normalized
        from cnmctl.images.unpack import unpack

        ref = parse_normalized(repository) if repository else None
        if ref is not None and ref.digest:
            raise InvalidArgument("cannot import digest reference")
        config = apply_changes(list(changes))
        with self.transaction("import") as tx:
            roots = os.path.join(self.root, IMAGE_ROOTS)
            os.makedirs(roots, mode=0o700, exist_ok=True)
            partial = os.path.join(roots, f"{tx.id}.partial")
            tx.created({"kind": "store-dir", "name": partial})
            os.mkdir(partial, 0o700)
            unpacked = unpack(source, partial)
            created = now_rfc3339nano()
            comment = message or f"Imported from {origin}"
            described = {"architecture": _architecture(), "config": config,
                         "created": created, "comment": comment, "os": "linux",
                         "history": [{"created": created, "comment": comment}],
                         "rootfs": {"type": "layers", "diff_ids": [unpacked.diff_id]}}
            image_id = hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()
            final = self.image_dir(image_id)
            tx.created({"kind": "store-dir", "name": final})
            os.sync()  # the files are on disk before the record that names them
            point()
            os.rename(partial, final)
            point()
            image = Image(id=image_id, created=created, comment=comment, config=config,
                          diff_id=unpacked.diff_id, size=unpacked.size,
                          architecture=described["architecture"])
            if ref is not None:
                self._tag(image, ref.tagged)
            self.store.put("images", image.id, image.to_doc())
        return image, unpacked.skipped_devices

    def _tag(self, image: Image, tagged: str) -> None:
        """Give `tagged` (name:tag) to `image`, taking it from any image that has it
        (that one keeps its ID, and shows as <none> if it has no other tag)."""
        for other in self.images():
            if other.id != image.id and tagged in other.repo_tags:
                other.repo_tags.remove(tagged)
                self.store.put("images", other.id, other.to_doc())
        if tagged not in image.repo_tags:
            image.repo_tags.append(tagged)
        image.last_tag_time = now_rfc3339nano()

    # -- image rm -------------------------------------------------------------------------
    def remove_image(self, ref: str, force: bool = False) -> list[tuple[str, str]]:
        """`image rm`: Docker's ImageDelete, one transaction; ("Untagged", name:tag)
        and ("Deleted", sha256:ID) records. By name it untags, and deletes the image
        once no tag is left; by ID it deletes the image and its tags. A container
        using it refuses both, as Docker's conflicts say; with `force` only a
        running one does. An image deleted by force while stopped containers use it
        keeps its folder until the last of them is removed."""
        with self.transaction("image rm"):
            image = self.find_image(ref)
            users = [c for c in self.containers() if c.image_id == image.id]
            records: list[tuple[str, str]] = []
            by_id = image.id.startswith(ref) or f"sha256:{image.id}".startswith(ref)
            if not by_id:
                from cnmctl.images.reference import parse_normalized

                tagged = parse_normalized(ref).tagged
                if not force and len(image.repo_tags) == 1 and users:
                    raise Conflict(f'conflict: unable to remove repository reference "{ref}" '
                                   f"(must force) - container {users[0].id[:12]} is using its "
                                   f"referenced image {image.id[:12]}")
                image.repo_tags.remove(tagged)
                records.append(("Untagged", tagged))
            elif len(image.repo_tags) == 1:  # by ID, one tag: it goes with the image
                conflict = _delete_conflict(image, users, stopped=not force, tagged=False)
                if conflict:
                    raise conflict
                records.append(("Untagged", image.repo_tags.pop()))
            conflict = None
            if by_id or not image.repo_tags:
                conflict = _delete_conflict(image, users, stopped=not force, tagged=not force)
            if not by_id and (image.repo_tags or conflict):
                # Untagged only: other tags remain, or (Docker's quiet delete) a
                # container still uses the image, which stays as <none>.
                self.store.put("images", image.id, image.to_doc())
                return records
            if conflict:
                raise conflict
            records += [("Untagged", tag) for tag in image.repo_tags]
            self.store.delete("images", image.id)
            if not users:
                self._tx.then({"kind": "store-dir", "name": self.image_dir(image.id)})
            records.append(("Deleted", f"sha256:{image.id}"))
        return records

    # -- a container's writable layer ------------------------------------------------------
    def make_layer(self, ctr: Container) -> None:
        """Make the container's writable layer (its removal recorded first)."""
        layer = self.layer_dir(ctr.id)
        self._tx.created({"kind": "store-dir", "name": layer})
        os.makedirs(os.path.dirname(layer), mode=0o700, exist_ok=True)
        os.mkdir(layer, 0o700)
        for part in ("diff", "work", "merged"):
            os.mkdir(os.path.join(layer, part), 0o755)

    def drop_layer(self, ctr: Container) -> None:
        """Once the container is forgotten: remove its layer, and its image's folder
        if the image was deleted by force and no other container uses it."""
        if not ctr.image_id:
            return
        self._tx.then({"kind": "store-dir", "name": self.layer_dir(ctr.id)})
        if self.store.get("images", ctr.image_id) is None and not any(
                c.image_id == ctr.image_id and c.id != ctr.id for c in self.containers()):
            self._tx.then({"kind": "store-dir", "name": self.image_dir(ctr.image_id)})

    def image_command(self, image: Image, args: list[str], env: list[str],
                      workdir: str) -> tuple[list[str], list[str], str, list[str]]:
        """A container's command, Env and working folder as Docker merges the image's
        Config with `run`'s: (argv, env, workdir, entrypoint)."""
        config = image.config
        entrypoint = list(config.get("Entrypoint") or [])
        cmd = list(args) or list(config.get("Cmd") or [])
        if not entrypoint and not cmd:
            raise InvalidArgument("No command specified")
        return ([*entrypoint, *cmd], merge_env(config.get("Env") or [], list(env)),
                workdir or config.get("WorkingDir") or "", entrypoint)


def _delete_conflict(image: Image, users: list[Container], *, stopped: bool,
                     tagged: bool) -> DeleteConflict | None:
    """Docker's checkImageDeleteConflict: a running container (never forced), then
    tags left (unless forced), then a stopped container (unless forced)."""
    short = image.id[:12]
    running = [c for c in users if c.status == "running"]
    if running:
        return DeleteConflict(f"conflict: unable to delete {short} (cannot be forced) - image "
                              f"is being used by running container {running[0].id[:12]}", True)
    if tagged and image.repo_tags:
        return DeleteConflict(f"conflict: unable to delete {short} (must be forced) - image is "
                              "referenced in multiple repositories", False)
    if stopped and users:
        return DeleteConflict(f"conflict: unable to delete {short} (must be forced) - image is "
                              f"being used by stopped container {users[0].id[:12]}", True)
    return None
