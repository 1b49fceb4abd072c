"""``interop run --dry-run`` with the k8s-cockroach stack over three lab clouds, end to end:
provisioning for real with the stack's own security-group rules, prepare.yml for real on the
servers, every per-cloud artifact rendered, no key anywhere in the run directory, the configure
and deploy phases "rendered" (never passed), survive skipped, and nothing left on the clouds.

The lab's flavor (512 MB, 1 vCPU) is below the stack's needs; the challenge names it, and the
run must say so in the record and the dashboard. It takes the lab's LAST three clouds (lab4-6
on a 6-cloud lab; another session may be using the first ones), or ``$INTEROP_K8S_LAB_CLOUDS``.

    interop lab up --clouds 6; pytest tests/stacks/k8s_cockroach/test_dry_run_lab.py -m lab
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import procs
import pytest
import yaml

from harness.record import new_run_id, read_events
from harness.stacks.k8s_cockroach.pins import MIN_KUBERNETES
from interop_lab import LabInfo

pytestmark = [pytest.mark.lab, pytest.mark.k8s]

RUN_TIMEOUT = 240  # the run took ~55 s on the lab; the whole test stays under ~4 minutes
PHASE_TIMEOUTS = {"servers": 120, "peers": 120, "ssh-ready": 90, "configure": 120, "deploy": 90, "teardown": 120}
PROVISION = ("identity", "keypair", "network", "security-groups", "servers", "floating-ips", "ssh-ready")


@pytest.fixture(scope="module")
def lab(lab_info: LabInfo) -> Iterator[dict[str, Any]]:
    from harness.clouds import CloudsConfig

    config = CloudsConfig.load(str(lab_info.clouds_yaml))
    base = yaml.safe_load(Path(lab_info.challenge_yaml).read_text())
    wanted = os.environ.get("INTEROP_K8S_LAB_CLOUDS")
    names = [c.strip() for c in wanted.split(",")] if wanted else list(base["clouds"])[-3:]
    if len(names) < 3:
        pytest.skip(f"the dry run wants 3 lab clouds, the lab has {len(names)}")
    conns = {}
    for name in names:
        conn = config.connect(name, api_timeout=10)
        try:
            conn.authorize()
        except Exception as exc:
            pytest.skip(f"the lab does not answer ({name}: {type(exc).__name__}: {str(exc)[:120]})")
        conns[name] = conn
    base["clouds"] = {n: base["clouds"].get(n) or {} for n in names}
    yield {"conns": conns, "clouds_yaml": str(lab_info.clouds_yaml), "challenge": base}
    for conn in conns.values():
        conn.close()


def leftovers(lab: dict[str, Any], run_dir: Path, run_id: str) -> dict[str, list[str]]:
    from provision.test_lab_provision import leftovers as provision_leftovers  # the provision tests' own check

    return provision_leftovers(lab, run_dir, run_id)


def test_a_dry_run_provisions_prepares_renders_and_leaves_nothing(lab: dict[str, Any], tmp_path: Path) -> None:
    doc = {**lab["challenge"], "stack": "k8s-cockroach", "name": "k8s-cockroach dry run (lab)",
           "timeouts": {**lab["challenge"].get("timeouts", {}), **PHASE_TIMEOUTS}}
    assert doc["defaults"]["flavor"] == "interop.small"  # named: discovery would find nothing this small
    challenge = tmp_path / "challenge.yaml"
    challenge.write_text(yaml.safe_dump(doc))
    run_id, reports = new_run_id(), tmp_path / "reports"
    run_dir = reports / run_id
    t0 = time.monotonic()
    done = procs.interop("run", "--challenge", str(challenge), "--reports-dir", str(reports), "--run-id", run_id,
                         "--dry-run", timeout=RUN_TIMEOUT, env={"OS_CLIENT_CONFIG_FILE": lab["clouds_yaml"]})
    took = time.monotonic() - t0
    try:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        events = read_events(run_dir / "events.jsonl")
        ends = {(e["cloud"], e["phase"]): e for e in events if e["type"] == "phase-end"}
        clouds = sorted(lab["conns"])
        start = next(e for e in events if e["type"] == "run-start")
        assert start["dry_run"] is True and start["clouds"] == clouds
        for cloud in clouds:
            for phase in (*PROVISION, "teardown"):
                assert ends[(cloud, phase)]["outcome"] == "passed", (cloud, phase, ends[(cloud, phase)].get("error"))
            # the stack's own rule set, as the cloud created it: k3s and CockroachDB ports, none to the world
            rules = ends[(cloud, "security-groups")]["details"]["rules"]
            for port in ("tcp 6443", "tcp 10250", "udp 8472", "tcp 26257", "tcp 8080"):
                assert any(f"ingress {port} from" in r for r in rules), (cloud, port, rules)
            assert not [r for r in rules if "0.0.0.0/0" in r]
            # host preparation ran for real: its plays timed into the record
            plays = [e for e in events if e.get("note") == "ansible-play" and e["cloud"] == cloud
                     and e["phase"] == "configure"]
            assert plays and all(p["duration"] > 0 for p in plays)
            conf, dep = ends[(cloud, "configure")], ends[(cloud, "deploy")]
            assert conf["outcome"] == dep["outcome"] == "rendered"
            assert "512 MB RAM < 4096 MB" in conf["error"] and conf["details"]["needs_not_met"]
            assert (cloud, "survive") not in ends  # skipped before it started, with the reason (pytest's)
            check_artifacts(run_dir / "artifacts" / cloud, clouds)
        check_no_key(run_dir, tmp_path)
        check_reports(run_dir, clouds)
        print(f"dry run over {', '.join(clouds)}: {took:.1f} s "
              f"(configure {max(ends[(c, 'configure')]['duration'] for c in clouds):.1f} s)")
    finally:
        left = leftovers(lab, run_dir, run_id)
        if left:
            procs.interop("cleanup", "--run-id", run_id, "--reports-dir", str(reports), timeout=300,
                          env={"OS_CLIENT_CONFIG_FILE": lab["clouds_yaml"]})
        assert left == {}, f"the dry run left resources behind: {left}"


def check_artifacts(base: Path, clouds: list[str]) -> None:
    assert json.loads((base / "k3s" / "inventory.json").read_text())["all"]["children"]["k3s_server"]["hosts"]
    rules = json.loads((base / "k3s" / "rules.json").read_text())
    assert {r["purpose"] for r in rules["rules"]} >= {"k3s-api", "cockroach-sql"} and rules["security_group"]["id"]
    docs = [d for d in yaml.safe_load_all((base / "cockroach" / "manifests.yaml").read_text()) if d]
    assert {d["kind"] for d in docs} == {"Namespace", "Service", "StatefulSet"}
    for doc in docs:
        assert kubernetes_validate.validate(doc, MIN_KUBERNETES, strict=True)
    join = json.loads((base / "cockroach" / "join.json").read_text())
    assert 3 <= len(join["join"]) <= 5 and len(join["clouds"]) >= 2 and set(join["clouds"]) <= set(clouds)
    certs = json.loads((base / "cockroach" / "certificates.json").read_text())
    assert certs["nodes"] and certs["ca_key"] == "kept in the run's private area only"


def check_no_key(run_dir: Path, tmp_path: Path) -> None:
    """No PEM key, and not the CA key's body in any form, anywhere under the run directory."""
    (ca_key,) = tmp_path.glob(".interop-private/*/cockroach-pki/ca/ca.key")
    body = "".join(line for line in ca_key.read_text().splitlines() if "-----" not in line)
    needles = ["PRIVATE KEY", body[:64], base64.b64encode(ca_key.read_bytes()).decode()[:64]]
    for path in run_dir.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not [n for n in needles if n in text], path


def check_reports(run_dir: Path, clouds: list[str]) -> None:
    html = (run_dir / "index.html").read_text()
    assert 'data-verdict="DRY RUN"' in html and "rendered" in html and "512 MB RAM" in html
    junit = (run_dir / "junit-record.xml").read_text()
    assert junit.count('type="rendered"') == 2 * len(clouds)
    pytest_junit = (run_dir / "junit.xml").read_text()
    assert pytest_junit.count("rendered, not run:") >= 2 * len(clouds)  # skipped there too, never passed
    for cloud in clouds:  # a dry run claims no compliance: no RefStack file at all
        assert not (run_dir / "refstack" / f"{cloud}.json").exists()
