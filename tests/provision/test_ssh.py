"""The SSH wait against a real sshd this test starts on a loopback port (lab servers have no
data plane yet). As root, sshd needs its privilege-separation directory /run/sshd: the test
runs it in a private mount namespace with its own /run, so the host is left untouched."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.errors import PhaseTimeout
from harness.provision.keypair import run_key
from harness.provision.ssh import SshTarget, wait_for_ssh

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
pytestmark = pytest.mark.skipif(not (os.path.exists(SSHD) and shutil.which("ssh") and shutil.which("ssh-keygen")),
                                reason="needs openssh client and server (sshd, ssh, ssh-keygen)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sshd:
    def __init__(self, workdir: Path, authorized: str) -> None:
        self.dir = workdir
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(workdir / "host_key")], check=True)
        (workdir / "authorized_keys").write_text(authorized + "\n")
        (workdir / "authorized_keys").chmod(0o600)
        (workdir / "sshd_config").write_text(
            f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {workdir / 'host_key'}\n"
            f"AuthorizedKeysFile {workdir / 'authorized_keys'}\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nPidFile none\nStrictModes no\n"
            "PermitRootLogin prohibit-password\n")

    def start(self) -> None:
        sshd = [SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")]
        if os.geteuid() == 0:
            script = "mount -t tmpfs none /run && mkdir -p /run/sshd && exec " + " ".join(sshd)
            cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]
        else:
            cmd = sshd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(self.dir / "sshd.log", "wb"))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    @property
    def user(self) -> str:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name


@pytest.fixture
def sshd_factory(tmp_path: Path) -> Iterator[Callable[[str], Sshd]]:
    started: list[Sshd] = []

    def make(authorized: str) -> Sshd:
        workdir = tmp_path / f"sshd{len(started)}"
        workdir.mkdir()
        server = Sshd(workdir, authorized)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def test_waits_until_sshd_answers_with_the_run_key(tmp_path: Path, sshd_factory: Callable[[str], Sshd]) -> None:
    key = run_key(tmp_path / "private")
    server = sshd_factory(key.public_key)
    starter = threading.Timer(1.0, server.start)  # the "server" comes up while we wait
    starter.start()
    t0 = time.monotonic()
    waited = wait_for_ssh([SshTarget("node-0", "127.0.0.1", server.port, server.user)], key.private_path,
                          known_hosts=tmp_path / "private" / "known_hosts", timeout=30, interval=0.5)
    starter.join()
    assert 0.9 < waited["node-0"] < 30 and time.monotonic() - t0 < 30
    assert "127.0.0.1" in (tmp_path / "private" / "known_hosts").read_text()


def test_wrong_key_times_out_with_sshs_last_words(tmp_path: Path, sshd_factory: Callable[[str], Sshd]) -> None:
    other = run_key(tmp_path / "other")
    server = sshd_factory(other.public_key)
    server.start()
    key = run_key(tmp_path / "private")
    with pytest.raises(PhaseTimeout) as err:
        wait_for_ssh([SshTarget("node-0", "127.0.0.1", server.port, server.user)], key.private_path,
                     known_hosts=tmp_path / "kh", timeout=3, interval=0.5, cloud="lab1", phase="ssh-ready")
    assert "1 of 1 servers did not answer SSH" in err.value.message
    assert "Permission denied (publickey)" in err.value.message
    assert (err.value.cloud, err.value.phase) == ("lab1", "ssh-ready")


def test_each_silent_server_is_named(tmp_path: Path, sshd_factory: Callable[[str], Sshd]) -> None:
    key = run_key(tmp_path / "private")
    server = sshd_factory(key.public_key)
    server.start()
    closed = _free_port()
    targets = [SshTarget("up", "127.0.0.1", server.port, server.user),
               SshTarget("down", "127.0.0.1", closed, server.user)]
    with pytest.raises(PhaseTimeout) as err:
        wait_for_ssh(targets, key.private_path, known_hosts=tmp_path / "kh", timeout=3, interval=0.5)
    message = err.value.message
    assert message.startswith("1 of 2 servers did not answer SSH")
    assert "ssh to down (" in message and "Connection refused" in message and "ssh to up" not in message
