"""The lab's data plane: servers that are real SSH hosts, routers with floating IPs, security
groups that are enforced, and network faults that can be injected and healed.

Standalone building blocks (no OpenStack import); the lab's Nova virt driver and Neutron agent
drive them:

* :mod:`.vm`        a VM = network namespace + private mount/pid/uts namespaces, sshd as pid 1
* :mod:`.router`    a Neutron router = a namespace with DNAT/SNAT for floating IPs
* :mod:`.firewall`  security groups as a stateful nft table inside each VM namespace
* :mod:`.isolate`   cut a cloud's routers off the other clouds, heal
* :mod:`.teardown`  remove everything recorded under a state directory, verify nothing is left

Every kernel object is named with an ``ilab-``/``il`` prefix (:mod:`.names`) and recorded in
the ledger of the state directory (:mod:`.state`) before it is created.
"""

from .firewall import PortFirewall, SgRule, apply_sg, group_members, render_sg
from .isolate import cut, heal, heal_all
from .router import ExternalNet, FloatingIp, RouterGateway, RouterHost, RouterInterface, RouterSpec, render_nat
from .teardown import leftovers, teardown_all
from .vm import NicSpec, VmHost, VmSpec, VmState, is_ssh_ready

__all__ = [
    "ExternalNet", "FloatingIp", "NicSpec", "PortFirewall", "RouterGateway", "RouterHost",
    "RouterInterface", "RouterSpec", "SgRule", "VmHost", "VmSpec", "VmState", "apply_sg", "cut",
    "group_members", "heal", "heal_all", "is_ssh_ready", "leftovers", "render_nat", "render_sg",
    "teardown_all",
]
