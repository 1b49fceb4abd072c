"""A stack that exists only for tests: one phase, its own rule set and rendezvous name.

Registered by the test that uses it (``REGISTRY["throwaway"] = "throwaway_stack:STACK"``);
nothing under ``harness/`` knows it.
"""

from __future__ import annotations

from typing import Any

from harness.engine import CloudRun
from harness.errors import CloudError
from harness.rendezvous import DirRendezvous
from harness.stacks.base import Needs, Phase, Rule, Stack

GOSSIP_PORT = 7946
WARMED = "throwaway-warmed"  # rendezvous name: a cloud has warmed up

RULES = (
    Rule("ssh", "tcp", (22, 22), ("harness",)),
    Rule("gossip", "tcp", (GOSSIP_PORT, GOSSIP_PORT), ("group", "peers")),
)


def warm_up(run: CloudRun) -> dict[str, Any]:
    """Publish that this cloud is warm, then wait for the others; a cloud named ``cold`` fails first."""
    if run.cloud == "cold":
        raise CloudError("refused to warm up", cloud=run.cloud, phase="warm-up")
    rv = DirRendezvous(run.rundir)
    rv.publish(WARMED, run.cloud, {"warm": True})
    got = rv.gather(WARMED, run.expected_clouds(), timeout=run.challenge.timeout("warm-up"), me=run.cloud)
    return {"warm": sorted(got.present), "withdrawn": got.withdrawn}


STACK = Stack(
    name="throwaway",
    needs=Needs(os=("cirros",), min_ram_mb=64, min_vcpus=1, min_disk_gb=1),
    rules=RULES,
    phases=(Phase("warm-up", warm_up),),
    rendezvous=(WARMED,),
)
