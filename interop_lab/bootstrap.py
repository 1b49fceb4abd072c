"""Fill the fresh OpenStack with what the challenge needs, through openstacksdk as admin.

Catalog and service users, one project + user per tenant cloud (role ``member``) with its own
quotas, the external network ``public``, a small public image and flavor; and the wait until
the compute host can take servers. Every step looks before it creates, so it is safe to rerun.
openstacksdk errors are translated to :class:`LabError` by the caller (controlplane), at the
one place that calls into this module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import openstack
from openstack.connection import Connection
from openstack.identity.v3._proxy import Proxy as IdentityV3
from openstack.identity.v3.project import Project
from openstack.identity.v3.role import Role
from openstack.identity.v3.user import User
from openstack.image.v2._proxy import Proxy as ImageV2

from harness.waiting import wait_for

from .content import (
    COMPUTE_QUOTAS,
    FLAVOR,
    FLAVOR_NAME,
    IMAGE_DATA,
    IMAGE_NAME,
    NETWORK_QUOTAS,
    PUBLIC_NETWORK,
    PUBLIC_SUBNET,
    SERVICE_USERS,
    Tenant,
)
from .settings import HOST, REGION, Ports


def admin_connection(ports: Ports, admin_password: str) -> Connection:
    # no clouds.yaml and no OS_* variables: the lab's admin is exactly what we pass here
    return openstack.connect(
        auth_url=ports.keystone_url, username="admin", password=admin_password, project_name="admin",
        user_domain_name="Default", project_domain_name="Default", region_name=REGION,
        interface="public", identity_api_version="3", load_yaml_config=False, load_envvars=False,
    )


def identity(conn: Connection) -> IdentityV3:
    # the connection is built with identity_api_version 3; tell the type checker too
    return cast(IdentityV3, conn.identity)


def catalog(ports: Ports) -> list[tuple[str, str, str]]:
    """(service name, service type, endpoint URL) of everything but Keystone (bootstrapped)."""
    return [
        ("nova", "compute", f"http://{HOST}:{ports.nova}/v2.1"),
        ("placement", "placement", f"http://{HOST}:{ports.placement}"),
        ("glance", "image", f"http://{HOST}:{ports.glance}"),
        ("neutron", "network", f"http://{HOST}:{ports.neutron}"),
    ]


def ensure_catalog(conn: Connection, ports: Ports) -> None:
    for name, service_type, url in catalog(ports):
        service = identity(conn).find_service(name) or identity(conn).create_service(
            name=name, type=service_type, enabled=True)
        have = {endpoint.interface for endpoint in identity(conn).endpoints(service_id=service.id)}
        for interface in ("public", "internal", "admin"):
            if interface not in have:
                identity(conn).create_endpoint(service_id=service.id, interface=interface, url=url, region_id=REGION)


def _project(conn: Connection, name: str) -> Project:
    return identity(conn).find_project(name, domain_id="default") or identity(conn).create_project(
        name=name, domain_id="default", description="created by interop lab up")


def _role(conn: Connection, name: str) -> Role:
    return identity(conn).find_role(name) or identity(conn).create_role(name=name)


def _user(conn: Connection, name: str, password: str, project_id: str) -> User:
    user = identity(conn).find_user(name, domain_id="default")
    if user is None:
        return identity(conn).create_user(name=name, password=password, domain_id="default",
                                         default_project_id=project_id)
    # the secrets file is the truth: a rerun after it was regenerated must still authenticate
    return identity(conn).update_user(user, password=password)


def ensure_service_users(conn: Connection, password: str) -> None:
    service = _project(conn, "service")
    roles = [_role(conn, "admin"), _role(conn, "service")]
    for name in SERVICE_USERS:
        user = _user(conn, name, password, service.id)
        for role in roles:
            identity(conn).assign_project_role_to_user(service, user, role)


def ensure_tenant_identity(conn: Connection, tenant: Tenant) -> str:
    """Project and user of ``tenant`` with role member; returns the project id."""
    project = _project(conn, tenant.project)
    user = _user(conn, tenant.user, tenant.password, project.id)
    identity(conn).assign_project_role_to_user(project, user, _role(conn, "member"))
    return str(project.id)


def set_tenant_quotas(conn: Connection, project_id: str) -> None:
    compute: dict[str, Any] = dict(COMPUTE_QUOTAS)
    conn.compute.update_quota_set(project_id, **compute)
    conn.network.update_quota(project_id, **NETWORK_QUOTAS)


def ensure_public_network(conn: Connection) -> None:
    """The external flat network tenants take floating IPs from (DB-only: no data plane yet)."""
    network = conn.network.find_network(PUBLIC_NETWORK) or conn.network.create_network(
        name=PUBLIC_NETWORK, is_router_external=True, is_shared=False,
        provider_network_type="flat", provider_physical_network="public")
    if not list(conn.network.subnets(network_id=network.id)):
        conn.network.create_subnet(network_id=network.id, name=f"{PUBLIC_NETWORK}-subnet", ip_version=4,
                                   is_dhcp_enabled=False, **PUBLIC_SUBNET)


def host_os(os_release: Path = Path("/etc/os-release")) -> dict[str, str]:
    """``os_distro``/``os_version`` of this host: a lab server's root *is* the host's filesystem."""
    fields: dict[str, str] = {}
    try:
        for line in os_release.read_text().splitlines():
            key, _, value = line.partition("=")
            fields[key.strip()] = value.strip().strip('"')
    except OSError:
        return {}
    out = {"os_distro": fields.get("ID", "").lower(), "os_version": fields.get("VERSION_ID", "")}
    return {k: v for k, v in out.items() if v}


def ensure_image(conn: Connection) -> None:
    """The lab's image, tagged with the host's OS as real clouds tag theirs, so that discovery
    (``interop clouds --discover``, a challenge without ``image:``) finds it like any cloud's."""
    images = cast(ImageV2, conn.image)
    image = images.find_image(IMAGE_NAME)
    tags: dict[str, Any] = dict(host_os())  # image properties, as openstacksdk types them
    if image is not None and image.status == "active":
        stale = {k: v for k, v in tags.items() if getattr(image, k, None) != v}
        if stale:  # a lab made before the image carried them
            images.update_image(image, **stale)
        return
    if image is not None:  # an upload interrupted earlier: start over
        images.delete_image(image)
    images.create_image(name=IMAGE_NAME, data=IMAGE_DATA, disk_format="raw", container_format="bare",
                        visibility="public", allow_duplicates=True, **tags)


