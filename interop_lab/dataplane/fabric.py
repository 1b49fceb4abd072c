"""Shared L2 plumbing: tenant bridges and veth pairs, recorded in the ledger.

Call these inside ``Ledger.transaction()``: the ledger lock then also serializes bridge
creation/deletion against port attachment across threads and processes (a VM plugging into a
bridge while the last other port leaves must not find it deleted).
"""

from __future__ import annotations

from typing import Any

from . import names, system


def ensure_tenant_bridge(data: dict[str, Any], network_id: str) -> str:
    name = names.bridge(network_id)
    data["bridges"].setdefault(name, "tenant")  # recorded before it exists
    system.ensure_bridge(name, names.bridge_mac(network_id))
    return name


def release_bridge(data: dict[str, Any], name: str) -> bool:
    """Delete a bridge this data plane created once nothing is plugged into it."""
    if name not in data["bridges"]:
        return False
    if system.link_exists(name):
        if system.bridge_ports(name):
            return False
        system.delete_link(name)
    del data["bridges"][name]
    return True


def add_veth(
    data: dict[str, Any],
    *,
    host_end: str,
    bridge: str,
    peer: str,
    peer_netns: str,
    peer_mac: str,
    mtu: int,
    owner: str,
) -> bool:
    """veth ``host_end`` (root namespace, in ``bridge``) == ``peer`` (in ``peer_netns``, up).

    Returns False if ``host_end`` already existed (nothing changed).
    """
    names.check_ifname(host_end)
    names.check_ifname(peer)
    if system.link_exists(host_end):
        return False
    data["links"][host_end] = owner
    system.ip("link", "add", host_end, "mtu", str(mtu), "type", "veth", "peer", "name", peer,
              "mtu", str(mtu), "address", peer_mac, "netns", peer_netns)
    system.ip("link", "set", host_end, "master", bridge, "up")
    system.ip("link", "set", peer, "up", netns=peer_netns)
    return True


def delete_veth(data: dict[str, Any], host_end: str) -> None:
    """Delete a veth pair by its root-namespace end (the other end goes with it)."""
    system.delete_link(host_end)
    data["links"].pop(host_end, None)
