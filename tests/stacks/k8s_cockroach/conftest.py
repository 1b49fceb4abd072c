"""A 3-cloud CockroachDB plan and its PKI, made once per session (RSA keys take a while)."""

from __future__ import annotations

from pathlib import Path

import pytest
from crdb_data import CLUSTER, SERVERS

from harness.stacks.k8s_cockroach.pki import Pki, ensure_pki
from harness.stacks.k8s_cockroach.plan import CrdbPlan, plan_from_servers


@pytest.fixture(scope="session")
def plan() -> CrdbPlan:
    return plan_from_servers(CLUSTER, SERVERS)


@pytest.fixture(scope="session")
def private_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("run") / ".interop-private" / "run-1"
    path.mkdir(mode=0o700, parents=True)
    return path


@pytest.fixture(scope="session")
def pki(plan: CrdbPlan, private_dir: Path) -> Pki:
    return ensure_pki(private_dir, plan)
