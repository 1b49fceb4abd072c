"""The one ``--join`` list every CockroachDB node of a run starts with.

CockroachDB's rule (``cockroach-start.md``, ``--join``): every node gets the same list, of 3-5
addresses, and a cluster across regions lists nodes of more than one region so that one
region's loss does not leave a restarting node with nobody to join. Here a cloud is a region,
so the list takes 3-5 public addresses from at least 2 clouds.

Pure: the same nodes give the same list on every cloud, in whatever order they arrive.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...errors import ConfigError

if TYPE_CHECKING:
    from .plan import CrdbNode

MIN_JOIN = 3
MAX_JOIN = 5
MIN_CLOUDS = 2
JOIN_PORT = 26257


def host_port(ip: str, port: int) -> str:
    """``ip:port``, with an IPv6 address in brackets as CockroachDB's flags want it.

    >>> host_port("10.0.0.1", 26257), host_port("fd00::1", 26257)
    ('10.0.0.1:26257', '[fd00::1]:26257')
    """
    return f"[{ip}]:{port}" if ipaddress.ip_address(ip).version == 6 else f"{ip}:{port}"


def choose_join(nodes: Sequence[CrdbNode], *, port: int = JOIN_PORT) -> tuple[str, ...]:
    """3-5 public ``ip:port`` from at least 2 clouds, the same for the same nodes.

    Clouds in name order, each cloud's nodes in name order, taken round-robin (the first node
    of every cloud, then the second of every cloud, ...) until there are 5: so the list spreads
    over as many clouds as it can, and a cloud with many nodes does not fill it alone.
    ConfigError when the nodes cannot meet the rule (one cloud only, or fewer than 3 nodes).
    """
    by_cloud: dict[str, list[CrdbNode]] = {}
    for node in nodes:
        by_cloud.setdefault(node.cloud, []).append(node)
    clouds = sorted(by_cloud)
    if len(clouds) < MIN_CLOUDS:
        only = f"only cloud {clouds[0]} has" if clouds else "no cloud has"
        raise ConfigError(f"the --join list needs nodes of at least {MIN_CLOUDS} clouds, {only} CockroachDB nodes "
                          "(one cloud's loss would leave a restarting node nobody to join)",
                          cloud=clouds[0] if len(clouds) == 1 else None)
    if len(nodes) < MIN_JOIN:
        raise ConfigError(f"the --join list needs at least {MIN_JOIN} addresses, the clouds have {len(nodes)} nodes "
                          f"({', '.join(f'{c}: {len(by_cloud[c])}' for c in clouds)}); add a server to a cloud")
    columns = [sorted(by_cloud[c], key=lambda n: n.name) for c in clouds]
    chosen: list[str] = []
    for rank in range(max(len(col) for col in columns)):
        for col in columns:
            if rank < len(col) and len(chosen) < MAX_JOIN:
                chosen.append(host_port(col[rank].public_ip, port))
    return tuple(chosen)
