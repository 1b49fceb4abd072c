"""Small, bounded wrappers around the kernel tools the data plane uses (ip, nft, conntrack).

Every command runs with a timeout; a failure becomes a :class:`~harness.errors.LabError`
quoting the command and its stderr. Namespaces are entered with ``nsenter`` for commands and
with ``setns(2)`` in a short-lived thread for in-process work (sockets, sysctls), which is
cheaper than a subprocess and leaves the caller's own threads where they were.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from harness.errors import LabError
from harness.waiting import wait_for

T = TypeVar("T")
NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
COMMAND_TIMEOUT = 15.0

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def run(
    args: Sequence[str],
    *,
    input: str | None = None,
    check: bool = True,
    timeout: float = COMMAND_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run a command with a deadline; raise LabError on a non-zero exit when ``check``."""
    try:
        proc = subprocess.run(
            list(args), input=input, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{' '.join(args)}: no answer within {timeout:.0f}s") from exc
    except FileNotFoundError as exc:
        raise LabError(f"{args[0]} is not installed (see interop_lab/dataplane/packages.txt)") from exc
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(args)} -> exit {proc.returncode}: {proc.stderr.strip()}")
    return proc


def ns_cmd(netns: str | None, args: Sequence[str]) -> list[str]:
    """``args`` run inside network namespace ``netns`` (or in the root namespace if None)."""
    if netns is None:
        return list(args)
    return ["nsenter", f"--net={netns_path(netns)}", "--", *args]


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    base = ["ip"] if netns is None else ["ip", "-n", netns]
    return run([*base, *args], check=check)


def ip_json(*args: str, netns: str | None = None) -> list[dict[str, Any]]:
    base = ["ip", "-j"] if netns is None else ["ip", "-j", "-n", netns]
    out = run([*base, *args]).stdout.strip()
    return json.loads(out) if out else []


# --------------------------------------------------------------------------- namespaces
def netns_path(netns: str) -> Path:
    return NETNS_DIR / netns


def netns_exists(netns: str) -> bool:
    return netns_path(netns).exists()


def netns_id(netns: str) -> tuple[int, int] | None:
    """(st_dev, st_ino) of the namespace: compares equal to /proc/<pid>/ns/net of its members."""
    try:
        st = os.stat(netns_path(netns))
    except OSError:
        return None
    return st.st_dev, st.st_ino


def netns_add(netns: str) -> None:
    if not netns_exists(netns):
        ip("netns", "add", netns)
    ip("link", "set", "lo", "up", netns=netns)


def netns_delete(netns: str) -> None:
    if netns_exists(netns):
        ip("netns", "delete", netns)


def list_netns() -> list[str]:
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir())
    except FileNotFoundError:
        return []


