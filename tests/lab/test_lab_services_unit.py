"""The service manager on real (harmless) processes: start, recognise, stop process groups."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import LabError
from harness.waiting import wait_for
from interop_lab.services import ServiceManager, ServiceSpec, all_processes, proc_info


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[ServiceManager]:
    manager = ServiceManager(tmp_path / "run", tmp_path / "log", lab_id=f"unit-{tmp_path}")
    yield manager
    # never leave a test process behind, whatever the test did
    names = [p.stem for p in (tmp_path / "run").glob("*.pid")]
    manager.stop(names, grace=2)
    for pid in manager.tagged_processes():
        os.kill(pid, signal.SIGKILL)


def group_alive(pgid: int) -> list[int]:
    return [p.pid for p in all_processes() if p.pgid == pgid and p.state not in ("Z", "X")]


def test_start_runs_a_process_group_and_stop_leaves_nothing(manager: ServiceManager) -> None:
    # a shell with two children: the whole group must go, not just the leader
    pid = manager.start(ServiceSpec("sleeper", ("sh", "-c", "sleep 60 & sleep 60 & wait")))
    assert manager.pid("sleeper") == pid
    info = proc_info(pid)
    assert info is not None and info.pgid == pid and info.sid == pid  # its own session
    wait_for(lambda: len(manager.members("sleeper")) == 3, timeout=5, what="the shell to fork its children")
    assert manager.rss_bytes("sleeper") > 0
    assert manager.stop(["sleeper"]) == ["sleeper"]
    assert group_alive(pid) == []
    assert manager.pid("sleeper") is None
    assert not manager.pidfile("sleeper").exists()


def test_start_is_idempotent(manager: ServiceManager) -> None:
    first = manager.start(ServiceSpec("sleeper", ("sleep", "60")))
    assert manager.start(ServiceSpec("sleeper", ("sleep", "60"))) == first


def test_a_process_ignoring_sigterm_is_killed_after_the_grace(manager: ServiceManager) -> None:
    code = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(60)")
    pid = manager.start(ServiceSpec("stubborn", (sys.executable, "-c", code)))
    # the handler must be installed before we signal
    wait_for(lambda: "ready" in manager.logfile("stubborn").read_text(), timeout=10, what="the SIGTERM handler")
    assert manager.stop(["stubborn"], grace=0.5) == ["stubborn"]
    assert group_alive(pid) == []


def test_dead_process_means_stale_pidfile_and_restart(manager: ServiceManager) -> None:
    pid = manager.start(ServiceSpec("short", ("sleep", "60")))
    os.kill(pid, signal.SIGKILL)

    def gone() -> bool:
        manager._reap("short")  # noqa: SLF001 - this test process is its parent
        return manager.pid("short") is None

    wait_for(gone, timeout=5, what="the killed process to be recognised as gone")
    new = manager.start(ServiceSpec("short", ("sleep", "60")))
    assert new != pid and manager.pid("short") == new


def test_pidfile_from_another_boot_is_stale(manager: ServiceManager) -> None:
    pid = manager.start(ServiceSpec("sleeper", ("sleep", "60")))
    record = json.loads(manager.pidfile("sleeper").read_text())
    manager.pidfile("sleeper").write_text(json.dumps({**record, "boot_id": "an-earlier-boot"}))
    assert manager.pid("sleeper") is None and manager.members("sleeper") == []
    os.killpg(pid, signal.SIGKILL)  # we started it; the manager must not touch it any more


def test_a_reused_pid_is_never_signalled(manager: ServiceManager, tmp_path: Path) -> None:
    # a process we did not start via the manager, whose pid appears in a pidfile with another
    # start time: exactly what a reused pid after a crash looks like
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        manager.run_dir.mkdir(parents=True, exist_ok=True)
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        manager.pidfile("ghost").write_text(json.dumps({"pid": stranger.pid, "start_ticks": 1, "boot_id": boot}))
        assert manager.pid("ghost") is None
        assert manager.members("ghost") == []
        assert manager.stop(["ghost"], grace=0.5) == []
        assert stranger.poll() is None  # still alive: not ours, not touched
    finally:
        stranger.kill()
        stranger.wait()


def test_escaped_process_is_found_by_its_tag(manager: ServiceManager) -> None:
    # a daemon that leaves our session escapes killpg; the tag still finds it
    manager.start(ServiceSpec("forker", ("sh", "-c", "setsid sleep 60 & sleep 60")))
    _, escaped = wait_for(lambda: [p for p in manager.tagged_processes() if p not in manager.members("forker")],
                          timeout=5, what="the daemon to leave the session")
    assert len(escaped) == 1
    manager.stop(["forker"])
    assert manager.tagged_processes() == escaped  # stop only kills the recorded group
    os.kill(escaped[0], signal.SIGKILL)


def test_start_refuses_a_port_taken_by_someone_else(manager: ServiceManager) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(LabError, match=f"port {port}"):
            manager.start(ServiceSpec("web", ("sleep", "60"), port=port))
    assert manager.pid("web") is None


def test_a_missing_binary_is_a_lab_error(manager: ServiceManager) -> None:
    with pytest.raises(LabError, match="cannot start nothing"):
        manager.start(ServiceSpec("nothing", ("/nonexistent/binary",)))
