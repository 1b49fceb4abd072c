"""The lab's data plane through the cloud API only: servers are SSH hosts, floating IPs route,
security groups are enforced, ports go ACTIVE, a whole cloud can be cut off and healed.

Everything is created through openstacksdk in two lab clouds (the last two, so the harness's
own runs on lab1.. are not in the way) and deleted at the end, also after failures. Both
clouds use the SAME tenant CIDR: overlapping networks work, since each router is its own
namespace. Every wait is bounded (``wait_for``); traffic stays inside the lab's namespaces.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from openstack.config import OpenStackConfig
from openstack.connection import Connection

from harness.errors import PhaseTimeout
from harness.waiting import wait_for
from interop_lab import LabInfo, faults
from interop_lab.configs import NETNS_COMPUTE_DRIVER, dataplane_dir
from interop_lab.content import FLAVOR_NAME, IMAGE_NAME, PUBLIC_NETWORK
from interop_lab.dataplane import is_ssh_ready, names, system
from interop_lab.dataplane.state import Ledger
from interop_lab.settings import open_lab

pytestmark = pytest.mark.lab

CIDR = "10.77.0.0/24"  # in both clouds on purpose
HARNESS = "172.24.4.1"  # the external network's gateway: the root namespace
SERVICE_PORT, CLOSED_PORT = 7777, 7778
BOOT_TIMEOUT = 180.0


def connect(clouds_yaml: Path, cloud: str) -> Connection:
    config = OpenStackConfig(config_files=[str(clouds_yaml)], load_envvars=False)
    return Connection(config=config.get_one(cloud=cloud))


@dataclass
class Ssh:
    key: Path

    def run(self, ip: str, command: str, *, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        args = ["ssh", "-i", str(self.key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=3",
                f"root@{ip}", command]
        try:
            return subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(args, 255, "", f"ssh timed out after {timeout}s")

    def check(self, ip: str, command: str, **kw: Any) -> str:
        result = self.run(ip, command, **kw)
        assert result.returncode == 0, f"ssh root@{ip} {command!r}: rc={result.returncode} {result.stderr.strip()}"
        return result.stdout


@dataclass
class Site:
    """One lab cloud's share of the test: network, router, security group, one server."""

    cloud: str
    conn: Connection
    network: Any = None
    subnet: Any = None
    router: Any = None
    sg: Any = None
    port: Any = None
    fip: Any = None
    server: Any = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ip(self) -> str:
        return str(self.fip.floating_ip_address)

    @property
    def fixed_ip(self) -> str:
        return str(self.port.fixed_ips[0]["ip_address"])


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def state_dir(lab_state_dir: Path) -> Path:
    paths, _ = open_lab(lab_state_dir)
    conf = paths.etc / "nova" / "nova-compute.conf"
    if not conf.exists() or f"compute_driver = {NETNS_COMPUTE_DRIVER}" not in conf.read_text():
        pytest.skip("the lab runs without a data plane (INTEROP_LAB_DATAPLANE=fake); `interop lab up` switches it on")
    return lab_state_dir


@pytest.fixture(scope="module")
def ssh(tmp_path_factory: pytest.TempPathFactory) -> Ssh:
    key = tmp_path_factory.mktemp("dpkey") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    return Ssh(key)


def boot(site: Site, prefix: str, ssh: Ssh) -> None:
    """Port + floating IP first, then the server on that port: ACTIVE must mean SSH works."""
    conn = site.conn
    site.port = conn.network.create_port(network_id=site.network.id, name=f"{prefix}-port",
                                         security_group_ids=[site.sg.id])
    public = conn.network.find_network(PUBLIC_NETWORK)
    site.fip = conn.network.create_ip(floating_network_id=public.id, port_id=site.port.id)
    image, flavor = conn.image.find_image(IMAGE_NAME), conn.compute.find_flavor(FLAVOR_NAME)
    started = time.monotonic()
    site.server = conn.compute.create_server(name=f"{prefix}-server", image_id=image.id, flavor_id=flavor.id,
                                             networks=[{"port": site.port.id}], key_name=f"{prefix}-key")
    site.server = conn.compute.wait_for_server(site.server, status="ACTIVE", wait=BOOT_TIMEOUT, interval=0.5)
    active = time.monotonic()
    site.timings["api_to_active"] = active - started
    wait_for(lambda: is_ssh_ready(site.ip, timeout=1.0), timeout=30, interval=0.02,
             what=f"sshd of {site.server.name} at {site.ip}")
    site.timings["active_to_ssh"] = time.monotonic() - active