def in_netns(netns: str, fn: Callable[[], T]) -> T:
    """Call ``fn`` in a fresh thread that has joined ``netns`` (network namespace only).

    Sockets created there stay in that namespace after the thread ends; /proc/sys/net opened
    there shows that namespace's settings.
    """
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            fd = os.open(netns_path(netns), os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            error.append(LabError(f"network namespace {netns} does not exist ({exc})"))
            return
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                error.append(LabError(f"setns({netns}): {os.strerror(err)}"))
                return
            result.append(fn())
        except BaseException as exc:  # handed to the caller's thread
            error.append(exc)
        finally:
            os.close(fd)

    thread = threading.Thread(target=target, name=f"netns-{netns}", daemon=True)
    thread.start()
    thread.join(COMMAND_TIMEOUT)
    if thread.is_alive():
        raise LabError(f"work inside network namespace {netns} did not finish in {COMMAND_TIMEOUT:.0f}s")
    if error:
        raise error[0]
    return result[0]


def socket_in_netns(netns: str | None, family: int = socket.AF_INET,
                    kind: int = socket.SOCK_STREAM) -> socket.socket:
    if netns is None:
        return socket.socket(family, kind)
    return in_netns(netns, lambda: socket.socket(family, kind))


def sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def set_sysctls(values: dict[str, str], netns: str | None = None) -> None:
    """Write net.* sysctls in ``netns`` (or in the root namespace)."""

    def write() -> None:
        for key, value in values.items():
            sysctl_path(key).write_text(value)

    if netns is None:
        write()
    else:
        in_netns(netns, write)


# --------------------------------------------------------------------------- links
def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def link_master(name: str) -> str | None:
    master = Path("/sys/class/net", name, "master")
    return os.path.basename(os.readlink(master)) if master.exists() else None


def bridge_ports(name: str) -> list[str]:
    try:
        return sorted(os.listdir(Path("/sys/class/net", name, "brif")))
    except FileNotFoundError:
        return []


def list_links() -> list[str]:
    return sorted(os.listdir("/sys/class/net"))


def ensure_bridge(name: str, mac: str) -> bool:
    """Create an L2 bridge with a pinned MAC, no IPv6, up. True if it was created now."""
    if link_exists(name):
        return False
    ip("link", "add", name, "address", mac, "type", "bridge")
    disable_ipv6 = Path("/proc/sys/net/ipv6/conf", name, "disable_ipv6")
    if disable_ipv6.exists():
        disable_ipv6.write_text("1")
    ip("link", "set", name, "up")
    return True


def delete_link(name: str) -> None:
    if link_exists(name):
        ip("link", "delete", name, check=False)


# --------------------------------------------------------------------------- nft
def nft_replace_table(netns: str | None, family: str, table: str, body: str) -> None:
    """Replace one nft table atomically: create-if-missing, delete and redefine in ONE batch.

    Deleting inside the transaction flushes everything of the old table (rules, chains, sets),
    so a chain that no longer exists in ``body`` does not linger; packets see either the old or
    the new table, never none.
    """
    text = f"add table {family} {table}\ndelete table {family} {table}\n{body}"
    run(ns_cmd(netns, ["nft", "-f", "-"]), input=text)


def nft_delete_table(netns: str | None, family: str, table: str) -> None:
    run(ns_cmd(netns, ["nft", "delete", "table", family, table]), check=False)


def nft_tables(netns: str | None) -> list[str]:
    out = run(ns_cmd(netns, ["nft", "list", "tables"]), check=False).stdout
    return [line.split(None, 1)[1] for line in out.splitlines() if line.startswith("table ")]


# --------------------------------------------------------------------------- processes
def pids_in_netns(netns: str) -> list[int]:
    """Every process whose network namespace is ``netns`` (what ``ip netns pids`` does)."""
    ident = netns_id(netns)
    if ident is None:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            st = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == ident:
            pids.append(int(entry))
    return sorted(pids)


def process_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (tells a reused pid from ours)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def kill_pids(pids: Iterable[int], *, what: str, timeout: float = 10.0) -> None:
    """SIGKILL the given pids (which the caller has proven to be its own) and wait until gone."""
    targets = list(pids)
    for pid in targets:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_for(
        lambda: not any(is_alive(p) for p in targets),
        timeout=timeout,
        interval=0.02,
        what=f"processes of {what} to exit ({targets})",
    )


def kill_netns_processes(netns: str, *, timeout: float = 10.0) -> list[int]:
    """Kill every process inside ``netns`` (a namespace this module created) until none is left."""
    killed: dict[int, int | None] = {}  # pid -> start time (a reused pid is not ours)

    def gone(pid: int) -> bool:
        return not is_alive(pid) or process_start_time(pid) != killed[pid]

    def sweep() -> bool:
        pids = pids_in_netns(netns)
        for pid in pids:
            killed.setdefault(pid, process_start_time(pid))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # a process leaves the namespace early in exit(); pid 1 of a pid namespace then still
        # waits for its namespace's processes, so wait until every killed pid is really gone
        return not pids_in_netns(netns) and all(gone(p) for p in killed)

    wait_for(sweep, timeout=timeout, interval=0.02, what=f"every process in {netns} to exit")
    return sorted(killed)
