"""``cloud-cut`` and heal through the clouds' own APIs: a partition any cloud can have.

The cut cloud's nodes and the other clouds' nodes stop admitting each other: every cloud's
security group of this run loses the rules that let the other side's node addresses in (the
peer rules the floating-ips phase added), and the heal puts the same rules back. Neutron, and
the lab's security groups alike, also end the established connections a removed rule no longer
allows. The harness keeps its own rules, so it still reaches both sides and sees what each does;
traffic inside a cloud (by remote group) is untouched.

The cut is in force only once seen: the injector's effect step (``_partitioned``) probes new
connections across it both ways, and the fault window, which the split-brain check counts
cut-side writes over, starts there. Security-group agents apply rule changes seconds after the
API took them (2.9 to 7.5 s on the lab), and writes acknowledged meanwhile are the cluster's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import CloudError
from ..provision.naming import Names
from ..provision.pipeline import ADDRESSES
from ..rendezvous import DirRendezvous

RULE_FIELDS = ("direction", "ether_type", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix",
               "description")


@dataclass
class Cut:
    """The rules removed, per cloud, to put back at the heal."""

    cloud: str
    removed: dict[str, tuple[str, list[dict[str, Any]]]] = field(default_factory=dict)  # cloud -> (sg id, bodies)

    def count(self) -> int:
        return sum(len(bodies) for _, bodies in self.removed.values())


def _addresses(run: Any) -> dict[str, set[str]]:
    got = DirRendezvous(run.rundir).gather(ADDRESSES, run.expected_clouds(), timeout=0)
    return {c: {f"{a}/32" for a in d.get("addresses", [])} for c, d in got.present.items()}


def _network(run: Any, cloud: str) -> Any:
    if cloud == run.cloud:
        return run.connection(phase="survive").network
    conn = run.state.setdefault("survive-conns", {}).get(cloud)
    if conn is None:
        conn = run.state["survive-conns"][cloud] = run.clouds.connect(cloud, phase="survive")
    return conn.network


def cut(run: Any, done: Cut) -> Cut:
    """Cut ``done.cloud`` off the run's other clouds (both directions), recording in ``done``
    each cloud's rules before removing them: a cut that fails halfway is healed all the same."""
    cloud = done.cloud
    addresses = _addresses(run)
    if cloud not in addresses or len(addresses) < 2:
        raise CloudError(f"cannot cut {cloud}: the run's node addresses are not all known ({sorted(addresses)})",
                         cloud=cloud, phase="survive")
    theirs = set().union(*(a for c, a in addresses.items() if c != cloud))
    for other in addresses:
        network = _network(run, other)
        sg = network.find_security_group(Names.for_run(run.rundir.run_id, other).of("sg"), ignore_missing=True)
        if sg is None:  # that cloud failed and was torn down: nothing of it is left to cut
            continue
        blocked = theirs if other == cloud else addresses[cloud]
        rules = [r for r in network.security_group_rules(security_group_id=sg.id)
                 if r.direction == "ingress" and r.remote_ip_prefix in blocked]
        bodies = [{k: getattr(r, k) for k in RULE_FIELDS if getattr(r, k) is not None} for r in rules]
        done.removed[other] = (sg.id, bodies)  # recorded before deleting: a heal after a failure puts back all
        for rule in rules:
            network.delete_security_group_rule(rule, ignore_missing=True)
    return done


def heal(run: Any, done: Cut) -> int:
    """Put back every rule the cut removed; how many. Closes the other clouds' connections."""
    made = 0
    try:
        for other, (sg_id, bodies) in done.removed.items():
            network = _network(run, other)
            for body in bodies:
                network.create_security_group_rule(security_group_id=sg_id, **body)
                made += 1
    finally:
        for conn in run.state.pop("survive-conns", {}).values():
            conn.close()
    return made
