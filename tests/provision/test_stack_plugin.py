"""A stack is a plug-in: a module in tests/ and one registry entry made here, and the engine,
the challenge schema and the security-groups phase take it as they take the real stacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from throwaway_stack import GOSSIP_PORT, WARMED

from harness.challenge import Challenge, parse_challenge
from harness.engine import CloudRun
from harness.errors import CloudError, ConfigError
from harness.provision.context import Context
from harness.provision.ledger import Ledger
from harness.provision.naming import Names
from harness.provision.network import NetworkInfo
from harness.provision.pipeline import pipeline_for
from harness.rendezvous import DirRendezvous
from harness.stacks import REGISTRY, load_stack

RUN_ID = "20261206T000000Z-ab12"


@pytest.fixture(autouse=True)
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "throwaway", "throwaway_stack:STACK")


def _runs(tmp_path: Path, *clouds: str) -> dict[str, CloudRun]:
    challenge = Challenge.model_validate({"stack": "throwaway", "clouds": {c: {} for c in clouds},
                                          "timeouts": {"warm-up": 5}})
    run_dir = tmp_path / "reports" / RUN_ID
    run_dir.mkdir(parents=True, exist_ok=True)
    pipeline = pipeline_for(load_stack(challenge.stack))
    return {c: CloudRun(cloud=c, challenge=challenge, clouds=None, run_dir=run_dir,  # type: ignore[arg-type]
                        pipeline=pipeline) for c in clouds}


def test_the_registry_entry_is_all_it_takes(tmp_path: Path) -> None:
    run = _runs(tmp_path, "lab1")["lab1"]
    assert run.pipeline.names() == ("identity", "keypair", "network", "security-groups", "servers",
                                    "floating-ips", "ssh-ready", "warm-up", "teardown")
    assert run.pipeline.rendezvous == ("node-addresses", WARMED)
    with pytest.raises(ConfigError, match=r"^c.yaml: timeouts: unknown timeout 'warmup' "
                                          r"\(known for stack throwaway: .*warm-up\)$"):
        parse_challenge({"stack": "throwaway", "clouds": {"a": {}}, "timeouts": {"warmup": 5}}, Path("c.yaml"))


def test_its_phase_runs_through_the_engine_and_a_failed_cloud_is_withdrawn(tmp_path: Path) -> None:
    runs = _runs(tmp_path, "warm", "cold")
    with pytest.raises(CloudError, match="refused to warm up"):
        runs["cold"].run_phase("warm-up")
    details = runs["warm"].run_phase("warm-up")  # does not wait 5 s for the cold cloud
    assert details == {"warm": ["warm"], "withdrawn": {"cold": "failed in warm-up: refused to warm up"}}
    rv = DirRendezvous(tmp_path / "reports" / RUN_ID)
    assert rv.gather(WARMED, ["cold"], timeout=0).withdrawn == {"cold": "failed in warm-up: refused to warm up"}
    lines = (tmp_path / "reports" / RUN_ID / "events.jsonl").read_text().splitlines()
    ends = {e["cloud"]: e for e in map(json.loads, lines) if e["type"] == "phase-end"}
    assert ends["cold"]["outcome"] == "failed" and ends["warm"]["outcome"] == "passed"


def test_its_rule_set_reaches_the_security_groups_phase(tmp_path: Path, fake_cloud: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTEROP_HARNESS_CIDR", "198.51.100.7")
    run = _runs(tmp_path, "lab1")["lab1"]
    run._conn = fake_cloud.conn
    run.state["provision"] = Context(conn=fake_cloud.conn, cloud="lab1", names=Names.for_run(RUN_ID, "lab1"),
                                     ledger=Ledger(run.run_dir),
                                     results={"network": NetworkInfo("net-1", "n", "sub-1", "10.0.0.0/24")})
    fake_cloud.on("POST", "neutron", "/security-groups", {"security_group": {"id": "sg-1", "security_group_rules": []}})
    sent: list[dict[str, Any]] = []

    def echo(request: Any, context: Any) -> dict[str, Any]:
        sent.extend(request.json()["security_group_rules"])
        return {"security_group_rules": [{"id": f"r{i}", **r} for i, r in enumerate(sent)]}

    fake_cloud.on("POST", "neutron", "/security-group-rules", json=echo)
    details = run.run_phase("security-groups")
    ports = sorted((r["port_range_min"], r.get("remote_ip_prefix"), r.get("remote_group_id")) for r in sent)
    assert ports == [(22, "198.51.100.7/32", None), (GOSSIP_PORT, None, "sg-1")]  # its rules, nothing else
    assert any(f"{GOSSIP_PORT}" in rule and "gossip" in rule for rule in details["rules"])
