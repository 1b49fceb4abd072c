"""The files a lab hands to its users: clouds.yaml, admin-clouds.yaml, challenge.yaml.

The tenant clouds and the admin cloud live in separate files, so ``interop clouds`` over
clouds.yaml lists exactly the tenant clouds the challenge runs on. Both hold passwords: 0600.

>>> challenge_document(["lab1", "lab2"])["clouds"]
{'lab1': {}, 'lab2': {}}
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from .content import FLAVOR_NAME, IMAGE_NAME, Tenant
from .files import write_file
from .settings import REGION, Ports

ADMIN_CLOUD = "lab-admin"
# Per-phase limits of the lab's challenge: 12 lab servers boot in ~30 s and join in ~50 s, so
# a phase still going after 5 minutes is broken; the 10-minute default only delays saying so.
LAB_TIMEOUTS = {"servers": 300, "peers": 300, "ssh-ready": 120, "configure": 300, "deploy": 300, "teardown": 300}


def cloud_names(count: int) -> list[str]:
    return [f"lab{index}" for index in range(1, count + 1)]


def cloud_entry(ports: Ports, username: str, project: str, password: str) -> dict[str, Any]:
    return {
        "auth": {
            "auth_url": ports.keystone_url,
            "username": username,
            "password": password,
            "project_name": project,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": REGION,
        "interface": "public",
        "identity_api_version": 3,
    }


def clouds_document(ports: Ports, tenants: Iterable[Tenant]) -> dict[str, Any]:
    return {"clouds": {t.cloud: cloud_entry(ports, t.user, t.project, t.password) for t in tenants}}


def admin_clouds_document(ports: Ports, admin_password: str) -> dict[str, Any]:
    return {"clouds": {ADMIN_CLOUD: cloud_entry(ports, "admin", "admin", admin_password)}}


def challenge_document(names: Iterable[str]) -> dict[str, Any]:
    """The challenge over the lab clouds, in the schema harness/challenge.py validates.

    No ``stack``: the lab names none (the schema's default applies; a user may add one).
    """
    return {
        "clouds": {name: {} for name in names},
        "defaults": {
            "image": IMAGE_NAME,
            "flavor": FLAVOR_NAME,
            "floating_ip": "auto",
            "nodes": 2,
            "ssh_user": "root",
        },
        "timeouts": dict(LAB_TIMEOUTS),
    }


def dump(document: dict[str, Any]) -> str:
    return str(yaml.safe_dump(document, sort_keys=False, default_flow_style=False))


def write_outputs(clouds_yaml: Path, admin_clouds_yaml: Path, challenge_yaml: Path, *,
                  ports: Ports, tenants: list[Tenant], admin_password: str) -> None:
    write_file(clouds_yaml, dump(clouds_document(ports, tenants)), mode=0o600)
    write_file(admin_clouds_yaml, dump(admin_clouds_document(ports, admin_password)), mode=0o600)
    write_file(challenge_yaml, dump(challenge_document(t.cloud for t in tenants)), mode=0o644)
