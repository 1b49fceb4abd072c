"""Start, check and stop the lab's long-running processes without systemd.

Each service runs in its own session (``setsid``), so its process group id equals its pid and
every worker it forks shares that group: stopping the service is one ``killpg``, and nothing
else on the machine is ever signalled. The pidfile records the pid together with the process
start time and the boot id, so a stale pidfile (the process died, the machine rebooted, the pid
was reused by something else) is recognised and never leads to signalling a stranger.

Every service also carries ``INTEROP_LAB_ID=<state dir>`` in its environment. That tag is only
used to *find* escaped processes (a daemon that left our session) when verifying a shutdown,
never to kill anything.

>>> manager = ServiceManager(Path("/tmp/lab/run"), Path("/tmp/lab/log"), lab_id="/tmp/lab")
>>> pid = manager.start(ServiceSpec("sleeper", ("sleep", "60")))   # doctest: +SKIP
>>> manager.stop(["sleeper"])                                          # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import LabError, PhaseTimeout
from harness.waiting import wait_for

LAB_ID_ENV = "INTEROP_LAB_ID"
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ServiceSpec:
    """How to run one service; ``port`` is checked free before starting and shown in status."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None
    url: str | None = None


@dataclass(frozen=True)
class PidRecord:
    """What a pidfile holds: enough to tell our process from a later one with the same pid."""

    pid: int
    start_ticks: int | None
    boot_id: str


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    state: str
    pgid: int
    sid: int
    start_ticks: int


def boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def proc_info(pid: int) -> ProcInfo | None:
    """Parse /proc/<pid>/stat; None if the process does not exist."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # the command name may contain spaces and parentheses: split after the last ')'
    fields = raw[raw.rindex(")") + 2 :].split()
    return ProcInfo(pid, fields[0], int(fields[2]), int(fields[3]), int(fields[19]))


def all_processes() -> list[ProcInfo]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := proc_info(int(entry))) is not None:
            found.append(info)
    return found


def _alive(info: ProcInfo | None) -> bool:
    # a zombie has exited; it only waits for its parent to reap it and holds no resources
    return info is not None and info.state not in ("Z", "X")


def rss_bytes(pids: Iterable[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return total


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class ServiceManager:
    """Pidfiles in ``run_dir``, logs in ``log_dir``; every process it starts is tagged ``lab_id``."""

    def __init__(self, run_dir: Path, log_dir: Path, *, lab_id: str) -> None:
        self.run_dir = run_dir
        self.log_dir = log_dir
        self.lab_id = lab_id
        # children of this process, kept so they are reaped (no zombies) when stopped here
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def pidfile(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def logfile(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _record(self, name: str) -> PidRecord | None:
        """The pidfile's record if it was written during this boot (older ones are stale)."""
        try:
            raw = json.loads(self.pidfile(name).read_text())
            record = PidRecord(int(raw["pid"]), raw.get("start_ticks"), str(raw.get("boot_id")))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None
        return record if record.boot_id == boot_id() else None

    def pid(self, name: str) -> int | None:
        """The pid of ``name`` if the process we started is alive, else None (stale or absent)."""
        record = self._record(name)
        info = proc_info(record.pid) if record else None
        if record is None or info is None or not _alive(info) or info.start_ticks != record.start_ticks:
            return None  # exited, or the pid now belongs to another process
        return info.pid

    def members(self, name: str) -> list[int]:
        """Live processes in the recorded process group or session of ``name``."""
        pgid = self._owned_pgid(name)
        return [] if pgid is None else self._members({name: pgid})[name]

    def _owned_pgid(self, name: str) -> int | None:
        """The recorded group id while that group can still be ours."""
        record = self._record(name)
        if record is None:
            return None
        leader = proc_info(record.pid)
        if leader is not None and _alive(leader) and leader.start_ticks != record.start_ticks:
            # the pid was reused by a stranger; while our group lived the kernel could not
            # have handed out that number, so our group is gone
            return None
        return record.pid

    @staticmethod
    def _members(groups: Mapping[str, int]) -> dict[str, list[int]]:
        """One /proc scan: the live pids in each group (by process group or session id)."""
        found: dict[str, list[int]] = {name: [] for name in groups}
        if not groups:
            return found
        for proc in all_processes():
            if _alive(proc):
                for name, pgid in groups.items():
                    if proc.pgid == pgid or proc.sid == pgid:
                        found[name].append(proc.pid)
        return found

    def rss_bytes(self, name: str) -> int:
        return rss_bytes(self.members(name))

    def start(self, spec: ServiceSpec) -> int:
        """Start ``spec`` in a new session unless it already runs; return its pid."""
        running = self.pid(spec.name)
        if running is not None:
            return running
        if self.members(spec.name):
            # the leader died but workers linger: clear them before starting over
            self.stop([spec.name])
        if spec.port is not None and port_in_use(spec.port):
            raise LabError(
                f"cannot start {spec.name}: port {spec.port} on 127.0.0.1 is already taken by a process "
                "the lab did not start (stop it, or move the lab's MariaDB/RabbitMQ with "
                "INTEROP_LAB_DB_PORT / INTEROP_LAB_MQ_PORT)"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **spec.env, LAB_ID_ENV: self.lab_id}
        with self.logfile(spec.name).open("ab") as out:
            out.write(f"==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(spec.argv)}\n".encode())
            out.flush()
            try:
                child = subprocess.Popen(
                    spec.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    env=env, start_new_session=True, cwd=self.run_dir,
                )
            except OSError as exc:
                raise LabError(f"cannot start {spec.name}: {exc}") from exc
        info = proc_info(child.pid)
        record = {
            "pid": child.pid,
            "start_ticks": info.start_ticks if info else None,
            "boot_id": boot_id(),
            "argv": list(spec.argv),
        }
        tmp = self.pidfile(spec.name).with_suffix(".tmp")
        tmp.write_text(json.dumps(record) + "\n")
        tmp.replace(self.pidfile(spec.name))
        self._children[spec.name] = child
        return child.pid

    def stop(self, names: Iterable[str], *, grace: float = 15.0) -> list[str]:
        """SIGTERM every named group at once, SIGKILL what outlives ``grace``; return the names stopped.

        Raises LabError naming the pids if anything survives SIGKILL.
        """
        names = list(names)
        owned = {name: pgid for name in names if (pgid := self._owned_pgid(name)) is not None}
        groups = {name: owned[name] for name, pids in self._members(owned).items() if pids}
        for pgid in groups.values():
            _signal_group(pgid, signal.SIGTERM)

        def remaining() -> dict[str, list[int]]:
            for name in groups:
                self._reap(name)
            return {name: pids for name, pids in self._members(groups).items() if pids}

        try:
            wait_for(lambda: not remaining(), timeout=grace, interval=0.2,
                     what=f"{', '.join(groups)} to exit after SIGTERM")
        except PhaseTimeout:
            for name in remaining():
                _signal_group(groups[name], signal.SIGKILL)
            try:
                wait_for(lambda: not remaining(), timeout=10, interval=0.2, what="killed processes to exit")
            except PhaseTimeout as exc:
                raise LabError(f"processes survived SIGKILL: {remaining()}") from exc
        for name in names:
            if not self.members(name):
                self.pidfile(name).unlink(missing_ok=True)
        return list(groups)

    def _reap(self, name: str) -> None:
        child = self._children.get(name)
        if child is not None and child.poll() is not None:
            del self._children[name]

    def tagged_processes(self) -> list[int]:
        """Live processes carrying this lab's tag, wherever they are (escapees included)."""
        needle = f"{LAB_ID_ENV}={self.lab_id}".encode()
        me = os.getpid()
        found = []
        for info in all_processes():
            if info.pid == me or not _alive(info):
                continue
            try:
                environ = Path(f"/proc/{info.pid}/environ").read_bytes()
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
            if needle in environ.split(b"\0"):
                found.append(info.pid)
        return found


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
