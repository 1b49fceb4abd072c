"""The provisioning phases of a cloud, which :mod:`.pipeline` puts around a stack's phases.

Each takes the cloud's :class:`~harness.engine.CloudRun` and returns details for the record.
They share one :class:`~.context.Context` per cloud (connection, names, ledger), kept in
``run.state``. ``teardown`` also runs when an earlier phase failed, and ``CloudRun.close()``
runs it when nobody did (a failure, Ctrl-C), so a run never leaves resources behind unless it
is killed outright; then ``interop cleanup`` reads the ledger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..challenge import FloatingIpPool, FloatingIpPreallocated
from ..errors import CloudError
from ..rendezvous import DirRendezvous
from .context import Context
from .discovery import external_network, resolve_flavor, resolve_image
from .floating_ips import NodeAddress, attach_floating_ips, mode_name
from .keypair import RunKey, create_keypair, run_key
from .ledger import Ledger
from .naming import Names
from .network import NetworkInfo, create_network, default_cidr, use_existing
from .pipeline import ADDRESSES
from .retry import RetryPolicy
from .security_groups import add_rules, audit, create_security_group, describe_rule, harness_cidrs, peer_rules
from .servers import ServerInfo, boot_servers
from .ssh import SshTarget, wait_for_ssh
from .teardown import raise_if_unclean, teardown

if TYPE_CHECKING:
    from ..engine import CloudRun



def context(run: CloudRun, phase: str) -> Context:
    """The cloud's provisioning context, created on first use; ``phase`` names errors from now on."""
    ctx: Context | None = run.state.get("provision")
    if ctx is None:
        ctx = Context(conn=None, cloud=run.cloud, names=Names.for_run(run.run_dir.name, run.cloud),
                      ledger=Ledger(run.run_dir))
        run.state["provision"] = ctx
    if ctx.conn is None:
        ctx.conn = run.connection(phase=phase)
    ctx.phase = phase
    ctx.policy = RetryPolicy()  # retries are reported per phase
    return ctx


def _need(ctx: Context, key: str, phase: str) -> Any:
    try:
        return ctx.results[key]
    except KeyError:
        raise CloudError(f"needs the {phase} phase to have run first", cloud=ctx.cloud, phase=ctx.phase) from None


def _with_retries(ctx: Context, details: dict[str, Any]) -> dict[str, Any]:
    if ctx.policy.retries:
        details["retries"] = list(ctx.policy.retries)
    return details


def keypair_phase(run: CloudRun) -> dict[str, Any]:
    ctx = context(run, "keypair")
    key = run_key(run.rundir.private_path())
    details = create_keypair(ctx, key)
    ctx.results["key"] = key
    ctx.results["keypair"] = details["name"]
    return _with_retries(ctx, details)


def network_phase(run: CloudRun) -> dict[str, Any]:
    ctx = context(run, "network")
    settings = run.settings
    mode = settings.floating_ip
    pool = mode.pool if isinstance(mode, FloatingIpPool) else None
    external = external_network(ctx, pool)
    if external is None and mode != "none":
        raise CloudError(f"floating_ip is {mode_name(mode)} but the cloud has no external network "
                         "(use floating_ip: none with a routable network)", cloud=run.cloud, phase="network")
    if settings.network:
        info = use_existing(ctx, settings.network, external)
    else:
        clouds = run.challenge.cloud_names()
        cidr = settings.cidr or default_cidr(clouds.index(run.cloud) if run.cloud in clouds else 0)
        info = create_network(ctx, cidr, external)
    ctx.results["network"] = info
    details = info.as_details()
    if external is not None:
        details["external_network"] = external.as_details()
    return _with_retries(ctx, details)


def _gateway(ctx: Context, net: NetworkInfo) -> str | None:
    if not net.external_network_id:
        return None
    subnets = ctx.list(ctx.conn.network.subnets, network_id=net.external_network_id,
                       doing="reading the external network's subnets")
    return next((s.gateway_ip for s in subnets if s.ip_version == 4 and s.gateway_ip), None)


def security_groups_phase(run: CloudRun) -> dict[str, Any]:
    ctx = context(run, "security-groups")
    net: NetworkInfo = _need(ctx, "network", "network")
    rules = run.pipeline.stack.rules
    harness, how = harness_cidrs(_gateway(ctx, net))
    sg = create_security_group(ctx, rules, harness, run.challenge.open_to_world)
    problems = audit(sg["rules"], open_to_world=run.challenge.open_to_world)
    if problems:  # only a harness bug gets here: the rules are ours
        raise CloudError("security group audit failed: " + "; ".join(problems), cloud=run.cloud,
                         phase="security-groups")
    ctx.results["security_group"] = sg
    return _with_retries(ctx, {
        "id": sg["id"], "name": sg["name"], "harness": harness, "harness_from": how,
        "rules": [describe_rule(r) + (f" ({r['description']})" if r.get("description") else "") for r in sg["rules"]],
        "audit": "no rule open to the world" + (f" except ports {run.challenge.open_to_world}"
                                                if run.challenge.open_to_world else ""),
    })