def ensure_flavor(conn: Connection) -> None:
    if conn.compute.find_flavor(FLAVOR_NAME) is None:
        conn.compute.create_flavor(name=FLAVOR_NAME, is_public=True, **FLAVOR)


def _utc(stamp: str | None) -> datetime | None:
    # nova says 2026-11-25T00:17:58.000000, neutron 2026-11-25 00:17:58: both naive UTC
    return datetime.fromisoformat(stamp).replace(tzinfo=None) if stamp else None


def wait_compute_ready(conn: Connection, host: str, *, is_mapped: Callable[[], bool],
                       discover: Callable[[], None], timeout: float,
                       log: Callable[[str], None], since: datetime | None = None) -> None:
    """Wait until ``host`` can take servers: nova-compute up, agent alive, host mapped, RP with inventory.

    ``since`` (naive UTC): heartbeats older than this do not count. After a restart the old
    processes' last heartbeats keep reporting "up" for a minute; only the new ones prove life.
    """
    # the databases keep whole seconds
    floor = since.replace(microsecond=0) if since else None

    def fresh(stamp: str | None) -> bool:
        seen = _utc(stamp)
        return floor is None or (seen is not None and seen >= floor)

    def compute_and_agent_up() -> bool:
        computes = list(conn.compute.services(binary="nova-compute", host=host))
        agents = list(conn.network.agents(host=host))
        return (any(c.state == "up" and fresh(c.updated_at) for c in computes)
                and any(a.is_alive and fresh(a.last_heartbeat_at) for a in agents))

    wait_for(compute_and_agent_up, timeout=timeout, interval=1, what=f"nova-compute and the agent on {host} to be up")
    log(f"nova-compute and the network agent on {host} are up")

    def mapped() -> bool:
        # the scheduler's own periodic discovery maps it only ~40 s after registration, and
        # until then the hypervisor API does not even list it: discover it now
        if not is_mapped():
            discover()
        return is_mapped()

    wait_for(mapped, timeout=timeout, interval=2, what=f"compute host {host} to be mapped to cell1")

    def provider_with_inventory() -> bool:
        # any provider: a pluggable virt driver may name its node differently from the host
        for provider in conn.placement.resource_providers():
            if list(conn.placement.resource_provider_inventories(provider)):
                return True
        return False

    wait_for(provider_with_inventory, timeout=timeout, interval=1,
             what="a placement resource provider with inventory")
    log(f"compute host {host} is mapped and in placement")
