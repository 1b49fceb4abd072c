"""Floating IPs: auto, from a named pool, preallocated (never released), or none.

``auto`` and ``{pool: NAME}`` create one floating IP per server on the external network, each
created together with its port in one request (Neutron creates and associates atomically: a
failed association leaves nothing behind), recorded in the ledger as soon as Neutron answers
and released at teardown. Free floating IPs already in the project are never picked up
(shade's ``reuse_ips=True`` raced between parallel runs and leaked). ``{preallocated: [...]}``
associates the listed addresses and at teardown only disassociates them. ``none`` uses the
fixed IPs, for clouds whose tenant networks are routable.

>>> attach_floating_ips(ctx, "auto", servers, net)                       # doctest: +SKIP
[NodeAddress(name='interop-...-server-0', server_id='...', fixed_ip='10.201.0.5', address='172.24.4.31')]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..challenge import FloatingIpPool, FloatingIpPreallocated
from ..errors import CloudError
from .context import Context
from .network import NetworkInfo
from .servers import ServerInfo


@dataclass
class NodeAddress:
    name: str
    server_id: str
    fixed_ip: str
    address: str  # what the harness and the other clouds connect to
    floating_ip_id: str | None = None

    def as_details(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def mode_name(mode: Any) -> str:
    if isinstance(mode, FloatingIpPool):
        return f"pool {mode.pool}"
    if isinstance(mode, FloatingIpPreallocated):
        return f"preallocated ({len(mode.preallocated)})"
    return str(mode)


def server_ports(ctx: Context, servers: list[ServerInfo], network_id: str) -> dict[str, Any]:
    """server id -> its port on ``network_id`` (one listing for all servers)."""
    wanted = {s.id for s in servers}
    ports = ctx.list(ctx.conn.network.ports, network_id=network_id, doing="listing the servers' ports")
    found = {p.device_id: p for p in ports if p.device_id in wanted}
    missing = [s.name for s in servers if s.id not in found]
    if missing:
        raise CloudError(f"no port on the run's network for {', '.join(missing)}", cloud=ctx.cloud, phase=ctx.phase)
    return found


def _fixed_ip(port: Any, server: ServerInfo) -> str:
    for item in getattr(port, "fixed_ips", None) or []:
        if ":" not in str(item.get("ip_address", ":")):
            return str(item["ip_address"])
    return server.fixed_ips[0] if server.fixed_ips else ""


def attach_floating_ips(ctx: Context, mode: Any, servers: list[ServerInfo], net: NetworkInfo) -> list[NodeAddress]:
    if mode == "none":
        return [NodeAddress(s.name, s.id, s.fixed_ips[0] if s.fixed_ips else "",
                            s.fixed_ips[0] if s.fixed_ips else "") for s in servers]
    ports = server_ports(ctx, servers, net.network_id)
    if isinstance(mode, FloatingIpPreallocated):
        return _preallocated(ctx, mode.preallocated, servers, ports)
    if net.external_network_id is None:
        raise CloudError("floating IPs were asked for but the cloud has no external network "
                         "(set floating_ip: none with a routable network)", cloud=ctx.cloud, phase=ctx.phase)
    out = []
    for index, server in enumerate(servers):
        port = ports[server.id]
        name = ctx.names.of("fip", index)
        ctx.intend("floating-ip", name, server=server.name)
        fip = ctx.call(ctx.conn.network.create_ip, floating_network_id=net.external_network_id, port_id=port.id,
                       description=name, doing=f"creating a floating IP for {server.name}")
        ctx.created("floating-ip", name, fip.id, server=server.name, address=fip.floating_ip_address)
        out.append(NodeAddress(server.name, server.id, _fixed_ip(port, server), fip.floating_ip_address, fip.id))
    return out


def _preallocated(ctx: Context, addresses: list[str], servers: list[ServerInfo],
                  ports: dict[str, Any]) -> list[NodeAddress]:
    if len(addresses) < len(servers):
        raise CloudError(f"{len(servers)} servers but only {len(addresses)} preallocated floating IPs",
                         cloud=ctx.cloud, phase=ctx.phase)
    ours = {p.id for p in ports.values()}
    fips = {f.floating_ip_address: f for f in ctx.list(ctx.conn.network.ips, doing="listing floating IPs")}
    out = []
    for index, (server, address) in enumerate(zip(servers, addresses, strict=False)):
        fip = fips.get(address)
        if fip is None:
            raise CloudError(f"preallocated floating IP {address} is not in this project", cloud=ctx.cloud,
                             phase=ctx.phase)
        if fip.port_id and fip.port_id not in ours:
            raise CloudError(f"preallocated floating IP {address} is in use by port {fip.port_id}",
                             cloud=ctx.cloud, phase=ctx.phase)
        port = ports[server.id]
        name = ctx.names.of("fip", index)
        # owned=False: teardown disassociates it and never releases it
        ctx.created("floating-ip", name, fip.id, owned=False, server=server.name, address=address)
        ctx.call(ctx.conn.network.update_ip, fip.id, port_id=port.id, doing=f"associating {address} with {server.name}")
        out.append(NodeAddress(server.name, server.id, _fixed_ip(port, server), address, fip.id))
    return out
