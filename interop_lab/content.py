"""What the lab offers its tenants: names, sizes and quotas, as plain data.

Kept apart from :mod:`bootstrap` (which needs openstacksdk) so the generated files, the status
command and the tests can name these without importing an OpenStack client.
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGE_NAME = "interop-lab-image"
# a few KiB is enough: the lab's virt drivers never read it (a server's root is the host's /usr etc.)
IMAGE_DATA = (b"interop-lab image: no operating system inside\n" * 100)[:4096]
FLAVOR_NAME = "interop.small"
FLAVOR = {"ram": 512, "vcpus": 1, "disk": 1}
PUBLIC_NETWORK = "public"
PUBLIC_SUBNET = {"cidr": "172.24.4.0/24", "gateway_ip": "172.24.4.1",
                 "allocation_pools": [{"start": "172.24.4.10", "end": "172.24.4.250"}]}
SERVICE_USERS = ("nova", "neutron", "glance", "placement")

# every tenant gets these as its OWN quotas (set per project, not as the cloud defaults)
COMPUTE_QUOTAS = {"instances": 10, "cores": 20, "ram": 20480}
NETWORK_QUOTAS = {"floating_ips": 10, "security_groups": 20, "ports": 50, "networks": 5, "routers": 3}


@dataclass(frozen=True)
class Tenant:
    """One tenant cloud: clouds.yaml entry ``cloud`` -> project and user ``interop-<cloud>``."""

    cloud: str
    password: str

    @property
    def project(self) -> str:
        return f"interop-{self.cloud}"

    @property
    def user(self) -> str:
        return f"interop-{self.cloud}"
