from pathlib import Path
from typing import Any

import pytest

from harness.errors import AuthError, ConfigError
from harness.provision.cleanup import cleanup_prefix, cleanup_run
from harness.provision.ledger import Ledger


class FakeClouds:
    def __init__(self, conns: dict[str, Any]) -> None:
        self.conns = conns

    def names(self) -> list[str]:
        return sorted(self.conns)

    def require(self, cloud: str) -> None:
        if cloud not in self.conns:
            raise ConfigError(f"cloud {cloud!r} is not in clouds.yaml")

    def connect(self, cloud: str, phase: str | None = None) -> Any:
        conn = self.conns[cloud]
        if isinstance(conn, Exception):
            raise conn
        return conn


def _sweep_empty(fake: Any, prefix: str) -> None:
    fake.on("GET", "nova", f"/servers?name=%5E{prefix}", {"servers": []})
    fake.on("GET", "nova", "/os-keypairs", {"keypairs": []})
    for path, key in [("/floatingips", "floatingips"), ("/routers", "routers"), ("/networks", "networks"),
                      ("/security-groups", "security_groups")]:
        fake.on("GET", "neutron", path, {key: []})


def test_run_cleanup_needs_a_ledger(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no resource ledger.*--prefix"):
        cleanup_run(tmp_path / "r1", FakeClouds({}))


def test_run_cleanup_deletes_the_ledger_then_sweeps_that_clouds_run_prefix(tmp_path: Path, fake_cloud: Any) -> None:
    run = tmp_path / "20261125T001500Z-ab12"
    prefix = "interop-20261125t001500z-ab12-lab1-"
    Ledger(run).created("lab1", "security-group", prefix + "sg", "sg-1")
    fake_cloud.on("DELETE", "neutron", "/security-groups/sg-1", status_code=204)
    _sweep_empty(fake_cloud, prefix)
    results = cleanup_run(run, FakeClouds({"lab1": fake_cloud.conn, "lab2": AuthError("refused")}))
    assert list(results) == ["lab1"]  # only the clouds in the ledger
    assert results["lab1"].clean and results["lab1"].counts() == {"security-group": 1}
    assert fake_cloud.calls()[0] == "DELETE neutron/security-groups/sg-1"
    assert not Ledger(run).has_live("lab1")


def test_prefix_cleanup_reports_unreachable_clouds_and_does_the_rest(fake_cloud: Any) -> None:
    prefix = "interop-20261125t001500z-ab12-"
    _sweep_empty(fake_cloud, prefix)
    results = cleanup_prefix(prefix, FakeClouds({"lab1": fake_cloud.conn, "lab2": AuthError("refused")}), dry_run=True)
    assert results["lab1"].clean and results["lab1"].planned == []
    assert not results["lab2"].clean and results["lab2"].errors == ["refused"]


def test_prefix_cleanup_refuses_a_prefix_that_is_not_ours() -> None:
    with pytest.raises(ConfigError, match="must start with 'interop-'"):
        cleanup_prefix("prod-", FakeClouds({}))
