import json
import multiprocessing
from pathlib import Path

import pytest

from harness.provision.ledger import Ledger


def test_entry_lifecycle_requested_created_deleted(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "run")
    ledger.intend("lab1", "server", "s0")
    assert [(e.name, e.id, e.state) for e in ledger.entries("lab1")] == [("s0", None, "requested")]
    assert ledger.has_live("lab1")
    ledger.created("lab1", "server", "s0", "id-0", flavor="small")
    (entry,) = ledger.entries("lab1", kind="server", live=True)
    assert (entry.id, entry.state, entry.extra) == ("id-0", "created", {"flavor": "small"})
    ledger.deleted("lab1", "server", "s0")
    assert ledger.entries("lab1", live=True) == [] and not ledger.has_live("lab1")
    assert ledger.entries("lab1", live=False)[0].id == "id-0"  # history stays


def test_file_is_plain_json_with_run_id(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "r1")
    ledger.created("lab2", "floating-ip", "f0", "fip-1", owned=False, address="172.24.4.9")
    doc = json.loads((tmp_path / "r1" / "resources.json").read_text())
    assert doc["run_id"] == "r1" and doc["resources"][0]["owned"] is False
    assert ledger.clouds() == ["lab2"]


def test_unknown_kind_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown resource kind"):
        Ledger(tmp_path).intend("lab1", "volume", "v0")


def _writer(path: str, cloud: str, count: int) -> None:
    ledger = Ledger(Path(path))
    for i in range(count):
        ledger.intend(cloud, "server", f"{cloud}-s{i}")
        ledger.created(cloud, "server", f"{cloud}-s{i}", f"{cloud}-id{i}")


def test_many_processes_write_one_ledger_without_losing_entries(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), f"c{n}", 25)) for n in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    ledger = Ledger(tmp_path)
    assert len(ledger.entries(live=True)) == 100
    assert all(e.state == "created" and e.id for e in ledger.entries())
    assert not list(tmp_path.glob(".resources.json.*.tmp"))
