"""A cloud's whole pipeline: provisioning's phases around its stack's.

    identity, keypair, network, security-groups, servers, floating-ips, ssh-ready,
    <the stack's phases>, survive (for a stack with a database), teardown

>>> pipeline_for(load_stack("hosts-patroni")).names()[-4:]    # doctest: +SKIP
('ssh-ready', 'configure', 'deploy', 'teardown')
"""

from __future__ import annotations

from collections.abc import Callable

from ..stacks.base import Phase, Pipeline, Stack, lazy

# what provisioning publishes at the rendezvous: each cloud's node addresses, for peer rules
ADDRESSES = "node-addresses"


def _phase(name: str, function: str, *, skip: Callable[..., str | None] | None = None, always: bool = False) -> Phase:
    """Provisioning's phase ``name``, imported when a cloud first runs it (openstacksdk's proxies,
    cryptography for the key): a process pays only for the phases it runs."""
    return Phase(name, lazy(f"{__package__}.{function}"), skip=skip, always=always)


BEFORE = (
    _phase("identity", "identity:identity_phase"),
    _phase("keypair", "phases:keypair_phase"),
    _phase("network", "phases:network_phase"),
    _phase("security-groups", "phases:security_groups_phase"),
    _phase("servers", "phases:servers_phase"),
    _phase("floating-ips", "phases:floating_ips_phase"),
    _phase("ssh-ready", "phases:ssh_ready_phase"),
)
# after the stack's phases, for a stack that gives a database: its cluster under faults
SURVIVE = Phase("survive", lazy("harness.survive.phase:survive_phase"), skip=lazy("harness.survive.phase:survive_skip"))
SURVIVE_DONE = "survive-done"  # rendezvous name: a cloud's turn in survive is over
AFTER = (_phase("teardown", "phases:teardown_phase", skip=lazy(f"{__package__}.phases:teardown_skip_reason"),
                always=True),)
# withdrawn like the stack's names when a cloud fails
RENDEZVOUS = (ADDRESSES,)
# the phases every stack runs, and `peers`, the wait for the other clouds' addresses
PHASE_NAMES = tuple(p.name for p in (*BEFORE, SURVIVE, *AFTER))


def pipeline_for(stack: Stack) -> Pipeline:
    """Every phase of a cloud running ``stack``, in order."""
    clash = sorted(set(stack.phase_names()) & set(PHASE_NAMES))
    if clash:
        raise ValueError(f"stack {stack.name} declares provisioning's own phases: {', '.join(clash)}")
    survive = (SURVIVE,) if stack.database is not None else ()
    return Pipeline(stack=stack, phases=(*BEFORE, *stack.phases, *survive, *AFTER),
                    rendezvous=(*RENDEZVOUS, *stack.rendezvous, *((SURVIVE_DONE,) if survive else ())))
