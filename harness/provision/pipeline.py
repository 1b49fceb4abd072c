"""A cloud's whole pipeline: provisioning's phases around its stack's.

    identity, keypair, network, security-groups, servers, floating-ips, ssh-ready,
    <the stack's phases>, teardown

>>> pipeline_for(load_stack("hosts-patroni")).names()[-4:]    # doctest: +SKIP
('ssh-ready', 'configure', 'deploy', 'teardown')
"""

from __future__ import annotations

from ..stacks.base import Phase, Pipeline, Stack
from .identity import identity_phase
from .phases import (
    ADDRESSES,
    floating_ips_phase,
    keypair_phase,
    network_phase,
    security_groups_phase,
    servers_phase,
    ssh_ready_phase,
    teardown_phase,
    teardown_skip_reason,
)

BEFORE = (
    Phase("identity", identity_phase),
    Phase("keypair", keypair_phase),
    Phase("network", network_phase),
    Phase("security-groups", security_groups_phase),
    Phase("servers", servers_phase),
    Phase("floating-ips", floating_ips_phase),
    Phase("ssh-ready", ssh_ready_phase),
)
AFTER = (Phase("teardown", teardown_phase, skip=teardown_skip_reason, always=True),)
# what provisioning publishes at the rendezvous, withdrawn like the stack's names on failure
RENDEZVOUS = (ADDRESSES,)
# the phases every stack runs, and `peers`, the wait for the other clouds' addresses
PHASE_NAMES = tuple(p.name for p in (*BEFORE, *AFTER))


def pipeline_for(stack: Stack) -> Pipeline:
    """Every phase of a cloud running ``stack``, in order."""
    clash = sorted(set(stack.phase_names()) & set(PHASE_NAMES))
    if clash:
        raise ValueError(f"stack {stack.name} declares provisioning's own phases: {', '.join(clash)}")
    return Pipeline(stack=stack, phases=(*BEFORE, *stack.phases, *AFTER),
                    rendezvous=(*RENDEZVOUS, *stack.rendezvous))
