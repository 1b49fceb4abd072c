"""The engine: a cloud's pipeline in order, teardown after failures and at close, skips, withdrawal."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pipelines import cloud_run

from harness.challenge import Challenge
from harness.engine import CloudRun
from harness.errors import CloudError, ConfigError, SkipCloud
from harness.provision.ledger import Ledger
from harness.provision.pipeline import pipeline_for
from harness.rendezvous import DirRendezvous
from harness.stacks import known_stacks, load_stack
from harness.stacks.base import Phase, PhaseFn


@pytest.fixture
def phases() -> dict[str, PhaseFn]:
    return {}


def _run(tmp_path: Path, phases: dict[str, PhaseFn] | None = None, stack: str = "hosts-patroni") -> CloudRun:
    challenge = Challenge.model_validate({"stack": stack, "clouds": {"lab1": {}, "lab2": {}}})
    run_dir = tmp_path / "reports" / "20261125T001500Z-ab12"
    run_dir.mkdir(parents=True)
    return cloud_run(challenge, "lab1", run_dir, phases=phases)


def _events(run: CloudRun) -> list[dict[str, Any]]:
    path = run.run_dir / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_every_stack_provisions_and_ends_with_teardown() -> None:
    for stack in known_stacks():
        names = pipeline_for(load_stack(stack)).names()
        assert names[:7] == ("identity", "keypair", "network", "security-groups", "servers", "floating-ips",
                             "ssh-ready"), stack
        survive = ("survive",) if load_stack(stack).database is not None else ()  # a stack with a database
        assert names[-1] == "teardown" and names[7:-1] == (*load_stack(stack).phase_names(), *survive)


def test_a_phase_the_stack_has_not_built_is_skipped_with_its_reason(tmp_path: Path) -> None:
    run = _run(tmp_path)
    unbuilt = Phase.not_built("configure", "the configure phase of this stack is not built yet")
    run.pipeline = replace(run.pipeline, phases=tuple(unbuilt if p.name == "configure" else p
                                                      for p in run.pipeline.phases))
    with pytest.raises(SkipCloud, match="the configure phase of this stack is not built yet"):
        run.run_phase("configure")
    assert _events(run) == []


def test_a_phase_outside_the_pipeline_is_a_clear_error(tmp_path: Path) -> None:
    run = _run(tmp_path, phases)
    with pytest.raises(ConfigError, match="phase 'warm-up' is not part of stack hosts-patroni .*configure, deploy, survive"):
        run.run_phase("warm-up")


def test_teardown_runs_after_a_failure_and_close_runs_it_when_nobody_did(tmp_path: Path,
                                                                         phases: dict[str, PhaseFn]) -> None:
    torn: list[str] = []

    def servers(run: CloudRun) -> None:
        Ledger(run.run_dir).created(run.cloud, "server", "s0", "id-0")
        raise CloudError("quota exceeded while creating server s1", cloud=run.cloud, phase="servers")

    def teardown(run: CloudRun) -> dict[str, Any]:
        torn.append(run.cloud)
        Ledger(run.run_dir).deleted(run.cloud, "server", "s0")
        return {"deleted": {"server": 1}}

    phases["servers"] = servers
    phases["teardown"] = teardown
    run = _run(tmp_path, phases)
    with pytest.raises(CloudError):
        run.run_phase("servers")
    with pytest.raises(SkipCloud, match="failed in phase servers: quota exceeded"):
        run.run_phase("floating-ips")
    run.close()  # the fixture finalizer: nobody ran teardown, so close does
    assert torn == ["lab1"]
    ends = {e["phase"]: e for e in _events(run) if e["type"] == "phase-end"}
    assert ends["servers"]["outcome"] == "failed" and ends["teardown"]["outcome"] == "passed"
    assert run.failure == "quota exceeded while creating server s1"  # teardown does not replace the reason
    run.close()
    assert torn == ["lab1"]  # once


def test_explicit_teardown_is_not_repeated_at_close(tmp_path: Path, phases: dict[str, PhaseFn]) -> None:
    calls: list[int] = []
    phases["teardown"] = lambda run: calls.append(1) or {}
    run = _run(tmp_path, phases)
    Ledger(run.run_dir).created("lab1", "keypair", "k", "k")
    run.run_phase("teardown")
    run.close()
    assert calls == [1]


def test_nothing_created_means_teardown_is_skipped_without_touching_the_cloud(tmp_path: Path) -> None:
    run = _run(tmp_path, phases)
    Ledger(run.run_dir).created("lab2", "keypair", "k", "k")  # another cloud's resources are not ours
    with pytest.raises(SkipCloud, match="nothing to tear down"):
        run.run_phase("teardown")
    run.close()
    assert _events(run) == []


def test_a_kept_run_skips_teardown_naming_the_cleanup_even_at_close(tmp_path: Path,
                                                                      phases: dict[str, PhaseFn]) -> None:
    calls: list[int] = []
    phases["teardown"] = lambda run: calls.append(1) or {}
    run = _run(tmp_path, phases)
    run.keep = True  # interop run --keep
    Ledger(run.run_dir).created("lab1", "keypair", "k", "k")
    with pytest.raises(SkipCloud, match=r"kept \(interop run --keep\).*interop cleanup --run-id 20261125T001500Z-ab12"):
        run.run_phase("teardown")
    run.close()
    assert calls == [] and Ledger(run.run_dir).has_live("lab1")


def test_a_failed_cloud_withdraws_so_peers_stop_waiting(tmp_path: Path, phases: dict[str, PhaseFn]) -> None:
    def network(run: CloudRun) -> None:
        raise CloudError("no external network", cloud=run.cloud, phase="network")

    phases["network"] = network
    run = _run(tmp_path, phases)
    with pytest.raises(CloudError):
        run.run_phase("network")
    got = DirRendezvous(run.run_dir).gather("node-addresses", ["lab1"], timeout=0)
    assert got.withdrawn == {"lab1": "failed in network: no external network"}


def test_ctrl_c_cannot_cut_teardown_short(tmp_path: Path, phases: dict[str, PhaseFn]) -> None:
    import _thread
    import time

    finished: list[bool] = []

    def teardown(run: CloudRun) -> dict[str, Any]:
        _thread.interrupt_main()  # what Ctrl-C, or execnet stopping a worker, does meanwhile
        time.sleep(0.5)
        finished.append(True)
        return {"deleted": {"server": 1}}

    phases["teardown"] = teardown
    run = _run(tmp_path, phases)
    Ledger(run.run_dir).created("lab1", "server", "s0", "id-0")
    with pytest.raises(KeyboardInterrupt):  # explicit teardown: finish, then stop as asked
        run.run_phase("teardown")
    assert finished == [True]
    end = [e for e in _events(run) if e["type"] == "phase-end"][-1]
    assert end["outcome"] == "passed" and end["details"]["interrupted_meanwhile"] is True

    run2 = _run(tmp_path / "2", phases)
    Ledger(run2.run_dir).created("lab1", "server", "s0", "id-0")
    run2.close()  # at close (the fixture finalizer) the interrupt is absorbed: close must finish
    assert finished == [True, True]
