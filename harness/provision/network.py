"""The servers' network: the cloud's configured one, or network + subnet + router of our own.

With ``network:`` in the challenge file the servers go there and nothing is created (a cloud
whose fixed IPs are routable needs nothing more). Otherwise the run creates a network, a
subnet (``cidr:``, else a distinct /24 per cloud), and, when the cloud has an external
network, a router with its gateway there and an interface on the subnet; every piece is in the
ledger before its create call returns, and teardown removes exactly those.

>>> default_cidr(2)
'10.202.0.0/24'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import CloudError
from .context import Context
from .discovery import Choice


@dataclass
class NetworkInfo:
    network_id: str
    network_name: str
    subnet_id: str | None
    cidr: str | None
    router_id: str | None = None
    external_network_id: str | None = None
    external_network_name: str | None = None
    created: bool = False

    def as_details(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def default_cidr(index: int) -> str:
    """A /24 per cloud, distinct for up to 50 clouds, clear of the usual 192.168/172.16 ranges."""
    return f"10.{200 + index % 50}.0.0/24"


def use_existing(ctx: Context, wanted: str, external: Choice | None) -> NetworkInfo:
    net = ctx.call(ctx.conn.network.find_network, wanted, ignore_missing=True, doing=f"looking up network {wanted}")
    if net is None:
        nets = ctx.list(ctx.conn.network.networks, doing="listing networks")
        names = ", ".join(sorted(n.name or n.id for n in nets)) or "none"
        raise CloudError(f"network {wanted!r} not found on this cloud (networks here: {names})",
                         cloud=ctx.cloud, phase=ctx.phase)
    subnets = [s for s in ctx.list(ctx.conn.network.subnets, network_id=net.id,
                                   doing=f"listing subnets of {wanted}") if s.ip_version == 4]
    subnet = subnets[0] if subnets else None
    return NetworkInfo(network_id=net.id, network_name=net.name, subnet_id=subnet.id if subnet else None,
                       cidr=subnet.cidr if subnet else None,
                       external_network_id=external.id if external else None,
                       external_network_name=external.name if external else None, created=False)


def create_network(ctx: Context, cidr: str, external: Choice | None) -> NetworkInfo:
    """Network, subnet, and (with an external network) a router with gateway and interface."""
    names = ctx.names
    described = {"description": f"interop harness run {names.run_id}"}
    net_name = names.of("net")
    ctx.intend("network", net_name)
    net = ctx.call(ctx.conn.network.create_network, name=net_name, **described, doing=f"creating network {net_name}")
    ctx.created("network", net_name, net.id)
    info = NetworkInfo(network_id=net.id, network_name=net_name, subnet_id=None, cidr=cidr, created=True)

    subnet_name = names.of("subnet")
    ctx.intend("subnet", subnet_name, network_id=net.id)
    subnet = ctx.call(ctx.conn.network.create_subnet, name=subnet_name, network_id=net.id, ip_version=4,
                      cidr=cidr, **described, doing=f"creating subnet {subnet_name} ({cidr})")
    ctx.created("subnet", subnet_name, subnet.id, network_id=net.id)
    info.subnet_id = subnet.id

    if external is None:
        return info
    router_name = names.of("router")
    ctx.intend("router", router_name)
    router = ctx.call(ctx.conn.network.create_router, name=router_name,
                      external_gateway_info={"network_id": external.id}, **described,
                      doing=f"creating router {router_name} with its gateway on {external.name}")
    ctx.created("router", router_name, router.id)
    info.router_id = router.id
    info.external_network_id, info.external_network_name = external.id, external.name

    iface_name = names.of("router-interface")
    ctx.intend("router-interface", iface_name, router_id=router.id, subnet_id=subnet.id)
    answer = ctx.call(ctx.conn.network.add_interface_to_router, router.id, subnet=subnet.id,
                      doing=f"attaching {subnet_name} to {router_name}")
    ctx.created("router-interface", iface_name, str(answer.get("port_id") or subnet.id),
                router_id=router.id, subnet_id=subnet.id)
    return info
