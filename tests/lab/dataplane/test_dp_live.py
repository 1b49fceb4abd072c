"""Real data plane: two VMs on two networks behind two routers with floating IPs.

    root netns (harness) 172.29.4.1 ── ext bridge ──┬── router A 172.29.4.10 ── net-a ── VM A 10.229.1.5  FIP .101
                                                    └── router B 172.29.4.20 ── net-b ── VM B 10.229.2.5  FIP .102

Tests run in file order and share the topology (booting is the slow part).
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dp_helpers import Env, Ssh

from harness.waiting import wait_for
from interop_lab.dataplane import (
    FloatingIp,
    PortFirewall,
    RouterGateway,
    RouterInterface,
    RouterSpec,
    SgRule,
    VmSpec,
    VmState,
    apply_sg,
    cut,
    heal,
    is_ssh_ready,
    render_nat,
    render_sg,
    system,
)
from interop_lab.dataplane.firewall import MemberPort, group_members
from interop_lab.dataplane.isolate import render_cut

pytestmark = pytest.mark.lab

HARNESS = "172.29.4.1"
FIP_A, FIP_B = "172.29.4.101", "172.29.4.102"
IP_A, IP_B = "10.229.1.5", "10.229.2.5"
SG_A, SG_B = "sg-cloud-a", "sg-cloud-b"

LISTENER = r'''
import socket, sys, threading, time
def handle(conn, addr, port):
    with open("/tmp/peers.log", "a") as f:
        f.write(f"{port} {addr[0]}\n")
    conn.sendall(f"peer={addr[0]}\n".encode())
    while True:
        data = conn.recv(100)
        if not data:
            break
        conn.sendall(data)
def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    while True:
        c, a = s.accept()
        threading.Thread(target=handle, args=(c, a, port), daemon=True).start()
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
time.sleep(300)  # bounded: the service ends by itself
'''


@dataclass
class Vm:
    spec: VmSpec
    state: VmState
    fip: str
    router: RouterSpec
    rules: list[SgRule]
    group: str

    @property
    def ip(self) -> str:
        return self.spec.nics[0].ip

    @property
    def netns(self) -> str:
        return self.state.netns


@dataclass
class Topo:
    env: Env
    a: Vm
    b: Vm
    ssh: Ssh

    def firewall(self, vm: Vm) -> list[PortFirewall]:
        members = group_members([
            MemberPort(fixed_ips=(v.ip,), security_groups=(v.group,), floating_ips=(v.fip,))
            for v in (self.a, self.b)])
        nic = vm.spec.nics[0]
        return [PortFirewall(port_id=nic.port_id, ifname="eth0", fixed_ips=(nic.ip,),
                             rules=tuple(vm.rules), remote_groups=members)]

    def apply(self, vm: Vm) -> float:
        return apply_sg(vm.netns, self.firewall(vm)).seconds


def connect_from(netns: str | None, ip: str, port: int, timeout: float = 1.5) -> socket.socket | None:
    """A connected socket from ``netns`` to ip:port, or None if it cannot connect."""
    sock = system.socket_in_netns(netns)
    sock.settimeout(timeout)
    try:
        sock.connect((ip, port))
    except OSError:
        sock.close()
        return None
    return sock


def greeting(netns: str | None, ip: str, port: int, timeout: float = 1.5) -> str | None:
    sock = connect_from(netns, ip, port, timeout)
    if sock is None:
        return None
    try:
        return sock.recv(100).decode().strip()
    except OSError:
        return None
    finally:
        sock.close()


def _boot(env: Env, key: Path, name: str, network: str, ip: str, gw: str) -> tuple[VmSpec, VmState]:
    spec = VmSpec(name=name, public_key=key.with_suffix(".pub").read_text(),
                  nics=(env.nic(network, ip, gw),))
    return spec, env.vms.boot(spec)


@pytest.fixture(scope="module")
def topo(make_env: Callable[[int], Env], ssh_key: Path, ssh: Ssh) -> Iterator[Topo]:
    env = make_env(4)
    results: dict[str, tuple[VmSpec, VmState]] = {}
    errors: list[BaseException] = []

    def boot(label: str, network: str, ip: str, gw: str) -> None:
        try:
            results[label] = _boot(env, ssh_key, f"vm-{label}-{uuid.uuid4().hex[:6]}", network, ip, gw)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=boot, args=("a", "net-a", IP_A, "10.229.1.1")),
               threading.Thread(target=boot, args=("b", "net-b", IP_B, "10.229.2.1"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        raise errors[0]
    vms: dict[str, Vm] = {}
    for label, gw_ip, fip, net, base in (("a", "172.29.4.10", FIP_A, "net-a", "10.229.1"),
                                         ("b", "172.29.4.20", FIP_B, "net-b", "10.229.2")):
        spec, state = results[label]
        router = RouterSpec(
            router_id=f"router-{label}-{uuid.uuid4().hex[:6]}",
            gateway=RouterGateway(port_id=str(uuid.uuid4()), mac=env.nic("x", "10.0.0.2", "10.0.0.1").mac,
                                  ip=gw_ip, prefixlen=24),
            interfaces=(RouterInterface(port_id=str(uuid.uuid4()), network_id=net,
                                        mac=env.nic("x", "10.0.0.2", "10.0.0.1").mac,
                                        ip=f"{base}.1", prefixlen=24),),
            floating_ips=(FloatingIp(fip, spec.nics[0].ip),), project=f"cloud-{label}")
        env.routers.apply(router)
        rules = [SgRule("ingress", protocol="tcp", port_range_min=22, port_range_max=22,
                        remote_ip_prefix=f"{HARNESS}/32"), SgRule("egress")]
        vms[label] = Vm(spec, state, fip, router, rules, SG_A if label == "a" else SG_B)
    topo = Topo(env, vms["a"], vms["b"], ssh)
    # B's database port is open to A's floating IP only (what the harness does across clouds)
    topo.b.rules.append(SgRule("ingress", protocol="tcp", port_range_min=7000, port_range_max=7000,
                               remote_ip_prefix=f"{FIP_A}/32"))
    for vm in (topo.a, topo.b):
        topo.apply(vm)
    yield topo


def start_listener(topo: Topo, vm: Vm, *ports: int) -> None:
    topo.ssh.check(vm.fip, "cat > /root/listener.py", input=LISTENER)
    topo.ssh.check(vm.fip, "nohup python3 /root/listener.py " + " ".join(map(str, ports)) +
                   " >/dev/null 2>&1 &")
    for port in ports:  # from inside the VM's namespace: loopback is always allowed
        wait_for(lambda: greeting(vm.netns, vm.ip, port) is not None, timeout=10, interval=0.05,
                 what=f"listener on {vm.ip}:{port}")


# --------------------------------------------------------------------------- tests
def test_boot_returns_with_sshd_answering(topo: Topo) -> None:
    for vm in (topo.a, topo.b):
        assert vm.state.running and vm.state.boot_seconds is not None
        assert vm.state.boot_seconds < 10
        assert is_ssh_ready(vm.ip, netns=vm.netns)
        assert "exec sshd" in topo.env.vms.console_log(vm.spec.name)


def test_ssh_to_each_floating_ip_from_the_root_namespace(topo: Topo) -> None:
    for vm in (topo.a, topo.b):
        assert is_ssh_ready(vm.fip)
        out = topo.ssh.check(vm.fip, "hostname; ip -4 -o addr show eth0; cat /proc/1/comm")
        assert vm.spec.host_name in out and vm.ip in out and "sshd" in out


def test_vm_sees_no_host_secrets(topo: Topo, tmp_path: Path) -> None:
    canary = Path("/var/tmp") / f"ilab-canary-{uuid.uuid4().hex[:6]}"
    canary.write_text("host secret")
    try:
        host_key = Path("/etc/ssh/ssh_host_ed25519_key.pub").read_text().split()[1]
        out = topo.ssh.check(topo.a.fip, "; ".join([
            f"test -e {canary} && echo CANARY-VISIBLE",
            f"test -e {topo.env.state_dir} && echo STATEDIR-VISIBLE",
            "ls -A /root/.ssh", "cat /etc/ssh/ssh_host_ed25519_key.pub",
            "grep -c '[$]' /etc/shadow || true", "ls /etc/ssh | grep -c ssh_host_rsa || true",
            "ps -e --no-headers | wc -l", "ls / | tr '\\n' ' '; echo",
            "test -e /work && echo WORK-VISIBLE", "test -e /var/tmp/interop-lab && echo LAB-VISIBLE",
            "true"]))
    finally:
        canary.unlink()
    assert "VISIBLE" not in out
    lines = out.splitlines()
    assert lines[0] == "authorized_keys"
    assert host_key not in out
    assert lines[2:4] == ["0", "0"]  # no password hashes, no host RSA key
    assert int(lines[4]) < 10  # its own pid namespace
    assert lines[5].split() == ["bin", "dev", "etc", "home", "lib", "lib64", "mnt", "opt", "proc",
                                "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var"]


def test_same_service_same_path_and_port_on_two_vms(topo: Topo) -> None:
    for vm, word in ((topo.a, "alpha"), (topo.b, "bravo")):
        topo.ssh.check(vm.fip, f"mkdir -p /var/lib/x && echo {word} > /var/lib/x/data")
    assert topo.ssh.check(topo.a.fip, "cat /var/lib/x/data").strip() == "alpha"
    assert topo.ssh.check(topo.b.fip, "cat /var/lib/x/data").strip() == "bravo"
    assert not Path("/var/lib/x/data").exists()
    for vm in (topo.a, topo.b):
        start_listener(topo, vm, 7000, 7001)  # the same port in both VMs
    assert greeting(topo.a.netns, topo.a.ip, 7000) == f"peer={topo.a.ip}"
    assert greeting(topo.b.netns, topo.b.ip, 7000) == f"peer={topo.b.ip}"


def test_a_reaches_b_floating_ip_only_on_open_port_and_b_sees_a_floating_ip(topo: Topo) -> None:
    client = ("python3 -c \"import socket; s = socket.create_connection(('%s', %d), timeout=3); "
              "print(s.recv(100).decode().strip())\"")
    out = topo.ssh.check(topo.a.fip, client % (FIP_B, 7000))
    assert out.strip() == f"peer={FIP_A}"
    assert f"7000 {FIP_A}" in topo.ssh.check(topo.b.fip, "cat /tmp/peers.log")
    assert topo.ssh.run(topo.a.fip, client % (FIP_B, 7001)).returncode != 0  # listening, not open
    assert greeting(topo.a.netns, FIP_B, 7001) is None
    assert greeting(None, FIP_B, 7000) is None  # the harness is not A


def test_a_cannot_reach_b_fixed_ip(topo: Topo) -> None:
    # open B's port to everyone: only routing can stop A now
    topo.b.rules.append(SgRule("ingress", protocol="tcp", port_range_min=7001, port_range_max=7001))
    topo.apply(topo.b)
    try:
        assert greeting(topo.a.netns, FIP_B, 7001) == f"peer={FIP_A}"
        assert greeting(topo.a.netns, IP_B, 7001) is None
        assert greeting(None, IP_B, 7001) is None  # nor the root namespace
    finally:
        topo.b.rules.pop()
        topo.apply(topo.b)


def test_vms_reach_nothing_beyond_the_lab(topo: Topo) -> None:
    ext = topo.env.external
    assert system.sysctl_path(f"net.ipv4.conf.{ext.bridge}.forwarding").read_text().strip() == "0"
    # the root namespace's routing decision for a packet a router hands it (nothing is sent)
    lookup = system.run(["ip", "route", "get", "198.51.100.1", "from",
                         topo.a.router.gateway.ip if topo.a.router.gateway else "",
                         "iif", ext.bridge], check=False)
    assert lookup.returncode != 0 and "No route to host" in lookup.stderr
    assert greeting(topo.a.netns, "198.51.100.1", 80, timeout=0.5) is None


def test_removing_a_rule_closes_the_port_and_its_connections_within_5s(topo: Topo) -> None:
    established = connect_from(topo.a.netns, FIP_B, 7000)
    assert established is not None and established.recv(100).startswith(b"peer=")
    rule = topo.b.rules.pop()
    assert rule.port_range_min == 7000
    start = time.monotonic()
    topo.apply(topo.b)
    elapsed, _ = wait_for(lambda: greeting(topo.a.netns, FIP_B, 7000, timeout=0.5) is None,
                          timeout=5, interval=0.05, what="B's port 7000 to close")
    assert time.monotonic() - start < 5
    established.settimeout(1.5)
    try:
        established.sendall(b"ping\n")
        assert established.recv(100) == b"", "the established connection survived"
    except OSError:
        pass  # dropped: timeout or reset
    finally:
        established.close()
    topo.b.rules.append(rule)
    start = time.monotonic()
    topo.apply(topo.b)
    wait_for(lambda: greeting(topo.a.netns, FIP_B, 7000, timeout=0.5) is not None, timeout=5,
             interval=0.05, what="B's port 7000 to open again")
    print(f"rule removed -> closed {elapsed:.3f}s; re-added -> open {time.monotonic() - start:.3f}s")


def test_remote_group_matches_fixed_ips_not_floating_ips(topo: Topo) -> None:
    # B opens 7001 to "members of A's group": A's fixed IP. A reaches B only via FIPs, so the
    # source B sees is A's FIP and the rule does not match, exactly as on a real Neutron cloud.
    topo.b.rules.append(SgRule("ingress", protocol="tcp", port_range_min=7001, port_range_max=7001,
                               remote_group_id=SG_A))
    topo.apply(topo.b)
    try:
        text = render_sg(topo.firewall(topo.b))
        assert IP_A in text and FIP_A not in text.split("chain input")[0]
        assert greeting(topo.a.netns, FIP_B, 7001) is None
    finally:
        topo.b.rules.pop()
        topo.apply(topo.b)


def test_hairpin_to_own_floating_ip(topo: Topo) -> None:
    topo.a.rules.append(SgRule("ingress", protocol="tcp", port_range_min=7000, port_range_max=7000,
                               remote_ip_prefix=f"{FIP_A}/32"))
    topo.apply(topo.a)
    try:
        assert greeting(topo.a.netns, FIP_A, 7000) == f"peer={FIP_A}"
    finally:
        topo.a.rules.pop()
        topo.apply(topo.a)


def test_router_updates_floating_ip_and_interface(topo: Topo) -> None:
    routers, full = topo.env.routers, topo.a.router
    leg = full.interfaces[0]
    routers.apply(RouterSpec(full.router_id, gateway=full.gateway, interfaces=full.interfaces))
    assert not is_ssh_ready(FIP_A, timeout=0.5)  # disassociated
    routers.apply(RouterSpec(full.router_id, gateway=full.gateway))
    assert not system.link_exists(f"ilr{leg.port_id.replace('-', '')[:12]}")
    assert leg.ifname not in system.run(["ip", "-n", routers.netns(full.router_id), "-br", "link"]).stdout
    assert system.link_exists(topo.a.state.nics[0].bridge)  # VM A is still plugged in
    routers.apply(full)
    wait_for(lambda: is_ssh_ready(FIP_A, timeout=0.5), timeout=5, interval=0.05,
             what="A's FIP to answer again")


def test_cut_cloud_a_off_and_heal(topo: Topo) -> None:
    env = topo.env
    assert greeting(topo.a.netns, FIP_B, 7000) == f"peer={FIP_A}"
    cut(env.state_dir, "cloud-a", [topo.a.router.router_id], seconds=60)
    try:
        assert greeting(topo.a.netns, FIP_B, 7000) is None
        assert is_ssh_ready(topo.a.fip)  # the harness keeps its view of the cut cloud
    finally:
        assert heal(env.state_dir, "cloud-a")
    assert greeting(topo.a.netns, FIP_B, 7000) == f"peer={FIP_A}"
    # bounded by the kernel: a short cut heals by itself
    cut(env.state_dir, "cloud-a", [topo.a.router.router_id], seconds=1.0, keep_harness=False)
    assert not is_ssh_ready(topo.a.fip, timeout=0.5)
    wait_for(lambda: greeting(topo.a.netns, FIP_B, 7000, timeout=0.5) is not None, timeout=5,
             interval=0.1, what="the 1 s cut to expire")
    assert is_ssh_ready(topo.a.fip)
    heal(env.state_dir, "cloud-a")


def test_rendered_tables_load(topo: Topo) -> None:
    """Everything the renderers produce is valid nft for this kernel (checked, not applied)."""
    ns = topo.a.netns
    rich = PortFirewall("p1", "eth0", ("10.0.0.5",), (
        SgRule("ingress", protocol="icmp", port_range_min=8, port_range_max=0),
        SgRule("ingress", protocol="icmp"),
        SgRule("ingress", ethertype="IPv6", protocol="icmp", port_range_min=128),
        SgRule("ingress", protocol="udp", port_range_min=5000, port_range_max=5100,
               remote_ip_prefix="10.0.0.0/8"),
        SgRule("ingress", protocol="47"), SgRule("ingress", protocol="sctp", port_range_min=9),
        SgRule("ingress", remote_group_id="empty"),
        SgRule("ingress", ethertype="IPv6", remote_group_id="g6"),
        SgRule("egress", ethertype="IPv6"), SgRule("egress", remote_group_id="g")),
        remote_groups={"g": frozenset({"10.0.0.7", "10.1.0.0/16"}), "g6": frozenset({"fd00::5"})},
        allowed_address_pairs=("10.0.0.100/30",))
    open_port = PortFirewall("p2", "eth1", ("10.0.1.5",), port_security=False)
    for text in (render_nat(topo.a.router), render_sg(topo.firewall(topo.b)),
                 render_sg([rich, open_port]), render_sg([]),
                 render_cut("qg-0123456789a", [HARNESS], 5)):
        system.run(system.ns_cmd(ns, ["nft", "-c", "-f", "-"]), input=text)


def test_stop_kills_everything_and_start_keeps_files(topo: Topo) -> None:
    vm, vms = topo.a, topo.env.vms
    topo.ssh.check(vm.fip, "echo kept > /root/marker; echo gone > /run/volatile")
    key_before = topo.ssh.check(vm.fip, "cat /etc/ssh/ssh_host_ed25519_key.pub")
    pids = system.pids_in_netns(vm.netns)
    assert len(pids) >= 3  # unshare, sshd (pid 1 inside) and the listener
    start = time.monotonic()
    vms.stop(vm.spec.name)
    stop_seconds = time.monotonic() - start
    assert system.pids_in_netns(vm.netns) == []
    survivors = {p: Path(f"/proc/{p}/status").read_text()[:300] for p in pids if system.is_alive(p)}
    assert not survivors, survivors
    assert not is_ssh_ready(vm.fip, timeout=1.0)
    assert not vms.state(vm.spec.name).running
    state = vms.start(vm.spec.name)
    assert state.running and is_ssh_ready(vm.fip)
    out = topo.ssh.check(vm.fip, "cat /root/marker; ls /run/volatile 2>&1 || true; "
                                 "cat /etc/ssh/ssh_host_ed25519_key.pub")
    assert out.startswith("kept\n") and "No such file" in out and key_before.strip() in out
    assert "boot" in vms.console_log(vm.spec.name).split("exec sshd", 1)[1]  # 2nd boot logged
    print(f"stop {stop_seconds:.3f}s, start -> sshd {state.boot_seconds:.3f}s")


def test_destroy_leaves_nothing_of_the_vm(topo: Topo) -> None:
    vm, env = topo.b, topo.env
    nic = vm.state.nics[0]
    vm_dir = env.vms.vm_dir(vm.spec.name)
    env.vms.destroy(vm.spec.name)
    assert vm.netns not in system.list_netns()
    assert not system.link_exists(nic.tap)
    assert system.link_exists(nic.bridge)  # router B's leg is still plugged in
    assert not vm_dir.exists()
    with open("/proc/mounts") as f:
        assert vm.netns not in f.read()
    env.routers.delete(vm.router.router_id)
    assert not system.link_exists(nic.bridge)  # bridge deleted once unused
    assert env.routers.netns(vm.router.router_id) not in system.list_netns()
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    assert "10.229.2.0/24" not in routes and "10.229.1.0/24" in routes
