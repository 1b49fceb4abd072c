"""The kubeconfig k3s writes, made usable from the harness: its server is ``127.0.0.1`` on the
node, and the harness reaches the API on the node's public address (a TLS SAN of the server).

>>> cfg = {"clusters": [{"name": "default", "cluster": {"server": "https://127.0.0.1:6443",
...                                                      "certificate-authority-data": "LS0t"}}]}
>>> rewrite(cfg, "203.0.113.10")["clusters"][0]["cluster"]["server"]
'https://203.0.113.10:6443'

Pure functions over the parsed document, and :func:`rewrite_file` for the fetched file (which
holds the cluster's admin key: it stays in the run's private area, mode 0600). What goes into
``reports/`` is :func:`redacted`.
"""

from __future__ import annotations

import copy
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from ...errors import ConfigError

# user fields that authenticate: never in a report
SECRET_USER_FIELDS = ("client-key-data", "client-key", "token", "token-file", "password")
REDACTED = "REDACTED"


def _host(address: str) -> str:
    try:
        return f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    except ValueError:
        return address  # a DNS name


def rewrite(config: Mapping[str, Any], address: str, *, cluster: str = "default") -> dict[str, Any]:
    """A copy of ``config`` whose cluster ``cluster`` has its server's host set to ``address``.

    Scheme, port and path are kept, and so is everything else: the CA data, the other clusters,
    users and contexts. ConfigError if there is no such cluster or it has no server.
    """
    new = copy.deepcopy(dict(config))
    entries = [c for c in new.get("clusters") or [] if isinstance(c, dict) and c.get("name") == cluster]
    if len(entries) != 1:
        names = [c.get("name") for c in new.get("clusters") or [] if isinstance(c, dict)]
        raise ConfigError(f"kubeconfig has {len(entries)} clusters named {cluster!r} (clusters: {names})")
    body = entries[0].get("cluster")
    if not isinstance(body, dict) or not body.get("server"):
        raise ConfigError(f"kubeconfig cluster {cluster!r} has no server")
    parts = urlsplit(str(body["server"]))
    netloc = _host(address) + (f":{parts.port}" if parts.port else "")
    body["server"] = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return new


def redacted(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` without the users' keys, tokens and passwords (for ``reports/``)."""
    new = copy.deepcopy(dict(config))
    for user in new.get("users") or []:
        body = user.get("user") if isinstance(user, dict) else None
        if isinstance(body, dict):
            for key in SECRET_USER_FIELDS:
                if key in body:
                    body[key] = REDACTED
    return new


def rewrite_file(path: Path, address: str, *, cluster: str = "default") -> dict[str, Any]:
    """Rewrite the kubeconfig at ``path`` in place (see :func:`rewrite`), mode 0600; return it."""
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read kubeconfig {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise ConfigError(f"kubeconfig {path} is not a mapping")
    new = rewrite(config, address, cluster=cluster)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(new, f, sort_keys=False)
    os.replace(tmp, path)  # readers see the old file or the new one, never half of it
    return new