@pytest.fixture(scope="module")
def sites(state_dir: Path, lab_info: LabInfo, ssh: Ssh) -> Iterator[list[Site]]:
    if len(lab_info.cloud_names) < 2:
        pytest.skip("needs two lab clouds: interop lab up --clouds 2")
    prefix = f"dptest-{uuid.uuid4().hex[:6]}"
    sites = [Site(cloud, connect(lab_info.clouds_yaml, cloud)) for cloud in lab_info.cloud_names[-2:]]
    public_key = (ssh.key.parent / "id_ed25519.pub").read_text()
    try:
        for site in sites:
            conn = site.conn
            conn.compute.create_keypair(name=f"{prefix}-key", public_key=public_key)
            site.network = conn.network.create_network(name=f"{prefix}-net")
            site.subnet = conn.network.create_subnet(network_id=site.network.id, name=f"{prefix}-subnet",
                                                     cidr=CIDR, ip_version=4)
            public = conn.network.find_network(PUBLIC_NETWORK)
            site.router = conn.network.create_router(name=f"{prefix}-router",
                                                     external_gateway_info={"network_id": public.id})
            conn.network.add_interface_to_router(site.router, subnet=site.subnet.id)
            site.sg = conn.network.create_security_group(name=f"{prefix}-sg")
            conn.network.create_security_group_rule(security_group_id=site.sg.id, direction="ingress",
                                                    protocol="tcp", port_range_min=22, port_range_max=22,
                                                    remote_ip_prefix=f"{HARNESS}/32")
        for site in sites:
            boot(site, prefix, ssh)
        yield sites
    finally:
        cleanup(sites, prefix)


def cleanup(sites: list[Site], prefix: str) -> None:
    errors = []
    for site in sites:
        conn = site.conn
        steps = [
            lambda: [conn.compute.delete_server(s) for s in conn.compute.servers(name=f"{prefix}-server")],
            lambda: [conn.compute.wait_for_delete(s, wait=120) for s in conn.compute.servers(name=f"{prefix}-server")],
            lambda: [conn.network.delete_ip(f) for f in conn.network.ips(port_id=site.port.id)] if site.port else None,
            lambda: [conn.network.delete_port(p) for p in conn.network.ports(name=f"{prefix}-port")],
            lambda: conn.network.remove_interface_from_router(site.router, subnet=site.subnet.id)
            if site.router and site.subnet else None,
            lambda: conn.network.delete_router(site.router) if site.router else None,
            lambda: conn.network.delete_network(site.network) if site.network else None,
            lambda: conn.network.delete_security_group(site.sg) if site.sg else None,
            lambda: conn.compute.delete_keypair(f"{prefix}-key", ignore_missing=True),
        ]
        for step in steps:
            try:
                step()
            except Exception as exc:  # clean up the rest, report at the end
                errors.append(f"{site.cloud}: {exc}")
    assert not errors, errors


def connect_from(ssh: Ssh, site: Site, ip: str, port: int) -> str:
    """From inside ``site``'s server: connect to ip:port, return what the server says ('' if refused/timeout)."""
    probe = ("import socket,sys\ntry:\n s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=0.7)\n"
             " print(s.recv(200).decode().strip())\nexcept OSError as e:\n print('')\n")
    return ssh.check(site.ip, f"python3 -c '{probe}' {ip} {port}").strip()


LISTENER = r"""
import socket, sys, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16)
    while True:
        c, (peer, _) = s.accept()
        open("/root/peers.log", "a").write(f"{port} {peer}\n")
        c.sendall(f"peer {peer}\n".encode()); c.close()
for p in sys.argv[2:]:
    threading.Thread(target=serve, args=(int(p),)).start()
"""


def start_listener(ssh: Ssh, site: Site, *ports: int) -> None:
    ssh.check(site.ip, f"cat > /root/listener.py <<'EOF'\n{LISTENER}\nEOF\n"
                       f"setsid nohup python3 /root/listener.py x {' '.join(map(str, ports))} "
                       ">/dev/null 2>&1 </dev/null & sleep 0.3; echo started")


