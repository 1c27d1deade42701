"""Docker-style generated container names: adjective_scientist."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "admiring", "bold", "brave", "clever", "dazzling", "eager", "elastic", "festive",
    "gifted", "happy", "keen", "loving", "modest", "nifty", "optimistic", "quirky",
    "relaxed", "serene", "sharp", "tender", "vibrant", "wizardly", "youthful", "zealous",
)
_SCIENTISTS = (
    "babbage", "cerf", "dijkstra", "hopper", "kahn", "knuth", "lamport", "liskov",
    "lovelace", "metcalfe", "perlman", "postel", "ritchie", "shannon", "thompson",
    "torvalds", "turing", "wirth", "wozniak", "baran", "clark", "floyd", "jacobson", "mockapetris",
)


def random_name() -> str:
    """A name such as `brave_perlman` (after pioneers of computing and networking)."""
    return f"{random.choice(_ADJECTIVES)}_{random.choice(_SCIENTISTS)}"
