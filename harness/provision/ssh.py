"""Wait until every server answers SSH with the run's key: bounded, with the last error.

The probe is the system ``ssh`` client running ``true`` (what Ansible will do next), with the
run's key only (``IdentitiesOnly``, no agent, no user config) and a known_hosts file of the run
in its private area (``accept-new``: a first contact is trusted, a changed key is not). All
servers are probed in parallel; on timeout the error names every server that never answered,
with what ssh said last.

>>> wait_for_ssh([SshTarget("s0", "172.24.4.31")], key, known_hosts=kh, timeout=120)  # doctest: +SKIP
{'s0': 3.2}
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, PhaseTimeout
from ..waiting import wait_for

CONNECT_TIMEOUT = 5


@dataclass(frozen=True)
class SshTarget:
    name: str
    host: str
    port: int = 22
    user: str = "root"


class NotReady(Exception):
    """ssh did not get in yet; the message is what it said."""


def ssh_command(target: SshTarget, key: Path, known_hosts: Path, *, connect_timeout: int = CONNECT_TIMEOUT,
                command: str = "true") -> list[str]:
    return [
        "ssh", "-F", "/dev/null", "-i", str(key), "-p", str(target.port),
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
        "-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null", "-o", f"ConnectTimeout={connect_timeout}",
        "-o", "ConnectionAttempts=1", "-o", "LogLevel=ERROR",
        f"{target.user}@{target.host}", command,
    ]


def probe(target: SshTarget, key: Path, known_hosts: Path, *, connect_timeout: int = CONNECT_TIMEOUT) -> bool:
    """True when ``ssh ... true`` succeeds; :class:`NotReady` with ssh's last words otherwise."""
    try:
        done = subprocess.run(ssh_command(target, key, known_hosts, connect_timeout=connect_timeout),
                              capture_output=True, text=True, timeout=connect_timeout + 10, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise NotReady(f"ssh to {target.host}:{target.port} hung for {connect_timeout + 10}s") from None
    if done.returncode == 0:
        return True
    lines = [ln.strip() for ln in (done.stderr or "").splitlines() if ln.strip()]
    raise NotReady(lines[-1] if lines else f"ssh exited {done.returncode}")


def wait_for_ssh(targets: list[SshTarget], key: Path, *, known_hosts: Path, timeout: float, interval: float = 2.0,
                 cloud: str | None = None, phase: str | None = None) -> dict[str, float]:
    """Seconds until each target answered; :class:`PhaseTimeout` naming all that did not."""
    if shutil.which("ssh") is None:
        raise ConfigError("the ssh client is not installed (needed to reach the servers)", cloud=cloud, phase=phase)
    if not targets:
        return {}
    known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

    def one(target: SshTarget) -> float | PhaseTimeout:
        try:
            elapsed, _ = wait_for(lambda: probe(target, key, known_hosts), timeout=timeout,
                                  what=f"ssh to {target.name} ({target.user}@{target.host}:{target.port})",
                                  interval=interval, cloud=cloud, phase=phase, retry_on=(NotReady,))
        except PhaseTimeout as exc:
            return exc
        return elapsed

    with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        results = dict(zip((t.name for t in targets), pool.map(one, targets), strict=True))
    failed = {name: r for name, r in results.items() if isinstance(r, PhaseTimeout)}
    if failed:
        reasons = "; ".join(r.message for r in failed.values())
        raise PhaseTimeout(f"{len(failed)} of {len(targets)} servers did not answer SSH: {reasons}",
                           cloud=cloud, phase=phase)
    return {name: round(float(r), 3) for name, r in results.items()}  # type: ignore[arg-type]