def add_rule(site: Site, port: int, remote: str) -> Any:
    return site.conn.network.create_security_group_rule(
        security_group_id=site.sg.id, direction="ingress", protocol="tcp", port_range_min=port,
        port_range_max=port, remote_ip_prefix=remote)


# --------------------------------------------------------------------------- tests
def test_ssh_to_each_servers_floating_ip(sites: list[Site], ssh: Ssh) -> None:
    for site in sites:
        hostname = ssh.check(site.ip, "hostname").strip()
        assert hostname == site.server.name.lower()
        assert ssh.check(site.ip, "cat /root/.ssh/authorized_keys").strip() == \
            (ssh.key.parent / "id_ed25519.pub").read_text().strip()
        print(f"{site.cloud}: API->ACTIVE {site.timings['api_to_active']:.2f}s, "
              f"ACTIVE->SSH {site.timings['active_to_ssh']:.2f}s")
        # ACTIVE is reported only once the port is wired: SSH answers at once
        assert site.timings["active_to_ssh"] < 3.0, site.timings
    # both tenant networks are 10.77.0.0/24: overlapping CIDRs work
    assert {s.subnet.cidr for s in sites} == {CIDR}


def test_ports_and_floating_ips_go_active(sites: list[Site]) -> None:
    for site in sites:
        assert site.conn.network.get_port(site.port.id).status == "ACTIVE"
        wait_for(lambda s=site: s.conn.network.get_ip(s.fip.id).status == "ACTIVE", timeout=10, interval=0.5,
                 what=f"floating IP {site.ip} ACTIVE")


def test_console_output_through_the_api(sites: list[Site]) -> None:
    site = sites[0]
    console = site.conn.compute.get_server_console_output(site.server)["output"]
    assert "[vm-init]" in console and "exec sshd" in console, console[-500:]


def test_security_group_opens_only_its_port_and_the_source_is_the_floating_ip(
        sites: list[Site], ssh: Ssh, state_dir: Path) -> None:
    a, b = sites
    start_listener(ssh, b, SERVICE_PORT, CLOSED_PORT)
    assert ssh.check(b.ip, f"python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {SERVICE_PORT}))' "
                           "&& echo listening").strip() == "listening"
    assert connect_from(ssh, a, b.ip, SERVICE_PORT) == ""  # no rule yet
    rule = add_rule(b, SERVICE_PORT, f"{a.ip}/32")
    started = time.monotonic()
    _, answer = wait_for(lambda: connect_from(ssh, a, b.ip, SERVICE_PORT), timeout=10, interval=0.2,
                         what="the new rule to let A in")
    print(f"rule add -> enforced: {time.monotonic() - started:.2f}s")
    assert answer == f"peer {a.ip}"  # B sees A's floating IP, as on a real cloud
    assert connect_from(ssh, a, b.ip, CLOSED_PORT) == ""  # listening, but no rule for it
    # B's fixed IP is not reachable from A: with the same CIDR it even names A's own subnet
    assert connect_from(ssh, a, b.fixed_ip, SERVICE_PORT) == ""
    assert f"{SERVICE_PORT} {a.ip}" in ssh.check(b.ip, "cat /root/peers.log")

    # a cut isolates A's cloud from B's (the harness still reaches both), heal restores it
    cut = faults.cut_cloud(state_dir, a.cloud, seconds=60)
    try:
        assert cut.routers and connect_from(ssh, a, b.ip, SERVICE_PORT) == ""
        assert is_ssh_ready(a.ip) and is_ssh_ready(b.ip)
    finally:
        assert faults.heal_cloud(state_dir, a.cloud)
    assert connect_from(ssh, a, b.ip, SERVICE_PORT) == f"peer {a.ip}"

    b.conn.network.delete_security_group_rule(rule)
    started = time.monotonic()
    wait_for(lambda: connect_from(ssh, a, b.ip, SERVICE_PORT) == "", timeout=5, interval=0.2,
             what="the removed rule to close the port within 5 s")
    print(f"rule delete -> closed: {time.monotonic() - started:.2f}s")


