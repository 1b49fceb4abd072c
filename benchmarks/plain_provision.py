"""The baseline: a plain openstacksdk script provisioning and tearing down N servers on one cloud.

It makes the same API calls as the harness (keypair, network + subnet + router with gateway and
interface, security group with its rules in one bulk request, N servers created from a few
threads and watched with one listing per poll, one floating IP per server created with its
port, then teardown in dependency order and the same verification listings), with the same
polling pauses, but none of the harness's bookkeeping: no ledger, no retry wrapper, no run
record, no rendezvous. ``bench_provision.py`` runs it side by side with the harness.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.provision.retry import growing_sleep  # the same polling pauses as the harness
from harness.provision.security_groups import initial_rules
from harness.stacks import load_stack


def _wait(check: Any, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    sleep = growing_sleep()
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("plain script: timed out")
        sleep(min(5.0, deadline - time.monotonic()))


def provision_and_teardown(conn: Any, prefix: str, *, nodes: int, image: str, flavor: str, public_key: str,
                           cidr: str, harness_cidr: str) -> None:
    net_api, compute = conn.network, conn.compute
    kp = compute.create_keypair(name=prefix + "key", public_key=public_key)
    ext = next(iter(net_api.networks(is_router_external=True)))
    net = net_api.create_network(name=prefix + "net")
    subnet = net_api.create_subnet(name=prefix + "subnet", network_id=net.id, ip_version=4, cidr=cidr)
    router = net_api.create_router(name=prefix + "router", external_gateway_info={"network_id": ext.id})
    net_api.add_interface_to_router(router.id, subnet=subnet.id)
    list(net_api.subnets(network_id=ext.id))  # the harness reads the gateway to find its own address
    sg = net_api.create_security_group(name=prefix + "sg")
    list(net_api.create_security_group_rules(initial_rules(sg.id, load_stack("hosts-patroni").rules, [harness_cidr])))
    img = conn.image.find_image(image)
    flv = compute.find_flavor(flavor)

    def boot(i: int) -> Any:
        return compute.create_server(name=f"{prefix}server-{i}", image_id=img.id, flavor_id=flv.id,
                                     networks=[{"uuid": net.id}], security_groups=[{"name": sg.id}],
                                     key_name=kp.name)

    with ThreadPoolExecutor(max_workers=min(8, nodes)) as pool:
        servers = list(pool.map(boot, range(nodes)))
    ids = {s.id for s in servers}

    def all_active() -> bool:
        listed = [s for s in compute.servers(details=True, name=f"^{prefix}server-") if s.id in ids]
        if any(s.status == "ERROR" for s in listed):
            raise RuntimeError("plain script: a server went ERROR")
        return len(listed) == len(ids) and all(s.status == "ACTIVE" for s in listed)

    _wait(all_active)
    ports = {p.device_id: p for p in net_api.ports(network_id=net.id)}
    fips = [net_api.create_ip(floating_network_id=ext.id, port_id=ports[s.id].id, description=prefix + "fip")
            for s in servers]

    # teardown
    for fip in fips:
        net_api.delete_ip(fip.id, ignore_missing=True)
    for server in servers:
        compute.delete_server(server.id, ignore_missing=True)
    _wait(lambda: not [s for s in compute.servers(details=False, name=f"^{prefix}") if s.id in ids])
    net_api.remove_interface_from_router(router.id, subnet=subnet.id)
    net_api.delete_router(router.id, ignore_missing=True)
    net_api.delete_network(net.id, ignore_missing=True)
    net_api.delete_security_group(sg.id, ignore_missing=True)
    compute.delete_keypair(kp.name, ignore_missing=True)
    # the same verification the harness does: one listing per kind
    project = conn.current_project_id
    leftovers = [s for s in compute.servers(details=False, name=f"^{prefix}")]
    leftovers += [f for f in net_api.ips(project_id=project) if (f.description or "").startswith(prefix)]
    leftovers += [r for r in net_api.routers(project_id=project) if r.name.startswith(prefix)]
    leftovers += [n for n in net_api.networks(project_id=project) if n.name.startswith(prefix)]
    leftovers += [g for g in net_api.security_groups(project_id=project) if g.name.startswith(prefix)]
    leftovers += [k for k in compute.keypairs() if k.name.startswith(prefix)]
    if leftovers:
        raise RuntimeError(f"plain script left {leftovers}")
