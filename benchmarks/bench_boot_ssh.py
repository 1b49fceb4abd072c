"""Boot N servers concurrently through the Nova API of the running lab and time them to SSH.

Each server gets a port and a floating IP first (so that ACTIVE can mean "reachable"), then is
booted on that port with a keypair, all N create calls at once, spread over the last two lab
clouds (N/2 each, within the default quotas). For each server:

  API -> ACTIVE   create call -> first server listing that shows it ACTIVE (listed every 0.25 s)
  ACTIVE -> SSH   ACTIVE seen -> sshd's banner at its floating IP (probed every 20 ms)
  boot -> SSH     create call -> banner (what a harness waits for)
  ssh true        one real `ssh -i key root@FIP true` afterwards (login included)

Target: SSH answers within 1 s of ACTIVE for every server. Everything created is deleted at
the end, also after a failure. Needs the lab up with its data plane (`interop lab up`).

usage: python benchmarks/bench_boot_ssh.py [--count 10] [--clouds lab5,lab6]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from openstack.config import OpenStackConfig  # noqa: E402
from openstack.connection import Connection  # noqa: E402

from harness.waiting import wait_for  # noqa: E402
from interop_lab import default_state_dir, read_lab_info  # noqa: E402
from interop_lab.content import FLAVOR_NAME, IMAGE_NAME, PUBLIC_NETWORK  # noqa: E402
from interop_lab.dataplane import is_ssh_ready  # noqa: E402

HARNESS = "172.24.4.1"
TARGET = 1.0  # ACTIVE -> SSH, seconds


def connect(clouds_yaml: Path, cloud: str) -> Connection:
    return Connection(config=OpenStackConfig(config_files=[str(clouds_yaml)], load_envvars=False).get_one(cloud=cloud))


def stats(xs: list[float]) -> str:
    return f"median {statistics.median(xs):6.2f}s  max {max(xs):6.2f}s  min {min(xs):6.2f}s"


class Cloud:
    def __init__(self, name: str, conn: Connection, prefix: str, public_key: str, cidr: str) -> None:
        self.name, self.conn, self.prefix = name, conn, prefix
        self.ports: list[Any] = []
        self.fips: list[Any] = []
        conn.compute.create_keypair(name=f"{prefix}-key", public_key=public_key)
        self.net = conn.network.create_network(name=f"{prefix}-net")
        self.subnet = conn.network.create_subnet(network_id=self.net.id, cidr=cidr, ip_version=4,
                                                 name=f"{prefix}-subnet")
        self.public = conn.network.find_network(PUBLIC_NETWORK)
        self.router = conn.network.create_router(name=f"{prefix}-router",
                                                 external_gateway_info={"network_id": self.public.id})
        conn.network.add_interface_to_router(self.router, subnet=self.subnet.id)
        self.sg = conn.network.create_security_group(name=f"{prefix}-sg")
        conn.network.create_security_group_rule(security_group_id=self.sg.id, direction="ingress", protocol="tcp",
                                                port_range_min=22, port_range_max=22,
                                                remote_ip_prefix=f"{HARNESS}/32")
        self.image = conn.image.find_image(IMAGE_NAME)
        self.flavor = conn.compute.find_flavor(FLAVOR_NAME)

    def prepare(self, index: int) -> dict[str, Any]:
        port = self.conn.network.create_port(network_id=self.net.id, name=f"{self.prefix}-port-{index}",
                                             security_group_ids=[self.sg.id])
        self.ports.append(port)
        fip = self.conn.network.create_ip(floating_network_id=self.public.id, port_id=port.id)
        self.fips.append(fip)
        return {"cloud": self, "name": f"{self.prefix}-{index}", "port": port, "fip": fip.floating_ip_address}

    def cleanup(self) -> None:
        conn = self.conn
        for server in list(conn.compute.servers(name=f"{self.prefix}-")):
            conn.compute.delete_server(server)
        for server in list(conn.compute.servers(name=f"{self.prefix}-")):
            conn.compute.wait_for_delete(server, wait=120)
        for fip in self.fips:
            conn.network.delete_ip(fip, ignore_missing=True)
        for port in self.ports:
            conn.network.delete_port(port, ignore_missing=True)
        conn.network.remove_interface_from_router(self.router, subnet=self.subnet.id)
        conn.network.delete_router(self.router)
        conn.network.delete_network(self.net)
        conn.network.delete_security_group(self.sg)
        conn.compute.delete_keypair(f"{self.prefix}-key", ignore_missing=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--clouds", default="", help="comma-separated lab clouds (default: the last two)")
    args = parser.parse_args()
    info = read_lab_info(default_state_dir())
    if info is None:
        print("the lab is not up: run `interop lab up`", file=sys.stderr)
        return 2
    names = args.clouds.split(",") if args.clouds else info.cloud_names[-2:]
    tmp = Path(tempfile.mkdtemp(prefix="bench-boot-ssh-"))
    key = tmp / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    clouds: list[Cloud] = []
    try:
        for i, name in enumerate(names):
            clouds.append(Cloud(name, connect(info.clouds_yaml, name), prefix, key.with_suffix(".pub").read_text(),
                                f"10.88.{i}.0/24"))
        servers = [clouds[i % len(clouds)].prepare(i) for i in range(args.count)]
        results = run(servers, key)
    finally:
        for cloud in clouds:
            try:
                cloud.cleanup()
            except Exception as exc:  # report, keep cleaning the others
                print(f"cleanup of {cloud.name} failed: {exc}", file=sys.stderr)
    print(f"{args.count} concurrent servers through the Nova API ({', '.join(names)}), "
          f"port + floating IP before boot:")
    for what in ("api_to_active", "active_to_ssh", "boot_to_ssh", "ssh_true"):
        print(f"  {what.replace('_', ' '):14} {stats([r[what] for r in results])}")
    within = sum(r["active_to_ssh"] <= TARGET for r in results)
    print(f"  SSH answered within {TARGET:.0f}s of ACTIVE: {within}/{len(results)}")
    return 0 if within == len(results) else 1


def run(servers: list[dict[str, Any]], key: Path) -> list[dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    active_at: dict[str, float] = {}
    started: dict[str, float] = {}
    lock = threading.Lock()

    def create(server: dict[str, Any]) -> None:
        cloud: Cloud = server["cloud"]
        started[server["name"]] = time.monotonic()
        cloud.conn.compute.create_server(name=server["name"], image_id=cloud.image.id, flavor_id=cloud.flavor.id,
                                         networks=[{"port": server["port"].id}], key_name=f"{cloud.prefix}-key")

    def probe(server: dict[str, Any]) -> None:
        name = server["name"]
        wait_for(lambda: name in active_at, timeout=300, interval=0.01, what=f"{name} ACTIVE")
        wait_for(lambda: is_ssh_ready(server["fip"], timeout=1.0), timeout=60, interval=0.02,
                 what=f"sshd of {name} at {server['fip']}")
        ssh_at = time.monotonic()
        t0 = time.monotonic()
        subprocess.run(["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", f"root@{server['fip']}", "true"],
                       check=True, timeout=30)
        with lock:
            results[name] = {"api_to_active": active_at[name] - started[name],
                             "active_to_ssh": ssh_at - active_at[name],
                             "boot_to_ssh": ssh_at - started[name], "ssh_true": time.monotonic() - t0}

    creators = [threading.Thread(target=create, args=(s,)) for s in servers]
    probers = [threading.Thread(target=probe, args=(s,)) for s in servers]
    for thread in creators + probers:
        thread.start()
    clouds = {s["cloud"] for s in servers}
    deadline = time.monotonic() + 300
    while len(active_at) < len(servers) and time.monotonic() < deadline:
        for cloud in clouds:
            for server in cloud.conn.compute.servers(name=f"{cloud.prefix}-"):
                if server.status == "ACTIVE" and server.name not in active_at:
                    active_at[server.name] = time.monotonic()
                elif server.status == "ERROR":
                    raise SystemExit(f"{server.name} went to ERROR: {server.fault}")
        time.sleep(0.25)
    for thread in creators + probers:
        thread.join(timeout=120)
    missing = [s["name"] for s in servers if s["name"] not in results]
    if missing:
        raise SystemExit(f"no SSH for {missing}")
    return list(results.values())


if __name__ == "__main__":
    sys.exit(main())
