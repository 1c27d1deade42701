"""The firewall kept in step with the store: the `firewall` step, and drift.

Every command that changes what the table holds (a bridge network made or
removed, a container with published ports started or stopped) ends with a
`firewall` step (engine/steps.py), run after its commit and redone after a
crash: it computes the table from the store as a whole and writes it in one
batch. The table is derived data, like the bridges: a reboot loses it and the
first command writes it again.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from cnmctl.firewall import apply as nft
from cnmctl.firewall.ruleset import bridge_networks, needs_forwarding, ruleset
from cnmctl.model import Container, Network

if TYPE_CHECKING:
    from cnmctl.store import Store

def _state(store: Store) -> tuple[list[Network], list[Container]]:
    networks = [Network.from_doc(d) for d in store.list("networks")]
    containers = [Container.from_doc(d) for d in store.list("containers")]
    return networks, containers


def desired(store: Store) -> list[dict]:
    """The table the store implies (ruleset.ruleset over its networks and containers)."""
    return ruleset(*_state(store))


def sync(store: Store) -> None:
    """Write the table the store implies, turn on the forwarding its networks need,
    and let each bridge carry the host's 127.0.0.1 connections to published ports."""
    networks, containers = _state(store)
    nft.apply(ruleset(networks, containers))
    nft.set_forwarding(*needs_forwarding(networks))
    for net in bridge_networks(networks):
        # A bridge that is missing is restored by the next command, or reported
        # by `system check`; its setting comes with the next firewall step.
        with contextlib.suppress(FileNotFoundError):
            nft.route_localnet(net.driver_data["bridge"])


def drift(store: Store) -> str:
    """What is wrong with the table in the kernel, in a few words; "" if it is the
    one the store implies."""
    expected = desired(store)
    found = nft.live()
    if found is None:
        return "missing" if expected else ""
    if not expected:
        return "left behind: no bridge network needs it"
    if found != expected:
        return "differs from the one the store implies"
    return ""
