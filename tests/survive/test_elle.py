"""The history exported for elle-cli: one JSON array per model, whole operations, dense indices."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from handwritten import history

from harness.survive.elle import export_elle

BANK_READ = {"0": 100, "1": 100}
MIXED = history(
    (1, "invoke", "add", 1, 0.1), (2, "invoke", "transfer", {"from": 0, "to": 1, "amount": 5}, 0.1),
    (1, "ok", "add", 1, 0.2, "n1", "lab1"), (2, "ok", "transfer", {"from": 0, "to": 1, "amount": 5}, 0.2),
    (3, "invoke", "read", None, 0.3), (4, "invoke", "read", None, 0.3),  # one set read, one bank read, interleaved
    (4, "ok", "read", BANK_READ, 0.4), (3, "ok", "read", [1], 0.5),
    (5, "invoke", "read", None, 0.6), (5, "fail", "read", None, 0.7),  # a failed read: neither model's
    (1, "invoke", "add", 2, 0.8), (1, "info", "add", 2, 0.9),
)


def _write(path: Path) -> Path:
    path.write_text("".join(op.to_json() + "\n" for op in MIXED))
    return path


def test_each_model_gets_its_own_whole_operations_renumbered(tmp_path: Path) -> None:
    counts = export_elle(_write(tmp_path / "history.jsonl"), tmp_path / "elle")
    assert counts == {"set": 6, "bank": 4}
    ops = {m: json.loads((tmp_path / "elle" / f"{m}.json").read_text()) for m in ("set", "bank")}
    for model, listed in ops.items():
        assert [o["index"] for o in listed] == list(range(len(listed))), model  # dense, as Jepsen expects
        invokes = [o for o in listed if o["type"] == "invoke"]
        assert len(invokes) * 2 == len(listed), model  # every invoke with its completion
    assert {o["f"] for o in ops["set"]} == {"add", "read"} and {o["f"] for o in ops["bank"]} == {"transfer", "read"}
    set_read = [o for o in ops["set"] if o["f"] == "read"]
    assert [(o["type"], o["process"], o["orig_index"]) for o in set_read] == [("invoke", 3, 4), ("ok", 3, 7)]
    assert [o["value"] for o in ops["bank"] if o["f"] == "read" and o["type"] == "ok"] == [BANK_READ]
    assert [o["type"] for o in ops["set"] if o["value"] == 2] == ["invoke", "info"]  # unknowns kept as info


def test_an_empty_model_is_an_empty_array(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text("".join(op.to_json() + "\n" for op in MIXED[:1] + MIXED[2:3]))
    assert export_elle(path, tmp_path / "out") == {"set": 2, "bank": 0}
    assert json.loads((tmp_path / "out" / "bank.json").read_text()) == []


def test_interop_check_exports_each_clouds_history(tmp_path: Path, run_cli: Callable[..., tuple[int, str, str]]
                                                   ) -> None:
    for cloud in ("lab1", "lab2"):
        (tmp_path / "RUN" / "survive" / cloud).mkdir(parents=True)
        _write(tmp_path / "RUN" / "survive" / cloud / "history.jsonl")
    rc, out, err = run_cli("check", "RUN", "--reports-dir", str(tmp_path), "--elle", str(tmp_path / "elle"))
    assert "elle-cli histories in" in out, (rc, out, err)
    for cloud in ("lab1", "lab2"):
        assert len(json.loads((tmp_path / "elle" / cloud / "set.json").read_text())) == 6
