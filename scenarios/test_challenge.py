"""The interop challenge, one test per phase, parametrized by cloud by the harness plugin.

Run it with `interop run` (which adds xdist, the run id and the reports), or with plain
`pytest scenarios/ -n 3 --dist loadgroup --challenge challenge.yaml`.

Phases a stack does not list are skipped with the reason; `teardown` runs even when an
earlier phase failed (and the cloud fixture's finalizer runs it if this test never does).
"""

from harness.phases import CloudRun
from harness.plugin import run_phase


def test_identity(cloud_run: CloudRun) -> None:
    run_phase(cloud_run, "identity")


def test_keypair(cloud_run: CloudRun) -> None:
    run_phase(cloud_run, "keypair")


def test_network(cloud_run: CloudRun) -> None:
    run_phase(cloud_run, "network")


def test_security_groups(cloud_run: CloudRun) -> None:
    run_phase(cloud_run, "security-groups")


def test_servers(cloud_run: CloudRun) -> None:
    run_phase(cloud_run, "servers")


def test_floating_ips(cloud_run: CloudRun) -> None:
    run_phase(cloud_run, "floating-ips")


def test_ssh_ready(cloud_run: CloudRun) -> None:
    run_phase(cloud_run, "ssh-ready")


def test_configure(cloud_run: CloudRun) -> None:
    run_phase(cloud_run, "configure")


def test_deploy(cloud_run: CloudRun) -> None:
    run_phase(cloud_run, "deploy")


def test_teardown(cloud_run: CloudRun) -> None:
    run_phase(cloud_run, "teardown")
