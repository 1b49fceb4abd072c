"""Provisioning's phases in a cloud's pipeline, against the API (requests-mock, openstacksdk's own
models): teardown deletes what the ledger holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipelines import cloud_run

from harness.challenge import Challenge
from harness.engine import CloudRun
from harness.provision.ledger import Ledger


def _run(tmp_path: Path) -> CloudRun:
    challenge = Challenge.model_validate({"clouds": {"lab1": {}, "lab2": {}}})
    run_dir = tmp_path / "reports" / "20261125T001500Z-ab12"
    run_dir.mkdir(parents=True)
    return cloud_run(challenge, "lab1", run_dir)


def test_teardown_phase_against_the_api(tmp_path: Path, fake_cloud: Any) -> None:
    run = _run(tmp_path)
    run._conn = fake_cloud.conn
    prefix = "interop-20261125t001500z-ab12-lab1-"
    Ledger(run.run_dir).created("lab1", "keypair", prefix + "key", prefix + "key")
    fake_cloud.on("DELETE", "nova", f"/os-keypairs/{prefix}key", status_code=202)
    fake_cloud.on("GET", "nova", f"/servers?name=%5E{prefix}", {"servers": []})
    fake_cloud.on("GET", "nova", "/os-keypairs", {"keypairs": []})
    for path, key in [("/floatingips", "floatingips"), ("/routers", "routers"), ("/networks", "networks"),
                      ("/security-groups", "security_groups")]:
        fake_cloud.on("GET", "neutron", path, {key: []})
    details = run.run_phase("teardown")
    assert details["deleted"] == {"keypair": 1} and "left" not in details
    assert not Ledger(run.run_dir).has_live("lab1")