def test_same_service_same_path_and_port_on_two_vms(sites: list[Site], ssh: Ssh) -> None:
    """PostgreSQL with its Debian default data directory and port on both servers, each its own."""
    if not Path("/usr/lib/postgresql").is_dir():
        pytest.skip("PostgreSQL is not installed on this machine (the hosts-patroni stack installs it)")
    bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    version = bindir.parent.name
    datadir = f"/var/lib/postgresql/{version}/main"
    for site in sites:
        # /run is a fresh tmpfs per boot: its socket directory is created as Debian's tmpfiles.d would
        ssh.check(site.ip, f"cd /tmp && install -d -o postgres -g postgres {datadir} /run/postgresql && "
                           f"su postgres -s /bin/sh -c '{bindir}/initdb -D {datadir} --auth=trust --no-sync "
                           "> /tmp/initdb.log' && "
                           f"su postgres -s /bin/sh -c \"{bindir}/pg_ctl -s -w -D {datadir} -l /tmp/pg.log "
                           f"-o '-c listen_addresses=* -c port=5432' start\" || {{ cat /tmp/pg.log >&2; exit 1; }}",
                  timeout=120)
        ssh.check(site.ip, f"psql -h 127.0.0.1 -U postgres -qc 'CREATE TABLE mine (cloud text); "
                           f"INSERT INTO mine VALUES ($${site.cloud}$$)'")
    for site in sites:
        rows = ssh.check(site.ip, "psql -h 127.0.0.1 -U postgres -tAc 'SELECT cloud FROM mine'").split()
        assert rows == [site.cloud]  # its own data only
        assert ssh.check(site.ip, "psql -h 127.0.0.1 -U postgres -tAc 'SHOW data_directory'").strip() == datadir
        assert "0.0.0.0:5432" in ssh.check(site.ip, "ss -ltnH 'sport = :5432'")


def test_stop_refuses_ssh_start_keeps_files(sites: list[Site], ssh: Ssh) -> None:
    site = sites[0]
    conn = site.conn
    ssh.check(site.ip, "echo kept > /root/marker && sync")
    conn.compute.stop_server(site.server)
    conn.compute.wait_for_server(conn.compute.get_server(site.server.id), status="SHUTOFF", wait=60, interval=0.5)
    assert not is_ssh_ready(site.ip, timeout=2)
    assert ssh.run(site.ip, "true", timeout=10).returncode != 0
    conn.compute.start_server(site.server)
    conn.compute.wait_for_server(conn.compute.get_server(site.server.id), status="ACTIVE", wait=60, interval=0.5)
    wait_for(lambda: is_ssh_ready(site.ip, timeout=1), timeout=5, interval=0.05, what="sshd after start")
    assert ssh.check(site.ip, "cat /root/marker").strip() == "kept"


def test_delete_leaves_nothing_behind(sites: list[Site], state_dir: Path) -> None:
    dp = dataplane_dir(open_lab(state_dir)[0])
    for site in sites:
        server_id, port_id = site.server.id, site.port.id
        netns, tap = names.vm_netns(server_id), names.vm_tap(port_id)
        vm_dir = dp / "vms" / names.short_id(server_id)
        assert system.netns_exists(netns) and system.link_exists(tap) and vm_dir.is_dir()
        site.conn.compute.delete_server(site.server)
        site.conn.compute.wait_for_delete(site.server, wait=60, interval=0.5)
        wait_for(lambda: not system.netns_exists(netns), timeout=10, interval=0.2, what=f"{netns} to go")
        assert not system.link_exists(tap)
        assert not vm_dir.exists()
        assert server_id not in Ledger(dp).read()["vms"]
        assert not system.pids_in_netns(netns)


def test_routers_go_with_their_neutron_routers(sites: list[Site], state_dir: Path) -> None:
    dp = dataplane_dir(open_lab(state_dir)[0])
    for site in sites:
        rid = site.router.id
        assert rid in Ledger(dp).read()["routers"]
        site.conn.network.delete_ip(site.fip)
        site.conn.network.remove_interface_from_router(site.router, subnet=site.subnet.id)
        site.conn.network.delete_router(site.router)
        site.router = None
        try:
            wait_for(lambda: not system.netns_exists(names.router_netns(rid)), timeout=15, interval=0.2,
                     what=f"router namespace of {rid}")
        except PhaseTimeout:
            pytest.fail(f"router {rid}: its namespace is still there 15 s after the delete")
        assert rid not in Ledger(dp).read()["routers"]
