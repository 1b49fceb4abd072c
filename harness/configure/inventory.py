"""Ansible inventories from provisioned servers: one group per cloud, addresses as host vars.

>>> servers = [Server("db-1", "172.24.4.7", "10.0.0.5", cloud="lab1")]
>>> inv = build_inventory(servers, ssh_key=Path("/k"), known_hosts=Path("/kh"))
>>> inv["all"]["children"]["cloud_lab1"]["hosts"]["db-1"]["ansible_host"]
'172.24.4.7'

The shape of ``run.facts`` these are read from is documented in :mod:`harness.stacks.base`.
Host names become database member names (Patroni, etcd), so they must be unique across the
clouds of a run and plain (letters, digits, ``.``, ``_``, ``-``).
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
PYTHON = "/usr/bin/python3"  # Debian and Ubuntu cloud images
CONNECT_TIMEOUT = 10


@dataclass(frozen=True)
class Server:
    """A provisioned server as the configure phase sees it."""

    name: str
    public_ip: str
    private_ip: str
    ssh_user: str = "root"
    cloud: str = ""

    @classmethod
    def from_fact(cls, fact: Mapping[str, Any], cloud: str, default_user: str = "root") -> Server:
        """One entry of ``run.facts["servers"]``; ConfigError naming the bad field."""
        if not isinstance(fact, Mapping):
            raise ConfigError(f"a server fact must be a mapping, got {type(fact).__name__}", cloud=cloud)
        missing = [k for k in ("name", "public_ip", "private_ip") if not fact.get(k)]
        if missing:
            raise ConfigError(f"server fact {dict(fact)!r} lacks {', '.join(missing)}", cloud=cloud)
        name = str(fact["name"])
        if not _NAME_RE.match(name):
            raise ConfigError(f"server name {name!r} cannot be a member name "
                              "(letters, digits, '.', '_', '-'; at most 63)", cloud=cloud)
        for key in ("public_ip", "private_ip"):
            try:
                ipaddress.ip_address(str(fact[key]))
            except ValueError:
                raise ConfigError(f"server {name}: {key} {fact[key]!r} is not an IP address", cloud=cloud) from None
        return cls(name=name, public_ip=str(fact["public_ip"]), private_ip=str(fact["private_ip"]),
                   ssh_user=str(fact.get("ssh_user") or default_user), cloud=cloud)

    def as_fact(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if k != "cloud"}


def servers_from_facts(facts: Mapping[str, Any], cloud: str, default_user: str = "root") -> list[Server]:
    """``facts["servers"]`` of one cloud as :class:`Server` objects (ConfigError if malformed)."""
    raw = facts.get("servers")
    if not isinstance(raw, list) or not raw:
        raise ConfigError("no servers in the run's facts (the provision phases put them in "
                          "run.facts['servers'])", cloud=cloud)
    servers = [Server.from_fact(f, cloud, default_user) for f in raw]
    check_unique(servers)
    return servers


def check_unique(servers: Sequence[Server]) -> None:
    seen: dict[str, str] = {}
    for s in servers:
        if s.name in seen:
            raise ConfigError(f"server name {s.name} is used in cloud {seen[s.name]} and cloud {s.cloud}; "
                              "member names must be unique across clouds", cloud=s.cloud)
        seen[s.name] = s.cloud


def group_name(cloud: str) -> str:
    """The inventory group of a cloud: ``cloud_`` + the name with other characters as ``_``.

    >>> group_name("vendor-a.eu")
    'cloud_vendor_a_eu'
    """
    return "cloud_" + re.sub(r"[^A-Za-z0-9_]", "_", cloud)


def ssh_common_args(known_hosts: Path, connect_timeout: int = CONNECT_TIMEOUT) -> str:
    """ssh options for every host: pinned (accept-new) host keys, bounded connects, no agent."""
    return " ".join([
        "-o", f"UserKnownHostsFile={shlex.quote(str(known_hosts))}", "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "StrictHostKeyChecking=accept-new", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
        "-o", f"ConnectTimeout={connect_timeout}", "-o", "ServerAliveInterval=15",
        "-o", "ServerAliveCountMax=4", "-o", "LogLevel=ERROR",
    ])


def build_inventory(
    servers: Sequence[Server],
    *,
    ssh_key: Path,
    known_hosts: Path,
    groups: Mapping[str, Sequence[str]] | None = None,
    connect_timeout: int = CONNECT_TIMEOUT,
) -> dict[str, Any]:
    """A YAML/JSON inventory: a group per cloud, ``groups`` (name -> host names) besides.

    Host vars: ``ansible_host`` (the public address), ``ansible_user``, ``public_ip``,
    ``private_ip``, ``cloud``; a non-root user becomes root with sudo.
    """
    check_unique(servers)
    names = {s.name for s in servers}
    by_cloud: dict[str, dict[str, Any]] = {}
    for s in servers:
        host: dict[str, Any] = {"ansible_host": s.public_ip, "ansible_user": s.ssh_user,
                                "public_ip": s.public_ip, "private_ip": s.private_ip, "cloud": s.cloud}
        if s.ssh_user != "root":
            host["ansible_become"] = True
        by_cloud.setdefault(group_name(s.cloud), {"hosts": {}})["hosts"][s.name] = host
    children: dict[str, Any] = dict(sorted(by_cloud.items()))
    for group, members in (groups or {}).items():
        if group in children:
            raise ConfigError(f"inventory group {group!r} clashes with a cloud's group")
        unknown = [m for m in members if m not in names]
        if unknown:
            raise ConfigError(f"inventory group {group!r} names unknown hosts {unknown}")
        children[group] = {"hosts": {m: {} for m in members}}
    return {"all": {
        "vars": {
            "ansible_ssh_private_key_file": str(ssh_key),
            "ansible_ssh_common_args": ssh_common_args(known_hosts, connect_timeout),
            "ansible_python_interpreter": PYTHON,
        },
        "children": children,
    }}


def render_inventory(inventory: Mapping[str, Any]) -> str:
    """The inventory as JSON text (valid YAML too; ansible reads it with its yaml plugin)."""
    return json.dumps(inventory, indent=2, sort_keys=False) + "\n"
