"""Router legs come and go without leaking bridges, and the external bridge outlives routers.

Found wiring the lab agent to a busy lab: removing a router interface left its (empty) tenant
bridge behind, and deleting the last router deleted the external bridge with the root
namespace's gateway address on it (so the harness lost its side of the external network).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from dp_helpers import Env

from interop_lab.dataplane import RouterGateway, RouterInterface, RouterSpec, names, system

pytestmark = pytest.mark.lab


def test_interfaces_and_routers_release_their_bridges_but_not_the_external_one(
        make_env: Callable[[int], Env]) -> None:
    env = make_env(9)
    ext = env.external
    gateway = RouterGateway("gw-port-1", "fa:16:3e:00:09:01", "172.29.9.10", 24)
    iface_a = RouterInterface("if-port-a", "net-a", "fa:16:3e:00:09:0a", "10.229.9.1", 24)
    iface_b = RouterInterface("if-port-b", "net-b", "fa:16:3e:00:09:0b", "10.229.10.1", 24)
    env.routers.apply(RouterSpec("router-1", gateway, (iface_a, iface_b)))
    bridge_a, bridge_b = names.bridge("net-a"), names.bridge("net-b")
    assert system.link_exists(bridge_a) and system.link_exists(bridge_b)

    env.routers.apply(RouterSpec("router-1", gateway, (iface_a,)))  # interface b removed
    assert system.link_exists(bridge_a)
    assert not system.link_exists(bridge_b), "the removed interface's empty bridge is left behind"
    assert bridge_b not in env.routers.ledger.read()["bridges"]

    env.routers.delete("router-1")
    assert not system.link_exists(bridge_a)
    assert system.link_exists(ext.bridge), "deleting the last router took the external bridge with it"
    addresses = system.ip_json("addr", "show", "dev", ext.bridge)[0]["addr_info"]
    assert any(a["local"] == ext.gateway for a in addresses)
