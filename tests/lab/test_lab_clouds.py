"""The lab's tenant clouds behave like separate clouds: own credentials, catalog, quotas, resources."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import openstack.exceptions
import pytest
from openstack.config import OpenStackConfig
from openstack.connection import Connection

from interop_lab import LabInfo
from interop_lab.bootstrap import host_os
from interop_lab.content import COMPUTE_QUOTAS, FLAVOR, FLAVOR_NAME, IMAGE_NAME, NETWORK_QUOTAS, PUBLIC_NETWORK
from interop_lab.outputs import ADMIN_CLOUD

pytestmark = pytest.mark.lab

CATALOG = {"compute", "network", "image", "identity", "placement"}


def connect(clouds_yaml: Path, cloud: str) -> Connection:
    # load exactly this file: a stray OS_CLIENT_CONFIG_FILE must not pick another cloud
    config = OpenStackConfig(config_files=[str(clouds_yaml)], load_envvars=False)
    return Connection(config=config.get_one(cloud=cloud))


@pytest.fixture(scope="module")
def tenants(lab_info: LabInfo) -> dict[str, Connection]:
    return {name: connect(lab_info.clouds_yaml, name) for name in lab_info.cloud_names}


@pytest.fixture(scope="module")
def admin(lab_info: LabInfo) -> Connection:
    return connect(lab_info.admin_clouds_yaml, ADMIN_CLOUD)


def test_every_tenant_authenticates_and_sees_the_catalog(tenants: dict[str, Connection]) -> None:
    assert len(tenants) >= 3
    for name, conn in tenants.items():
        types = {entry["type"] for entry in conn.service_catalog}
        assert types >= CATALOG, f"{name} catalog: {sorted(types)}"
        assert conn.current_project_id


def test_each_tenant_is_its_own_project(tenants: dict[str, Connection]) -> None:
    projects = {conn.current_project_id for conn in tenants.values()}
    assert len(projects) == len(tenants)


def test_quotas_are_per_project_and_as_configured(tenants: dict[str, Connection], admin: Connection) -> None:
    for name, conn in tenants.items():
        project = str(conn.current_project_id)
        compute = conn.compute.get_quota_set(project)
        network = conn.network.get_quota(project)
        assert {key: getattr(compute, key) for key in COMPUTE_QUOTAS} == COMPUTE_QUOTAS, name
        assert {key: getattr(network, key) for key in NETWORK_QUOTAS} == NETWORK_QUOTAS, name
    # set on the tenant projects, not as cloud-wide defaults: admin's own project keeps the defaults
    admin_project = str(admin.current_project_id)
    assert admin.network.get_quota(admin_project).networks != NETWORK_QUOTAS["networks"]
    assert admin.compute.get_quota_set(admin_project).ram != COMPUTE_QUOTAS["ram"]


@pytest.fixture
def lab1_security_group(tenants: dict[str, Connection]) -> Iterator[tuple[str, str]]:
    conn = tenants["lab1"]
    group = conn.network.create_security_group(name=f"interop-labtest-{uuid.uuid4().hex[:8]}")
    try:
        yield group.id, group.name
    finally:
        conn.network.delete_security_group(group, ignore_missing=True)


def test_a_tenant_cannot_see_another_tenants_resources(
    tenants: dict[str, Connection], lab1_security_group: tuple[str, str]
) -> None:
    group_id, group_name = lab1_security_group
    assert [g.id for g in tenants["lab1"].network.security_groups(name=group_name)] == [group_id]
    other = tenants["lab2"]
    assert list(other.network.security_groups(name=group_name)) == []
    with pytest.raises(openstack.exceptions.NotFoundException):
        other.network.get_security_group(group_id)


def test_image_and_flavor_are_visible_to_every_tenant(tenants: dict[str, Connection]) -> None:
    for name, conn in tenants.items():
        image = conn.image.find_image(IMAGE_NAME)
        assert image is not None and image.status == "active" and image.visibility == "public", name
        # a lab server's root is this host's filesystem: the image says which OS that is
        assert {"os_distro": image.os_distro, "os_version": image.os_version} == host_os(), name
        flavor = conn.compute.find_flavor(FLAVOR_NAME)
        assert flavor is not None, name
        assert (flavor.ram, flavor.vcpus, flavor.disk) == (FLAVOR["ram"], FLAVOR["vcpus"], FLAVOR["disk"])


def test_public_network_is_external(tenants: dict[str, Connection]) -> None:
    for name, conn in tenants.items():
        network = conn.network.find_network(PUBLIC_NETWORK)
        assert network is not None and network.is_router_external, name
        subnets = list(conn.network.subnets(network_id=network.id))
        assert [s.cidr for s in subnets] == ["172.24.4.0/24"]
