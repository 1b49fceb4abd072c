"""Provisioning against the real lab: all clouds pass and leave nothing; SIGKILL + cleanup;
quota; the security-group audit on real rules. Marked ``lab``; the lab is found like every
lab test's (``lab_info`` in tests/conftest.py), and they skip with the reason when it is down.

    interop lab up; pytest tests/provision -m lab
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import procs
import pytest
import yaml
from leaks import assert_no_secrets_in

from harness.provision.ledger import Ledger
from harness.provision.naming import Names, run_prefix
from harness.record import new_run_id, read_events
from interop_lab import LabInfo
from interop_lab.content import IMAGE_NAME

pytestmark = pytest.mark.lab

INTEROP = procs.INTEROP
# A run takes about 80 s. Each wait is bounded well below the run's own limit, so that a stuck
# phase ends as the harness's own timeout naming what it waited for, and teardown still runs.
PHASE_TIMEOUTS = {"servers": 120, "peers": 120, "ssh-ready": 90, "configure": 150, "deploy": 150, "teardown": 120}
RUN_TIMEOUT = 420
MAX_CLOUDS = 3  # the lab may register more; three keep the set under ~3 minutes


# ---- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(lab_info: LabInfo) -> Iterator[dict[str, Any]]:
    clouds_yaml, challenge = str(lab_info.clouds_yaml), str(lab_info.challenge_yaml)
    # the `interop` subprocesses below find the lab's clouds the way a user's shell would
    saved = os.environ.get("OS_CLIENT_CONFIG_FILE")
    os.environ["OS_CLIENT_CONFIG_FILE"] = clouds_yaml
    from harness.clouds import CloudsConfig

    config = CloudsConfig.load(clouds_yaml)
    base = yaml.safe_load(Path(challenge).read_text())
    base["clouds"] = dict(list(base["clouds"].items())[:MAX_CLOUDS])
    conns = {}
    for name in base["clouds"]:
        conn = config.connect(name, api_timeout=10)
        try:
            conn.authorize()
        except Exception as exc:
            pytest.skip(f"the lab does not answer ({name}: {type(exc).__name__}: {str(exc)[:120]})")
        conns[name] = conn
    yield {"config": config, "conns": conns, "clouds_yaml": clouds_yaml, "challenge": base,
           "admin_yaml": lab_info.admin_clouds_yaml}
    for conn in conns.values():
        conn.close()
    if saved is None:
        os.environ.pop("OS_CLIENT_CONFIG_FILE", None)
    else:
        os.environ["OS_CLIENT_CONFIG_FILE"] = saved


def write_challenge(tmp_path: Path, base: dict[str, Any], **defaults: Any) -> Path:
    doc = json.loads(json.dumps(base))
    doc["defaults"] = {**doc.get("defaults", {}), **defaults}
    doc["timeouts"] = {**PHASE_TIMEOUTS, **doc.get("timeouts", {})}
    path = tmp_path / "challenge.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def interop(*args: str) -> subprocess.CompletedProcess[str]:
    return procs.interop(*args, timeout=RUN_TIMEOUT)


def outcomes(run_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["cloud"], e["phase"]): e for e in read_events(run_dir / "events.jsonl") if e["type"] == "phase-end"}


def leftovers(lab: dict[str, Any], run_dir: Path, run_id: str) -> dict[str, list[str]]:
    """Per cloud, anything of the run still there: by ledger id and by name prefix, via the API."""
    prefix = run_prefix(run_id)
    ledger = Ledger(run_dir)
    found: dict[str, list[str]] = {}
    for cloud, conn in lab["conns"].items():
        left: list[str] = []
        ours = {e.id: e for e in (ledger.entries(cloud) if ledger.exists() else []) if e.id}
        server_ids = {i for i, e in ours.items() if e.kind == "server"}
        project = conn.current_project_id
        left += [f"server {s.name}" for s in conn.compute.servers() if s.id in ours or s.name.startswith(prefix)]
        left += [f"fip {f.floating_ip_address}" for f in conn.network.ips(project_id=project)
                 if f.id in ours or (f.description or "").startswith(prefix)]
        left += [f"port {p.id} ({p.device_owner})" for p in conn.network.ports(project_id=project)
                 if p.device_id in server_ids or p.network_id in ours]
        left += [f"sg {g.name}" for g in conn.network.security_groups(project_id=project)
                 if g.id in ours or (g.name or "").startswith(prefix)]
        left += [f"router {r.name}" for r in conn.network.routers(project_id=project)
                 if r.id in ours or (r.name or "").startswith(prefix)]
        left += [f"network {n.name}" for n in conn.network.networks(project_id=project)
                 if n.id in ours or (n.name or "").startswith(prefix)]
        left += [f"keypair {k.name}" for k in conn.compute.keypairs() if k.name.startswith(prefix)]
        if left:
            found[cloud] = left
    return found


# ---- the run passes on every cloud and leaves nothing ----------------------------------------


def test_the_whole_challenge_passes_on_every_cloud_and_leaves_nothing(lab: dict[str, Any], tmp_path: Path) -> None:
    # no image or flavor given: every cloud discovers them, as with a challenge file written
    # without knowing the vendors' names
    base = json.loads(json.dumps(lab["challenge"]))
    for key in ("image", "flavor"):
        base["defaults"].pop(key, None)
    challenge = write_challenge(tmp_path, base)
    run_id = new_run_id()
    reports = tmp_path / "reports"
    t0 = time.monotonic()
    done = interop("run", "--challenge", str(challenge), "--reports-dir", str(reports), "--run-id", run_id)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    run_dir = reports / run_id
    ends = outcomes(run_dir)
    for cloud in lab["conns"]:
        for phase in ("identity", "keypair", "network", "security-groups", "servers", "floating-ips", "ssh-ready",
                      "configure", "deploy", "survive", "teardown"):
            assert ends[(cloud, phase)]["outcome"] == "passed", (cloud, phase, ends[(cloud, phase)].get("error"))
        workers = {ends[(cloud, p)]["worker"] for p in ("keypair", "servers", "teardown")}
        assert len(workers) == 1, f"{cloud}'s phases ran on several workers: {workers}"
        fips = ends[(cloud, "floating-ips")]["details"]
        assert len(fips["addresses"]) == 2 and fips["peers"] == {c: 2 for c in lab["conns"]}
        assert ends[(cloud, "teardown")]["details"].get("left") is None
        chosen = ends[(cloud, "servers")]["details"]
        assert (chosen["image"]["how"], chosen["flavor"]["how"]) == ("discovered", "discovered"), chosen
        assert chosen["image"]["name"] == IMAGE_NAME, chosen
        sg = ends[(cloud, "security-groups")]["details"]
        assert not [r for r in sg["rules"] if "0.0.0.0/0" in r]
    assert leftovers(lab, run_dir, run_id) == {}
    assert not Ledger(run_dir).entries(live=True)
    assert_no_secrets_in(run_dir, Path(lab["clouds_yaml"]))
    print(f"3 clouds provision+teardown in {time.monotonic() - t0:.1f}s (whole `interop run`)")


def test_cloud_cut_of_each_cloud_heals_with_one_leader_one_timeline_and_no_cut_side_write(
        lab: dict[str, Any], tmp_path: Path) -> None:
    """survival.faults [cloud-cut]: each cloud in its turn is cut off the others through the security
    groups, seen to be cut (no new connection across), held, healed: while cut its side acknowledges
    no write, no acknowledged write is lost, and after the heal there is one leader on one timeline."""
    base = json.loads(json.dumps(lab["challenge"]))
    base["survival"] = {"faults": ["cloud-cut"], "baseline_s": 5, "hold_s": 8, "settle_s": 3}
    challenge = write_challenge(tmp_path, base)
    run_id = new_run_id()
    reports = tmp_path / "reports"
    done = interop("run", "--challenge", str(challenge), "--reports-dir", str(reports), "--run-id", run_id)
    run_dir = reports / run_id
    events = read_events(run_dir / "events.jsonl")
    checks = {(e["cloud"], e["check"]): e for e in events if e["type"] == "check"}
    assert done.returncode == 0, (done.stdout[-3000:], {k: v["reason"] for k, v in checks.items()})
    steps = {(e["cloud"], e["step"]): e for e in events if e["type"] == "note" and e.get("fault") == "cloud-cut"}
    for cloud in lab["conns"]:
        split = checks[(cloud, "split-brain")]
        assert split["outcome"] == "passed", split["reason"]
        assert split["details"]["cut_side_writes"]["count"] == 0
        assert len(split["details"]["leaders"]) == 1 and len(split["details"]["timelines"]) == 1, split["details"]
        assert checks[(cloud, "set")]["outcome"] == "passed", checks[(cloud, "set")]["reason"]
        assert checks[(cloud, "bank")]["outcome"] == "passed", checks[(cloud, "bank")]["reason"]
        removed, restored = steps[(cloud, "inject")]["rules_removed"], steps[(cloud, "recover")]["rules_restored"]
        assert removed == restored > 0
        effect = steps[(cloud, "effect")]
        assert effect["probes"] >= 2 and effect["in_force_after_s"] >= 0
        print(f"{cloud}: cut in force after {effect['in_force_after_s']} s ({removed} rules), "
              f"{checks[(cloud, 'unavailability')]['reason']}")
    assert leftovers(lab, run_dir, run_id) == {}


# ---- the security group audit on the real rules -----------------------------------------------


def test_security_group_rules_on_the_cloud_pass_the_audit(lab: dict[str, Any], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines import cloud_run

    from harness.challenge import load_challenge
    from harness.provision.security_groups import audit

    challenge = load_challenge(write_challenge(tmp_path, {**lab["challenge"], "open_to_world": [30080]}))
    run_dir = tmp_path / "reports" / new_run_id()
    run_dir.mkdir(parents=True)
    run = cloud_run(challenge, "lab1", run_dir, clouds=lab["config"])
    try:
        for phase in ("keypair", "network", "security-groups"):
            run.run_phase(phase)
        sg_id = run.state["provision"].results["security_group"]["id"]
        rules = [r.to_dict() for r in lab["conns"]["lab1"].network.security_group_rules(security_group_id=sg_id)]
        assert audit(rules, open_to_world=[30080]) == []
        world = [r for r in rules if r["remote_ip_prefix"] == "0.0.0.0/0" and r["direction"] == "ingress"]
        assert [(r["port_range_min"], r["port_range_max"]) for r in world] == [(30080, 30080)]
        assert audit(rules, open_to_world=[]) != []  # the audit sees the one the challenge asked for
        ssh = [r for r in rules if r["port_range_min"] == 22]
        assert len(ssh) == 1 and ssh[0]["remote_ip_prefix"].endswith("/32")
    finally:
        run.close()  # runs teardown as a timed phase: nobody ran it explicitly
    assert outcomes(run_dir)[("lab1", "teardown")]["outcome"] == "passed"
    assert leftovers(lab, run_dir, run_dir.name) == {}


# ---- quota -------------------------------------------------------------------------------------


@pytest.fixture
def lab2_one_instance(lab: dict[str, Any]) -> Iterator[None]:
    if not lab["admin_yaml"].is_file():
        pytest.skip(f"needs the lab's admin clouds.yaml ({lab['admin_yaml']}) to set a quota")
    from harness.clouds import CloudsConfig

    admin = CloudsConfig.load(lab["admin_yaml"]).connect("lab-admin")
    project = lab["conns"]["lab2"].current_project_id
    before = admin.get_compute_quotas(project).instances
    admin.set_compute_quotas(project, instances=1)
    try:
        yield
    finally:
        admin.set_compute_quotas(project, instances=before)
        admin.close()


def test_too_small_quota_fails_that_cloud_with_quota_reason_others_pass(lab: dict[str, Any], tmp_path: Path,
                                                                        lab2_one_instance: None) -> None:
    challenge = write_challenge(tmp_path, lab["challenge"])
    run_id = new_run_id()
    done = interop("run", "--challenge", str(challenge), "--reports-dir", str(tmp_path / "r"), "--run-id", run_id)
    assert done.returncode == 1, done.stdout[-3000:]
    run_dir = tmp_path / "r" / run_id
    ends = outcomes(run_dir)
    assert ends[("lab2", "servers")]["outcome"] == "failed"
    assert "quota" in ends[("lab2", "servers")]["error"].lower()
    assert ends[("lab2", "teardown")]["outcome"] == "passed"  # teardown still ran for the failed cloud
    for cloud in ("lab1", "lab3"):
        assert ends[(cloud, "servers")]["outcome"] == "passed" and ends[(cloud, "teardown")]["outcome"] == "passed"
        assert ends[(cloud, "floating-ips")]["details"].get("peers_withdrawn", {}).keys() == {"lab2"}
    assert leftovers(lab, run_dir, run_id) == {}


# ---- SIGKILL in the middle of servers, then cleanup ------------------------------------------


def signal_mid_servers(lab: dict[str, Any], tmp_path: Path, sig: int) -> tuple[Path, str]:
    """Start a run, send ``sig`` to all its processes once servers are being created; return the run."""
    challenge = write_challenge(tmp_path, lab["challenge"], nodes=3)
    run_id = new_run_id()
    reports = tmp_path / "reports"
    proc = subprocess.Popen([*INTEROP, "run", "--challenge", str(challenge), "--reports-dir", str(reports),
                             "--run-id", run_id], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, cwd=Path(__file__).resolve().parents[2])
    run_dir = reports / run_id
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ledger = Ledger(run_dir)
            servers = ledger.entries(kind="server") if ledger.exists() else []
            if servers and any(e.state == "created" for e in servers):
                break
            if proc.poll() is not None:
                pytest.fail("the run ended before its servers phase could be interrupted")
            time.sleep(0.05)
        else:
            pytest.fail("no server was created within 120 s")
    finally:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(RUN_TIMEOUT)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    return run_dir, run_id


def kill_mid_servers(lab: dict[str, Any], tmp_path: Path) -> tuple[Path, str]:
    run_dir, run_id = signal_mid_servers(lab, tmp_path, signal.SIGKILL)
    ends = outcomes(run_dir)
    assert not any(p == "teardown" for _, p in ends), "SIGKILL must leave no chance to tear down"
    assert leftovers(lab, run_dir, run_id) != {}, "the kill came too late: nothing to clean up"
    return run_dir, run_id


def test_ctrl_c_mid_servers_still_tears_down(lab: dict[str, Any], tmp_path: Path) -> None:
    run_dir, run_id = signal_mid_servers(lab, tmp_path, signal.SIGINT)
    ends = outcomes(run_dir)
    created = Ledger(run_dir).clouds()
    assert created
    for cloud in created:
        assert ends[(cloud, "teardown")]["outcome"] == "passed", (cloud, ends.get((cloud, "teardown")))
    assert leftovers(lab, run_dir, run_id) == {}


def test_sigkill_mid_servers_then_cleanup_by_run_id_leaves_nothing(lab: dict[str, Any], tmp_path: Path) -> None:
    run_dir, run_id = kill_mid_servers(lab, tmp_path)
    done = interop("cleanup", "--run-id", run_id, "--reports-dir", str(run_dir.parent))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "clean" in done.stdout
    assert leftovers(lab, run_dir, run_id) == {}


def test_sigkill_then_cleanup_by_prefix_without_the_ledger(lab: dict[str, Any], tmp_path: Path) -> None:
    run_dir, run_id = kill_mid_servers(lab, tmp_path)
    (run_dir / "resources.json").unlink()
    prefix = Names.for_run(run_id, "x").run_prefix
    clouds = ",".join(lab["conns"])
    dry = interop("cleanup", "--prefix", prefix, "--dry-run", "--clouds", clouds)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "delete server " + prefix in dry.stdout and "delete keypair " + prefix in dry.stdout
    done = interop("cleanup", "--prefix", prefix, "--clouds", clouds)
    assert done.returncode == 0, done.stdout + done.stderr
    assert leftovers(lab, run_dir, run_id) == {}
