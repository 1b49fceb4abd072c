"""RefStack JSON per cloud: passed checks only, stable uuids, the recorded cpid, the upload schema."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import jsonschema
import pytest
from records import Record, passing_cloud

from harness.report.model import RunSummary, summarize
from harness.report.refstack import NAMESPACE, check_uuid, cpid_of, refstack_results, write_refstack

SCHEMA = json.loads((Path(__file__).parent / "data" / "refstack-upload.schema.json").read_text())
PHASES = [("identity", 0.4), ("servers", 12.5), ("deploy", 30.0), ("survive", 60.0), ("teardown", 3.0)]


def _validator() -> jsonschema.Draft4Validator:
    jsonschema.Draft4Validator.check_schema(SCHEMA)
    return jsonschema.Draft4Validator(SCHEMA)


def _run(tmp_path: Path, run_id: str = "r1") -> Path:
    rec = Record(run_id, ["lab1", "lab2", "lab3"], stack="hosts-patroni")
    passing_cloud(rec, "lab1", PHASES, cpid="ks-id-lab1")
    rec.check("lab1", "unavailability", "passed", 4.2, "s", 30)
    rec.check("lab1", "throughput-ratio", "failed", 0.31, "x baseline", 0.5)
    rec.check("lab1", "set", "passed", 0, "writes", 0, scope="cluster")
    rec.check("lab1", "split-brain", "passed", 0, "violations", 0)
    rec.check("lab1", "split-brain", "failed", 1, "violations", 0)  # a second cut: one failure fails the check
    rec.check("lab1", "unavailability", "passed", 2.0, "s", 30, scope="lab2")  # another cloud's scope
    rec.phase("lab2", "identity", 3.1, "failed", "authentication refused (HTTP 401)")
    passing_cloud(rec, "lab3", PHASES[:2], cpid="ks-id-lab3").phase("lab3", "deploy", 5.0, "failed", "no quorum")
    return rec.end().write(tmp_path / run_id)


def test_every_file_validates_against_the_upload_schema(tmp_path: Path) -> None:
    written, missing = write_refstack(_run(tmp_path))
    assert [p.name for p in written] == ["lab1.json", "lab3.json"]
    validator = _validator()
    for path in written:
        document = json.loads(path.read_text())
        assert list(validator.iter_errors(document)) == [], path
        assert set(document) == {"cpid", "duration_seconds", "results"}
    assert missing == {"lab2": "no passed check (identity failed: authentication refused (HTTP 401))"}
    assert not (tmp_path / "r1" / "refstack" / "lab2.json").exists()


@pytest.mark.parametrize("bad", [
    {"cpid": "x", "duration_seconds": 1, "results": []},  # an empty result is refused
    {"cpid": "x", "duration_seconds": 1.5, "results": [{"name": "a", "uuid": str(uuid.uuid4())}]},
    {"cpid": "x", "duration_seconds": 1, "results": [{"name": "a", "uuid": "not-a-uuid"}]},
    {"cpid": "x", "duration_seconds": 1, "results": [{"name": "a", "uuid": str(uuid.uuid4())}], "cloud": "lab1"},
    {"duration_seconds": 1, "results": [{"name": "a", "uuid": str(uuid.uuid4())}]},
])
def test_the_schema_refuses_what_refstack_refuses(bad: dict[str, object]) -> None:
    assert list(_validator().iter_errors(bad))  # so the validation above can fail


def test_passed_checks_only_with_stable_names_and_uuids(tmp_path: Path) -> None:
    summary = summarize(json.loads(line) for line in (_run(tmp_path) / "events.jsonl").read_text().splitlines())
    lab1 = refstack_results(summary, "lab1").document
    assert lab1 is not None and lab1["cpid"] == "ks-id-lab1"
    names = [r["name"] for r in lab1["results"]]
    assert names == ["interop.hosts-patroni.identity", "interop.hosts-patroni.servers", "interop.hosts-patroni.deploy",
                     "interop.hosts-patroni.survive", "interop.hosts-patroni.teardown",
                     "interop.hosts-patroni.survive.unavailability", "interop.hosts-patroni.survive.cluster.set"]
    assert all(r["uuid"] == str(uuid.uuid5(NAMESPACE, r["name"])) for r in lab1["results"])
    # pinned: a changed namespace or name scheme would break every comparison with older runs
    assert check_uuid("interop.hosts-patroni.identity") == str(uuid.uuid5(uuid.UUID("74230902-0c36-42ca-bb3b-c23b4e91640c"),
                                                                         "interop.hosts-patroni.identity"))
    lab3 = refstack_results(summary, "lab3").document
    assert lab3 is not None and [r["name"] for r in lab3["results"]] == names[:2]
    assert lab3["results"] == lab1["results"][:2]  # same check, same uuid, on another cloud
    assert lab1["duration_seconds"] == round(0.4 + 12.5 + 30 + 60 + 3) == 106


def test_uuids_are_the_same_in_another_run(tmp_path: Path) -> None:
    a, b = (write_refstack(_run(tmp_path, run))[0][0] for run in ("ra", "rb"))
    assert a != b and a.read_text() == b.read_text()


def test_cpid_from_the_identity_phase_a_note_or_the_auth_host() -> None:
    def summary(details: dict[str, object], *notes: dict[str, object]) -> RunSummary:
        rec = Record("r", ["lab1"]).phase("lab1", "identity", 0.1, details=details)
        for note in notes:
            rec.note("lab1", "identity", "cpid", **note)
        return summarize(rec.events)

    assert cpid_of(summary({"cpid": "ks-1"}), "lab1") == "ks-1"
    assert cpid_of(summary({}, {"cpid": "from-note"}), "lab1") == "from-note"
    md5 = hashlib.md5(b"keystone.example.org").hexdigest()
    assert cpid_of(summary({"auth_url": "https://keystone.example.org:5000/v3"}), "lab1") == md5
    assert cpid_of(summary({}), "lab1") is None


def test_a_passed_cloud_without_cpid_gets_no_file_and_a_reason(tmp_path: Path) -> None:
    rec = Record("r", ["lab1"]).phase("lab1", "identity", 0.1).phase("lab1", "servers", 1.0)
    written, missing = write_refstack(rec.end().write(tmp_path / "r"))
    assert written == [] and missing == {"lab1": "no cpid: the identity phase recorded none"}


def test_a_stale_file_goes_when_the_cloud_has_no_passed_check(tmp_path: Path) -> None:
    run = Record("r", ["lab1"]).phase("lab1", "identity", 0.1, "failed", "401").end().write(tmp_path / "r")
    stale = run / "refstack" / "lab1.json"
    stale.parent.mkdir()
    stale.write_text("{}")
    assert write_refstack(run) == ([], {"lab1": "no passed check (identity failed: 401)"})
    assert not stale.exists()


def test_a_dry_run_writes_no_refstack_file_and_says_why(tmp_path: Path) -> None:
    rec = Record("dry", ["lab1"], dry_run=True)
    passing_cloud(rec, "lab1", [("identity", 0.5), ("servers", 5.0)])
    run = rec.end().write(tmp_path / "dry")
    written, missing = write_refstack(run)
    assert written == [] and missing == {"lab1": "a dry run: no RefStack results"}
    assert not (run / "refstack" / "lab1.json").exists()
