"""Lab "VMs": a network namespace plus private mount/pid/uts namespaces running sshd as pid 1.

A VM is, for everything the harness does over SSH, an ordinary Debian host:

* network: ``eth0`` (``eth1``...) with the port's MAC, fixed IP/prefix and default gateway; the
  other veth end (``ilt<port>``) sits in the L2 bridge of its network (``ilb<network>``). The
  namespace starts with a drop-all firewall (``inet lab_sg``) until security groups are applied
  (:mod:`.firewall`), as a Neutron port does.
* filesystem: a fresh root (tmpfs) assembled before ``pivot_root``: ``/etc /usr /var /opt`` are
  overlays on the host's, ``/root`` on ``/etc/skel``, ``/home /tmp /srv /mnt`` on an empty dir;
  upper dirs live in ``<state_dir>/vms/<name>/disk`` and persist across stop/start like a disk.
  ``/run`` and ``/dev/shm`` are fresh tmpfs each boot, ``/dev`` holds only the usual character
  devices plus a private devpts, ``/proc`` is the VM's own pid namespace. Nothing else of the
  host exists inside (no /work, /srv, host /root, ...).
* no host secrets: the host's SSH host keys, shadow files, /etc/ssl/private, /var/tmp (hence
  the lab's state dir), /var/log, /var/backups and service data dirs (/var/lib/mysql,
  /var/lib/rabbitmq, ...) are hidden in every VM (whiteouts / opaque dirs in the upper dirs);
  each VM gets its own host key, machine-id and password-less shadow.
* processes: ``nsenter --net`` + ``unshare --mount --uts --pid --fork --kill-child`` runs a
  small init script that builds the root and ``exec``s ``sshd -D -e`` as pid 1; its output is
  the console log. Stop SIGKILLs every pid in the VM's network namespace (only ever pids of a
  namespace this module created).

ACTIVE implies SSH: :meth:`VmHost.boot` returns only once sshd has sent its banner on the VM's
fixed IP (checked from inside the namespace, so it does not depend on routing or security
groups), bounded by ``boot_timeout``.
Not a security boundary: root in a VM has CAP_SYS_ADMIN and shares the kernel.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.errors import LabError, PhaseTimeout
from harness.waiting import wait_for

from . import fabric, firewall, names, system
from .state import Ledger

HOST_TREES = ("/etc", "/usr", "/var", "/opt")  # overlays on the host's own directories
EMPTY_TREES = ("/home", "/tmp", "/srv", "/mnt")  # private, start empty
TREE_MODES = {"/tmp": 0o1777, "/root": 0o700}
DEFAULT_HIDDEN = (
    "/etc/ssl/private", "/etc/shadow-", "/etc/gshadow-",
    "/var/tmp", "/var/log", "/var/backups", "/var/mail", "/var/spool/cron",
    "/var/lib/mysql", "/var/lib/rabbitmq", "/var/lib/postgresql", "/var/lib/etcd",
    "/var/lib/sudo", "/var/lib/private",
)
KEEP_SUBDIRS = ("/var/log",)  # hidden contents, but the (empty) subdirectories stay
CONSOLE_MAX = 256 * 1024
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_HOSTNAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

# The VM's init: runs as pid 1 of its pid namespace, in its own mount and uts namespaces.
INIT_SCRIPT = r"""
set -eu
D=$1 H=$2
R=$D/rootfs L=$D/disk
echo "[vm-init] $H: boot $(date -u +%FT%TZ)"
hostname "$H"
mount -t tmpfs -o mode=0755 vm-root "$R"
for e in /*; do [ -L "$e" ] && ln -s "$(readlink "$e")" "$R$e"; done
ovl() { mkdir -p "$R$1"; mount -t overlay "vm$1" -o "lowerdir=$2,upperdir=$L/upper$1,workdir=$L/work$1" "$R$1"; }
for t in /etc /usr /var /opt; do ovl $t $t; done
ovl /root /etc/skel
for t in /home /tmp /srv /mnt; do ovl $t "$D/empty"; done
mkdir -p "$R/proc" "$R/sys" "$R/dev" "$R/run"
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount -t tmpfs -o mode=0755,nosuid vm-dev "$R/dev"
for n in null zero full random urandom tty; do touch "$R/dev/$n"; mount --bind "/dev/$n" "$R/dev/$n"; done
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 vm-pts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev vm-shm "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"; ln -s /proc/self/fd/1 "$R/dev/stdout"; ln -s /proc/self/fd/2 "$R/dev/stderr"
mount -t tmpfs -o mode=0755,nosuid,nodev vm-run "$R/run"
mkdir -p "$R/run/sshd" "$R/run/lock" && chmod 1777 "$R/run/lock"
cd "$R" && mkdir .oldroot && pivot_root . .oldroot && cd /
umount -l /.oldroot && rmdir /.oldroot
echo "[vm-init] $H: private root ready, exec sshd"
exec /usr/sbin/sshd -D -e
"""

SSHD_CONFIG = """\
# written by the interop lab data plane (first boot only, like cloud-init)
Port 22
ListenAddress 0.0.0.0
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile none
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
StrictModes no
MaxStartups 200:30:400
MaxSessions 100
X11Forwarding no
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
"""


# --------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class NicSpec:
    """One Neutron port of a VM: its VM end gets ``mac`` and ``ip/prefixlen``."""

    port_id: str
    network_id: str
    mac: str
    ip: str
    prefixlen: int
    gateway: str | None = None
    mtu: int = 1500

    def __post_init__(self) -> None:
        if not _MAC_RE.match(self.mac):
            raise ValueError(f"bad MAC {self.mac!r} (lowercase aa:bb:cc:dd:ee:ff)")
        iface = ipaddress.ip_interface(f"{self.ip}/{self.prefixlen}")
        if iface.version != 4:
            raise ValueError("the lab data plane is IPv4 only")
        if self.gateway and ipaddress.ip_address(self.gateway) not in iface.network:
            raise ValueError(f"gateway {self.gateway} is not in {iface.network}")
        if not 576 <= self.mtu <= 9000:
            raise ValueError(f"bad MTU {self.mtu}")

    @property
    def cidr(self) -> str:
        return str(ipaddress.ip_interface(f"{self.ip}/{self.prefixlen}").network)


@dataclass(frozen=True)
class VmSpec:
    """What a VM is booted from: its name (e.g. Nova's instance uuid), key and ports.

    ``public_key`` becomes root's authorized_keys ("" = a server booted without a keypair).
    The first NIC with a gateway gets the default route.
    """

    name: str
    public_key: str
    nics: tuple[NicSpec, ...]
    hostname: str | None = None

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"bad VM name {self.name!r}")
        key = self.public_key.strip()
        if key and not key.startswith(("ssh-", "ecdsa-", "sk-")):
            raise ValueError("public_key must be an OpenSSH public key line (or empty: no key)")
        if not _HOSTNAME_RE.match(self.host_name):
            raise ValueError(f"bad hostname {self.host_name!r}")
        if len({n.port_id for n in self.nics}) != len(self.nics):
            raise ValueError("duplicate port id")

    @property
    def host_name(self) -> str:
        return self.hostname or self.name.lower()[:63]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VmSpec:
        nics = tuple(NicSpec(**nic) for nic in data["nics"])
        return cls(name=data["name"], public_key=data["public_key"], nics=nics,
                   hostname=data.get("hostname"))


@dataclass(frozen=True)
class NicState:
    port_id: str
    network_id: str
    mac: str
    ip: str
    ifname: str  # inside the VM
    tap: str  # root-namespace end
    bridge: str


@dataclass(frozen=True)
class VmState:
    name: str
    netns: str
    vm_dir: Path
    running: bool
    pid: int | None
    nics: tuple[NicState, ...]
    boot_seconds: float | None = None  # start of boot -> sshd banner, for the boot just done


def _nic_states(spec: VmSpec) -> tuple[NicState, ...]:
    return tuple(
        NicState(n.port_id, n.network_id, n.mac, n.ip, names.vm_nic(i), names.vm_tap(n.port_id),
                 names.bridge(n.network_id))
        for i, n in enumerate(spec.nics)
    )


# --------------------------------------------------------------------------- ssh probe
def is_ssh_ready(ip: str, port: int = 22, timeout: float = 2.0, netns: str | None = None) -> bool:
    """Does an SSH server answer on ip:port (from ``netns``, default the root namespace)?

    True only once the server has sent its ``SSH-`` banner, not merely accepted TCP.
    """
    try:
        sock = system.socket_in_netns(netns)
    except LabError:
        return False
    deadline = time.monotonic() + timeout
    try:
        sock.settimeout(timeout)
        sock.connect((ip, port))
        data = b""
        while b"\n" not in data and len(data) < 256:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(256)
            if not chunk:
                break
            data += chunk
        return data.startswith(b"SSH-")
    except OSError:
        return False
    finally:
        sock.close()


# --------------------------------------------------------------------------- disk
def _mkdirs_like_host(upper_root: Path, rel: Path) -> Path:
    """Create upper_root/rel, copying mode and owner of each component from the host."""
    target = upper_root
    host = Path("/")
    for part in rel.parts:
        target, host = target / part, host / part
        if not target.exists():
            target.mkdir()
            try:
                st = host.stat()
                os.chmod(target, stat.S_IMODE(st.st_mode))
                os.chown(target, st.st_uid, st.st_gid)
            except FileNotFoundError:
                pass
    return target


def _is_hidden(upper_path: Path) -> bool:
    """Is this upper-dir entry a whiteout or an opaque directory?"""
    try:
        st = os.lstat(upper_path)
    except FileNotFoundError:
        return False
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
        return True
    try:
        return stat.S_ISDIR(st.st_mode) and os.getxattr(upper_path, "trusted.overlay.opaque") == b"y"
    except OSError:
        return False


def _hide(upper: Path, host_path: str) -> None:
    """Make ``host_path`` invisible in the VM: opaque empty dir or whiteout in the upper dir."""
    path = Path(host_path)
    tree = next((t for t in HOST_TREES if path == Path(t) or Path(t) in path.parents), None)
    if tree is None or path == Path(tree) or not os.path.lexists(path):
        return  # outside the host-backed trees nothing of the host is visible anyway
    rel = path.relative_to("/")
    if any(_is_hidden(upper / p.relative_to("/")) for p in path.parents if p != Path("/")):
        return  # an ancestor is hidden already
    parent = _mkdirs_like_host(upper, rel.parent)
    target = parent / path.name
    if os.path.lexists(target):
        return
    if path.is_dir() and not path.is_symlink():
        _mkdirs_like_host(upper, rel)
        os.setxattr(target, "trusted.overlay.opaque", b"y")
        if host_path in KEEP_SUBDIRS:
            for sub in sorted(path.iterdir()):
                if sub.is_dir() and not sub.is_symlink():
                    _mkdirs_like_host(upper, rel / sub.name)
    else:
        os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))  # overlayfs whiteout


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)


def _sanitized_shadow(host_file: Path) -> str:
    """The host's shadow/gshadow with every password replaced: '!' stays locked, else '*'."""
    lines = []
    for line in host_file.read_text().splitlines():
        fields = line.split(":")
        if len(fields) > 1:
            fields[1] = "!" if fields[1].startswith("!") else "*"
        lines.append(":".join(fields))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- host
class VmHost:
    """Boots, stops, starts and destroys lab VMs; all state under ``state_dir``."""

    def __init__(
        self,
        state_dir: Path | str,
        *,
        boot_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        fail_closed: bool = True,
        hidden_paths: Sequence[str] = DEFAULT_HIDDEN,
    ) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.ledger = Ledger(self.state_dir)
        self.boot_timeout = boot_timeout
        self.stop_timeout = stop_timeout
        self.fail_closed = fail_closed
        self.hidden_paths = tuple(hidden_paths) + (str(self.state_dir),)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._procs_lock = threading.Lock()

    # ---- public API
    def boot(self, spec: VmSpec) -> VmState:
        """Create and boot a VM; returns once its sshd answers (PhaseTimeout otherwise)."""
        netns = names.vm_netns(spec.name)
        with self.ledger.transaction() as data:
            if spec.name in data["vms"]:
                raise LabError(f"VM {spec.name} exists already")
            clash = [n for n, v in data["vms"].items() if v["netns"] == netns]
            if clash:
                raise LabError(f"VM {spec.name} and {clash[0]} map to the same namespace {netns}")
            data["vms"][spec.name] = {"spec": spec.to_dict(), "netns": netns,
                                      "dir": str(self.vm_dir(spec.name)), "pid": None,
                                      "pid_start": None}
        try:
            self._provision(spec)
            self._plug(spec)
            return self._run(spec)
        except BaseException as exc:
            console = self.console_log(spec.name)[-2000:]
            self.destroy(spec.name)
            if isinstance(exc, (LabError, PhaseTimeout)):
                raise type(exc)(f"{exc.message}; console:\n{console}") from exc
            raise

    def start(self, name: str) -> VmState:
        """Boot a stopped VM again (files kept); a running one is restarted (hard reboot)."""
        spec = self._spec(name)
        self.stop(name)
        self._plug(spec)  # no-op unless the namespace went away (host reboot)
        return self._run(spec)

    reboot = start

    def stop(self, name: str) -> None:
        """Kill every process of the VM (SIGKILL, by pid); its namespace and files stay."""
        rec = self._record(name)
        netns = rec["netns"]
        system.kill_netns_processes(netns, timeout=self.stop_timeout)
        pid, started = rec.get("pid"), rec.get("pid_start")
        if pid and started and system.process_start_time(pid) == started and system.is_alive(pid):
            system.kill_pids([pid], what=f"VM {name}", timeout=self.stop_timeout)
        with self._procs_lock:
            proc = self._procs.pop(name, None)
        if proc is not None:
            proc.wait(timeout=self.stop_timeout)
        with self.ledger.transaction() as data:
            if name in data["vms"]:
                data["vms"][name].update(pid=None, pid_start=None)

    def destroy(self, name: str) -> None:
        """Stop the VM and remove its namespace, veths, now-unused bridges and files."""
        rec = self.ledger.read()["vms"].get(name)
        if rec is None:
            return
        if system.netns_exists(rec["netns"]):
            self.stop(name)
        spec = VmSpec.from_dict(rec["spec"])
        with self.ledger.transaction() as data:
            for nic in _nic_states(spec):
                fabric.delete_veth(data, nic.tap)
            system.netns_delete(rec["netns"])
            for nic in _nic_states(spec):
                fabric.release_bridge(data, nic.bridge)
            shutil.rmtree(rec["dir"], ignore_errors=True)
            data["vms"].pop(name, None)

    def console_log(self, name: str) -> str:
        path = self.vm_dir(name) / "console.log"
        try:
            with open(path, "rb") as f:
                f.seek(max(0, path.stat().st_size - CONSOLE_MAX))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def state(self, name: str) -> VmState:
        rec = self._record(name)
        spec = VmSpec.from_dict(rec["spec"])
        running = bool(system.pids_in_netns(rec["netns"]))
        return VmState(name, rec["netns"], Path(rec["dir"]), running,
                       rec.get("pid") if running else None, _nic_states(spec))

    def names(self) -> list[str]:
        return sorted(self.ledger.read()["vms"])

    def find_port(self, port_id: str) -> tuple[str, NicState] | None:
        """(VM name, NIC) of a Neutron port, for the agent applying security groups."""
        for name, rec in self.ledger.read()["vms"].items():
            for nic in _nic_states(VmSpec.from_dict(rec["spec"])):
                if nic.port_id == port_id:
                    return name, nic
        return None

    def vm_dir(self, name: str) -> Path:
        return self.state_dir / "vms" / names.short_id(name)

    # ---- internals
    def _record(self, name: str) -> dict[str, Any]:
        rec: dict[str, Any] | None = self.ledger.read()["vms"].get(name)
        if rec is None:
            raise LabError(f"no VM named {name}")
        return rec

    def _spec(self, name: str) -> VmSpec:
        return VmSpec.from_dict(self._record(name)["spec"])

    def _provision(self, spec: VmSpec) -> None:
        """First boot only: the VM's private disk, identity and SSH setup (cloud-init's job)."""
        vm_dir = self.vm_dir(spec.name)
        disk, upper = vm_dir / "disk", vm_dir / "disk" / "upper"
        if (disk / ".provisioned").exists():
            return
        for tree in (*HOST_TREES, "/root", *EMPTY_TREES):
            (disk / "work" / tree.lstrip("/")).mkdir(parents=True, exist_ok=True)
            top = upper / tree.lstrip("/")
            top.mkdir(parents=True, exist_ok=True)
            src = Path(tree) if tree in HOST_TREES else None
            os.chmod(top, TREE_MODES.get(tree, stat.S_IMODE(src.stat().st_mode) if src else 0o755))
        (vm_dir / "empty").mkdir(exist_ok=True)
        (vm_dir / "rootfs").mkdir(exist_ok=True)
        for hidden in self.hidden_paths:
            _hide(upper, hidden)
        etc = upper / "etc"
        own_key = etc / "ssh" / "ssh_host_ed25519_key"
        for key in sorted(Path("/etc/ssh").glob("ssh_host_*")):
            if key.name not in (own_key.name, own_key.name + ".pub"):  # those are replaced
                _hide(upper, str(key))
        for shadow in ("shadow", "gshadow"):
            if (Path("/etc") / shadow).exists():
                _write(etc / shadow, _sanitized_shadow(Path("/etc") / shadow), 0o640)
                os.chown(etc / shadow, 0, _shadow_gid())
        _write(etc / "hostname", spec.host_name + "\n")
        addresses = "".join(f"{n.ip}\t{spec.host_name}\n" for n in spec.nics)
        _write(etc / "hosts", "127.0.0.1\tlocalhost\n" + addresses +
               "::1\tlocalhost ip6-localhost ip6-loopback\n")
        _write(etc / "machine-id", secrets.token_hex(16) + "\n", 0o444)
        _write(etc / "ssh" / "sshd_config", SSHD_CONFIG)
        system.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", spec.host_name,
                    "-f", str(own_key)])
        ssh_dir = upper / "root" / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        authorized = spec.public_key.strip()
        _write(ssh_dir / "authorized_keys", authorized + "\n" if authorized else "", 0o600)
        (disk / ".provisioned").write_text(time.strftime("%FT%TZ", time.gmtime()) + "\n")

    def _plug(self, spec: VmSpec) -> None:
        """Namespace (with the drop-all firewall) and one veth per NIC; idempotent."""
        netns = names.vm_netns(spec.name)
        with self.ledger.transaction():  # `ip netns add` races on a fresh /run/netns
            fresh = not system.netns_exists(netns)
            if fresh:
                system.netns_add(netns)
        if fresh:
            system.set_sysctls({"net.ipv6.conf.all.disable_ipv6": "1",
                                "net.ipv6.conf.default.disable_ipv6": "1"}, netns=netns)
            if self.fail_closed:
                firewall.apply_sg(netns, [], cleanup=False)
        gateway_nic = next((i for i, n in enumerate(spec.nics) if n.gateway), None)
        for i, (nic, state) in enumerate(zip(spec.nics, _nic_states(spec), strict=True)):
            with self.ledger.transaction() as data:  # bridge lifetime vs. attach
                bridge = fabric.ensure_tenant_bridge(data, nic.network_id)
                created = fabric.add_veth(data, host_end=state.tap, bridge=bridge,
                                          peer=state.ifname, peer_netns=netns, peer_mac=nic.mac,
                                          mtu=nic.mtu, owner=f"vm:{spec.name}")
            if created:
                system.ip("addr", "add", f"{nic.ip}/{nic.prefixlen}", "dev", state.ifname,
                          netns=netns)
                if i == gateway_nic:
                    system.ip("route", "replace", "default", "via", str(nic.gateway), netns=netns)

    def _run(self, spec: VmSpec) -> VmState:
        netns = names.vm_netns(spec.name)
        vm_dir = self.vm_dir(spec.name)
        cmd = ["nsenter", f"--net={system.netns_path(netns)}", "--",
               "unshare", "--mount", "--uts", "--pid", "--fork", "--kill-child",
               "--propagation", "private", "--",
               "/bin/sh", "-c", INIT_SCRIPT, "vm-init", str(vm_dir), spec.host_name]
        start = time.monotonic()
        with open(vm_dir / "console.log", "ab") as console:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=console,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    close_fds=True)
        with self._procs_lock:
            self._procs[spec.name] = proc
        with self.ledger.transaction() as data:
            data["vms"][spec.name].update(pid=proc.pid,
                                          pid_start=system.process_start_time(proc.pid))
        probe_ip = spec.nics[0].ip if spec.nics else "127.0.0.1"

        def ready() -> bool:
            if proc.poll() is not None:
                raise LabError(f"VM {spec.name}: init exited with {proc.returncode} before sshd "
                               f"answered")
            return is_ssh_ready(probe_ip, 22, timeout=1.0, netns=netns)

        wait_for(ready, timeout=self.boot_timeout, interval=0.02,
                 what=f"sshd of VM {spec.name} ({probe_ip}:22 in {netns}) to answer")
        return VmState(spec.name, netns, vm_dir, True, proc.pid, _nic_states(spec),
                       boot_seconds=time.monotonic() - start)


def _shadow_gid() -> int:
    try:
        return Path("/etc/shadow").stat().st_gid
    except OSError:
        return 0
