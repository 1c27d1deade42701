"""Compare cnmctl's JSON with Docker's reference recordings: same keys, nesting and types."""

from __future__ import annotations

import json
import os

# Docker 20.10's recordings, copied into the repository (see its README.md).
REFERENCE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "docker")
# Maps keyed by object IDs: compare their values' shape, not their keys.
ID_KEYED = ("Containers",)


def reference(name: str):
    """A reference JSON document recorded from Docker 20.10."""
    with open(os.path.join(REFERENCE, name), encoding="utf-8") as f:
        return json.load(f)


def assert_same_shape(ours, theirs, path: str = "$") -> None:
    """Fail with the first path where the two documents differ in key, nesting or type."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), f"{path}: expected an object, got {ours!r}"
        if path.rsplit(".", 1)[-1] in ID_KEYED:
            sample = next(iter(theirs.values()), None)
            for key, value in ours.items():
                assert len(key) == 64, f"{path}: key {key} is not a 64-hex ID"
                if sample is not None:
                    assert_same_shape(value, sample, f"{path}.{key[:12]}")
            return
        assert list(ours) == list(theirs), f"{path}: keys {list(ours)} != {list(theirs)}"
        for key in theirs:
            assert_same_shape(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list), f"{path}: expected an array, got {ours!r}"
        assert len(ours) == len(theirs), f"{path}: {len(ours)} items != {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same_shape(a, b, f"{path}[{i}]")
    else:
        assert type(ours) is type(theirs), f"{path}: {ours!r} is not like {theirs!r}"
