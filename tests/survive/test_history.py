"""The history: written one JSON object per line in elle-cli's keys, read back line-checked, paired."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from handwritten import S, history

from harness.errors import ConfigError, HarnessError
from harness.survive.history import HistoryWriter, Op, Pair, pair_ops, read_history, read_pairs


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000 * S

    def __call__(self) -> int:
        self.now += 1_000
        return self.now


def test_writer_writes_one_json_object_per_line_in_elles_keys(tmp_path: Path) -> None:
    path = tmp_path / "survive" / "history.jsonl"
    with HistoryWriter(path, clock=FakeClock()) as h:
        add = h.invoke(3, "add", 17)
        h.complete(add, "ok", node="lab2-1", cloud="lab2")
        read = h.invoke(4, "read")
        h.complete(read, "ok", [17])
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {"index": 0, "type": "invoke", "f": "add", "value": 17, "process": 3, "time": 1_000,
                        "node": None, "cloud": None}
    assert lines[1] == {"index": 1, "type": "ok", "f": "add", "value": 17, "process": 3, "time": 2_000,
                        "node": "lab2-1", "cloud": "lab2"}
    assert [(o["type"], o["value"]) for o in lines[2:]] == [("invoke", None), ("ok", [17])]


def test_what_the_writer_writes_the_reader_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    written = []
    with HistoryWriter(path) as h:
        op = h.invoke(1, "transfer", {"from": "a", "to": "b", "amount": 5}, node="lab1-1", cloud="lab1")
        written += [op, h.complete(op, "info")]
    assert list(read_history(path)) == written
    assert written[1].value == {"from": "a", "to": "b", "amount": 5} and written[1].cloud == "lab1"


def test_writer_keeps_index_and_time_in_order_across_threads(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path) as h:
        def client(process: int) -> None:
            for i in range(300):
                op = h.invoke(process, "add", process * 1000 + i)
                h.complete(op, "ok" if i % 3 else "fail")
        threads = [threading.Thread(target=client, args=(p,)) for p in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    ops = list(read_history(path))
    assert [o.index for o in ops] == list(range(8 * 300 * 2))
    assert all(a.time <= b.time for a, b in zip(ops, ops[1:], strict=False))
    pairs = list(pair_ops(ops))
    assert len(pairs) == 2400 and all(p.end is not None for p in pairs)


def test_writer_refuses_an_existing_history_and_ops_out_of_turn(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path) as h:
        op = h.invoke(1, "add", 1)
        with pytest.raises(HarnessError, match="process 1 invokes 'add' while its op 0 is still open"):
            h.invoke(1, "add", 2)
        h.complete(op, "ok")
        with pytest.raises(HarnessError, match="op 0 of process 1 is not open"):
            h.complete(op, "ok")
        with pytest.raises(HarnessError, match="ok, fail or info"):
            h.complete(h.invoke(2, "add", 3), "invoke")  # type: ignore[arg-type]
        assert [o.process for o in h.open_ops()] == [2]
    with pytest.raises(HarnessError, match="a history is already there"):
        HistoryWriter(path)


@pytest.mark.parametrize("line, message", [
    ("{not json", "not a JSON object"),
    ('[1, 2]', "not a JSON object but list"),
    ('{"index": 1, "type": "ok", "f": "add", "process": 1, "time": 5} 7', "not a JSON object: Extra data"),
    ('{"index": 1, "type": "done", "f": "add", "process": 1, "time": 5}', "type must be one of invoke, ok, fail, info, not 'done'"),
    ('{"index": 1, "type": "ok", "process": 1, "time": 5}', "f must be a non-empty string, not None"),
    ('{"index": 1, "type": "ok", "f": "add", "process": "nemesis", "time": 5}', "process must be an integer, not 'nemesis'"),
    ('{"index": 1, "type": "ok", "f": "add", "process": 1, "time": 1.5}', "time must be non-negative integer nanoseconds, not 1.5"),
    ('{"index": 0, "type": "ok", "f": "add", "process": 1, "time": 5}', "index 0 is not after the previous 0"),
    ('{"index": 1, "type": "ok", "f": "add", "process": 1, "time": 5, "cloud": 3}', "node and cloud must be strings or null"),
])
def test_a_bad_line_is_an_error_naming_the_file_and_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text('{"index": 0, "type": "invoke", "f": "add", "value": 1, "process": 1, "time": 0}\n\n' + line + "\n")
    with pytest.raises(ConfigError) as err:
        list(read_history(path))
    assert str(err.value).startswith(f"{path}:3: {message}")


def test_blank_lines_and_blanks_around_an_object_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text('\n  {"index": 0, "type": "invoke", "f": "add", "value": 1, "process": 1, "time": 0}  \n\n')
    assert list(read_history(path)) == [Op(0, 1, "invoke", "add", 1, 0)]


def test_a_missing_history_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the history"):
        list(read_history(tmp_path / "none.jsonl"))


def test_pairs_join_invoke_and_completion_and_unfinished_invokes_are_unknown() -> None:
    ops = history(
        (1, "invoke", "add", 7, 1.0),
        (2, "invoke", "add", 8, 1.1),
        (1, "ok", "add", 7, 1.5, "lab1-1", "lab1"),
        (1, "invoke", "read", None, 2.0),
        (1, "ok", "read", [7], 2.5),
    )
    assert list(pair_ops(ops)) == [
        Pair(2, 1, "add", "ok", 7, 7, 1 * S, int(1.5 * S), "lab1-1", "lab1"),
        Pair(4, 1, "read", "ok", None, [7], 2 * S, int(2.5 * S), None, None),
        Pair(1, 2, "add", "info", 8, None, int(1.1 * S), None, None, None),  # never completed: unknown
    ]
    assert list(pair_ops(ops))[0].latency == S // 2


@pytest.mark.parametrize("ops, message", [
    (history((1, "ok", "add", 7, 1.0)), "op 0: ok 'add' of process 1, which has no open invoke"),
    (history((1, "invoke", "add", 7, 1.0), (1, "ok", "read", [], 1.1)), "op 1: ok 'read' completes op 0, an invoke of 'add'"),
    (history((1, "invoke", "add", 7, 1.0), (1, "invoke", "add", 8, 1.1)), "op 1: process 1 invokes 'add' while its op 0 is still open"),
])
def test_pairing_refuses_a_broken_history_naming_the_op(ops: list[Op], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^history: {message}$"):
        list(pair_ops(ops))


def test_read_pairs_names_the_file_in_pairing_errors(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(history((5, "fail", "add", 1, 0.0))[0].to_json() + "\n")
    with pytest.raises(ConfigError, match=f"^{path}: op 0: fail 'add' of process 5"):
        list(read_pairs(path))
