"""Lab "clouds" made directly of data-plane VMs (no OpenStack): for the configure/deploy tests
and the configure benchmark.

Cloud ``i`` (1-based) is a tenant network 10.231.<base+i>.0/24 behind its own router with a
gateway on a private external network 172.29.<ext>.0/24; each VM gets a floating IP there, so
the harness (root namespace) and the other clouds reach it only through NAT, as on a real
cloud. No security groups (``fail_closed=False``): firewalls are the provision phase's job.
Everything lives under one state directory and :meth:`VmClouds.close` removes it all.

>>> with VmClouds(tmp, key, ext_octet=31) as lab:                  # doctest: +SKIP
...     facts = lab.boot({"c1": 2, "c2": 2})
>>> facts["c1"][0]
{'name': 'db-c1-1-ab12', 'public_ip': '172.29.31.11', 'private_ip': '10.231.1.11', 'ssh_user': 'root'}
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from interop_lab.dataplane import (
    ExternalNet,
    FloatingIp,
    NicSpec,
    RouterGateway,
    RouterHost,
    RouterInterface,
    RouterSpec,
    VmHost,
    VmSpec,
    teardown_all,
)


def _mac() -> str:
    return "fa:16:3e:" + ":".join(uuid.uuid4().hex[i:i + 2] for i in (0, 2, 4))


class VmClouds:
    def __init__(self, state_dir: Path, key: Path, *, ext_octet: int, tenant_base: int = 0) -> None:
        self.state_dir = Path(state_dir)
        self.key = key
        self.tag = uuid.uuid4().hex[:4]
        self.ext_octet = ext_octet
        self.tenant_base = tenant_base
        self.external = ExternalNet(bridge=f"ilx-s{self.tag}", cidr=f"172.29.{ext_octet}.0/24",
                                    gateway=f"172.29.{ext_octet}.1")
        self.vms = VmHost(self.state_dir, fail_closed=False)
        self.routers = RouterHost(self.state_dir, self.external)
        self.vm_of: dict[str, str] = {}  # server name -> VM name

    def __enter__(self) -> VmClouds:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def boot(self, clouds: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
        """Boot ``clouds`` (name -> server count) in parallel; the servers' facts per cloud."""
        public_key = self.key.with_suffix(".pub").read_text()
        facts: dict[str, list[dict[str, Any]]] = {}
        jobs: list[tuple[VmSpec, None]] = []
        for i, (cloud, count) in enumerate(clouds.items(), start=1):
            net = f"net-{self.tag}-{i}"
            base = f"10.231.{self.tenant_base + i}"
            fips = []
            facts[cloud] = []
            for h in range(1, count + 1):
                name = f"db-{cloud}-{h}-{self.tag}"
                fixed, fip = f"{base}.{10 + h}", f"172.29.{self.ext_octet}.{10 * i + h}"
                spec = VmSpec(name=name, public_key=public_key,
                              nics=(NicSpec(str(uuid.uuid4()), net, _mac(), fixed, 24, f"{base}.1"),))
                jobs.append((spec, None))
                self.vm_of[name] = name
                fips.append(FloatingIp(fip, fixed))
                facts[cloud].append({"name": name, "public_ip": fip, "private_ip": fixed, "ssh_user": "root"})
            self.routers.apply(RouterSpec(
                router_id=f"rt-{self.tag}-{i}",
                gateway=RouterGateway(str(uuid.uuid4()), _mac(), f"172.29.{self.ext_octet}.{200 + i}", 24),
                interfaces=(RouterInterface(str(uuid.uuid4()), net, _mac(), f"{base}.1", 24),),
                floating_ips=tuple(fips), project=cloud))
        errors: list[BaseException] = []

        def boot_one(spec: VmSpec) -> None:
            try:
                self.vms.boot(spec)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=boot_one, args=(spec,)) for spec, _ in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        if errors:
            raise errors[0]
        return facts

    def stop(self, server: str) -> None:
        """Kill every process of the server's VM, sshd included (its address stays)."""
        self.vms.stop(self.vm_of[server])

    def close(self) -> None:
        teardown_all(self.state_dir)
