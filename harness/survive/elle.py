"""A history exported for Jepsen's own checkers: elle-cli's ``set`` and ``bank`` models.

elle-cli reads ONE JSON array per file and checks one workload per file (a ``set`` history
with a ``transfer`` in it is rejected), so the history is split: ``set.json`` holds the adds
and the reads whose value is a list, ``bank.json`` the transfers and the reads whose value
is an object (see :mod:`.history` for where these facts come from). Each file is renumbered
0..n-1 in ``index``, as Jepsen's dense histories expect; ``orig_index`` keeps the line of
``history.jsonl`` it came from, so a finding there points back here. Written streaming: a
million operations never sit in memory.

    interop check RUN --elle DIR      # DIR/<cloud>/set.json, DIR/<cloud>/bank.json
    java -jar elle-cli.jar --model set DIR/lab1/set.json     # elsewhere, with a JVM
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from .history import Op, read_history

MODELS = ("set", "bank")


def workload_of(op: Op) -> str | None:
    """Which elle-cli model ``op`` belongs to; None for an operation neither checks."""
    if op.f == "add":
        return "set"
    if op.f == "transfer":
        return "bank"
    if op.f == "read":
        if isinstance(op.value, list):
            return "set"
        if isinstance(op.value, dict):
            return "bank"
        return None  # an invoke of a read carries no value yet: placed by its completion (below)
    return None


def export_elle(history: Path, out_dir: Path) -> dict[str, int]:
    """Write ``out_dir/set.json`` and ``out_dir/bank.json`` from ``history``; operations per file.

    A read's invoke carries no value, so it is held until its own process completes it and
    then written to the completion's file: each file stays a list of whole operations.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, IO[str]] = {m: (out_dir / f"{m}.json").open("w") for m in MODELS}
    counts = dict.fromkeys(MODELS, 0)
    open_reads: dict[int, Op] = {}  # process -> its read's invoke, until the completion says which model

    def write(model: str, op: Op) -> None:
        doc: dict[str, Any] = {"index": counts[model], "orig_index": op.index, "type": op.type, "f": op.f,
                               "value": op.value, "process": op.process, "time": op.time, "node": op.node,
                               "cloud": op.cloud}
        files[model].write(("[" if counts[model] == 0 else ",\n") + json.dumps(doc, separators=(",", ":")))
        counts[model] += 1

    try:
        for op in read_history(history):
            if op.f == "read" and op.type == "invoke":
                open_reads[op.process] = op
                continue
            model = workload_of(op)
            invoke = open_reads.pop(op.process, None) if op.f == "read" else None
            if model is None:
                continue
            if invoke is not None:
                write(model, invoke)
            write(model, op)
    finally:
        for model, f in files.items():
            f.write("[]\n" if counts[model] == 0 else "]\n")
            f.close()
    return counts
