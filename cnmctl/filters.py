"""Docker's `--filter` value matching, shared by `network ls`, `network prune` and `ps`."""

from __future__ import annotations

import re


def filter_matches(pattern: str, text: str) -> bool:
    """Docker's filter match: equal, or the value as a regular expression."""
    if pattern == text:
        return True
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def label_matches(labels: dict[str, str], wanted: str) -> bool:
    """`label=k` or `label=k=v` against a labels dict."""
    key, sep, value = wanted.partition("=")
    return key in labels and (not sep or labels[key] == value)