def servers_phase(run: CloudRun) -> dict[str, Any]:
    ctx = context(run, "servers")
    settings = run.settings
    net: NetworkInfo = _need(ctx, "network", "network")
    sg = _need(ctx, "security_group", "security-groups")
    keypair = _need(ctx, "keypair", "keypair")
    stack = run.pipeline.stack
    image = resolve_image(ctx, settings.image, stack)
    flavor = resolve_flavor(ctx, settings.flavor, stack, image)
    servers = boot_servers(ctx, count=settings.nodes, image_id=image.id, flavor_id=flavor.id,
                           network_id=net.network_id, security_group_id=sg["id"], key_name=keypair,
                           timeout=run.challenge.timeout("servers"))
    ctx.results["servers"] = servers
    return _with_retries(ctx, {"image": image.as_details(), "flavor": flavor.as_details(),
                               "servers": [s.as_details() for s in servers]})


def floating_ips_phase(run: CloudRun) -> dict[str, Any]:
    ctx = context(run, "floating-ips")
    net: NetworkInfo = _need(ctx, "network", "network")
    servers: list[ServerInfo] = _need(ctx, "servers", "servers")
    sg = _need(ctx, "security_group", "security-groups")
    mode = run.settings.floating_ip
    addresses = attach_floating_ips(ctx, mode, servers, net)
    ctx.results["addresses"] = addresses
    key: RunKey = _need(ctx, "key", "keypair")
    # the shape the stacks read (harness/stacks/base.py)
    run.facts["servers"] = [{"name": a.name, "public_ip": a.address, "private_ip": a.fixed_ip,
                             "ssh_user": run.settings.ssh_user} for a in addresses]
    run.facts["ssh_key"] = str(key.private_path)
    run.facts["known_hosts"] = str(key.private_path.parent / "known_hosts")
    details: dict[str, Any] = {"mode": mode_name(mode), "addresses": [a.as_details() for a in addresses]}
    if isinstance(mode, FloatingIpPreallocated):
        details["released_at_teardown"] = False

    # cross-cloud: open the peer ports to the other clouds' node addresses, once they are known
    rv = DirRendezvous(run.run_dir)
    rv.publish(ADDRESSES, run.cloud, {"addresses": [a.address for a in addresses]})
    got = rv.gather(ADDRESSES, run.expected_clouds(), timeout=run.challenge.timeout("peers"), me=run.cloud)
    # Own addresses too: a node reaching a same-cloud peer at its floating IP is hairpin-NATed
    # and arrives with its own floating IP as source, which remote_group_id does not match.
    peers = {c: list(d.get("addresses", [])) for c, d in got.present.items()}
    bodies = peer_rules(sg["id"], run.pipeline.stack.rules, peers)
    made = add_rules(ctx, bodies, doing=f"adding {len(bodies)} peer rules")
    problems = audit(made, open_to_world=run.challenge.open_to_world)
    if problems:
        raise CloudError("security group audit failed: " + "; ".join(problems), cloud=run.cloud, phase="floating-ips")
    details["peers"] = {c: len(a) for c, a in peers.items()}
    details["peer_rules"] = len(made)
    details["peers_waited_s"] = round(got.waited, 3)
    if got.missing:
        details["peers_missing"] = got.missing
    if got.withdrawn:
        details["peers_withdrawn"] = got.withdrawn
    return _with_retries(ctx, details)


def ssh_ready_phase(run: CloudRun) -> dict[str, Any]:
    ctx = context(run, "ssh-ready")
    addresses: list[NodeAddress] = _need(ctx, "addresses", "floating-ips")
    key: RunKey = _need(ctx, "key", "keypair")
    targets = [SshTarget(a.name, a.address, 22, run.settings.ssh_user) for a in addresses]
    waited = wait_for_ssh(targets, key.private_path, known_hosts=key.private_path.parent / "known_hosts",
                          timeout=run.challenge.timeout("ssh-ready"), cloud=run.cloud, phase="ssh-ready")
    return {"seconds": waited, "user": run.settings.ssh_user}


def teardown_phase(run: CloudRun) -> dict[str, Any]:
    ctx = context(run, "teardown")
    assert ctx.ledger is not None
    result = teardown(ctx, ctx.ledger.entries(run.cloud, live=True), prefix=ctx.names.prefix,
                      timeout=run.challenge.timeout("teardown"))
    raise_if_unclean(ctx, result)
    return _with_retries(ctx, result.as_details())


def teardown_skip_reason(run: CloudRun) -> str | None:
    """Why teardown has nothing to do on this cloud (or was told not to), or None when it has."""
    if Ledger(run.run_dir).has_live(run.cloud):
        if run.keep:
            return (f"cloud {run.cloud}: kept (interop run --keep): its resources stay until "
                    f"`interop cleanup --run-id {run.run_dir.name}`")
        return None
    return f"cloud {run.cloud}: nothing to tear down (no resources were created)"
