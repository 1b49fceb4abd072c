"""Names of every kernel object the lab data plane creates.

All names start with a short, recognizable prefix, so nothing of the host is ever matched or
touched: namespaces ``ilab-vm-*`` / ``ilab-rt-*``, root-namespace interfaces ``il*`` (at most
15 characters, the kernel's IFNAMSIZ-1). Names are derived from the caller's ids (Neutron UUIDs
in the lab, random ids in tests), so the same object always gets the same name.

>>> bridge("3f0c2a9e-1b6d-4e2a-9c1f-0a1b2c3d4e5f")
'ilb3f0c2a9e1b6d'
>>> vm_tap("aa0c2a9e-1b6d-4e2a-9c1f-0a1b2c3d4e5f")
'iltaa0c2a9e1b6d'
>>> router_internal("0123456789ab-cdef")
'qr-0123456789a'
"""

from __future__ import annotations

import hashlib
import re
import uuid

IFNAMSIZ = 15  # usable characters of a Linux interface name
NETNS_PREFIX = "ilab-"
IF_PREFIX = "il"
VM_NETNS_PREFIX = "ilab-vm-"
ROUTER_NETNS_PREFIX = "ilab-rt-"
DEFAULT_EXTERNAL_BRIDGE = "ilx-public"

_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_HEX_RE = re.compile(r"^[0-9a-f]+$")


def short_id(ident: str, length: int = 12) -> str:
    """``length`` lowercase hex characters identifying ``ident``.

    A UUID (or any hex string) keeps its own leading digits, so names stay recognizable next to
    ``openstack server list``; anything else is hashed.
    """
    if length < 4:
        raise ValueError("ids shorter than 4 characters collide too easily")
    text = ident.strip().lower()
    try:
        text = uuid.UUID(text).hex
    except ValueError:
        text = text.replace("-", "")
    if len(text) >= length and _HEX_RE.match(text):
        return text[:length]
    return hashlib.sha256(ident.encode()).hexdigest()[:length]


def check_ifname(name: str) -> str:
    """Return ``name`` if it is a valid interface name (1-15 chars of [A-Za-z0-9_.-])."""
    if not _IFNAME_RE.match(name):
        raise ValueError(f"invalid interface name {name!r}: 1-{IFNAMSIZ} of [A-Za-z0-9_.-]")
    return name


def _ifname(kind: str, ident: str) -> str:
    prefix = IF_PREFIX + kind
    return check_ifname(prefix + short_id(ident, IFNAMSIZ - len(prefix)))


def bridge(network_id: str) -> str:
    """Linux bridge of one tenant network (root namespace, L2 only)."""
    return _ifname("b", network_id)


def vm_tap(port_id: str) -> str:
    """Root-namespace end of a VM's veth (plugged into the network's bridge)."""
    return _ifname("t", port_id)


def router_internal_peer(port_id: str) -> str:
    """Root-namespace end of a router's tenant leg (plugged into the tenant bridge)."""
    return _ifname("r", port_id)


def router_gateway_peer(port_id: str) -> str:
    """Root-namespace end of a router's external leg (plugged into the external bridge)."""
    return _ifname("g", port_id)


def router_internal(port_id: str) -> str:
    """The router's tenant leg inside its namespace, named as neutron-l3-agent does."""
    return check_ifname("qr-" + short_id(port_id, 11))


def router_gateway(port_id: str) -> str:
    """The router's external leg inside its namespace, named as neutron-l3-agent does."""
    return check_ifname("qg-" + short_id(port_id, 11))


def vm_nic(index: int) -> str:
    """The VM's own interface names: eth0, eth1, ... (inside its namespace)."""
    return check_ifname(f"eth{index}")


def vm_netns(vm_name: str) -> str:
    return VM_NETNS_PREFIX + short_id(vm_name)


def router_netns(router_id: str) -> str:
    return ROUTER_NETNS_PREFIX + short_id(router_id)


def bridge_mac(ident: str) -> str:
    """A fixed, locally administered unicast MAC for a bridge.

    A bridge without a set MAC takes the lowest MAC of its ports and changes it when ports come
    and go; peers holding the old one in their ARP cache then lose packets (measured pitfall).
    """
    digest = hashlib.sha256(("bridge:" + ident).encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def is_ours_ifname(name: str) -> bool:
    """Does a root-namespace interface name follow this module's naming rules?"""
    return name.startswith(IF_PREFIX) and len(name) <= IFNAMSIZ


def is_ours_netns(name: str) -> bool:
    return name.startswith(NETNS_PREFIX)
