"""The workload's history: every operation as Jepsen records it, one JSON object per line.

An operation is an ``invoke`` followed by exactly one completion by the same process:
``ok`` (it happened), ``fail`` (it did not) or ``info`` (unknown: a timeout or a connection
lost during COMMIT). ``time`` is monotonic nanoseconds since the history started, as Jepsen
and Elle use; ``index`` is the line's position. We add ``node`` (the member that served the
operation) and ``cloud`` (that member's cloud), ``null`` when not known::

    {"index":0,"type":"invoke","f":"add","value":17,"process":3,"time":2005110,"node":null,"cloud":null}
    {"index":1,"type":"ok","f":"add","value":17,"process":3,"time":4100230,"node":"lab2-1","cloud":"lab2"}

Vocabulary (Jepsen's own workloads, so each part can be handed to its Jepsen checker):
set: ``add`` (value: the element), ``read`` whose ok value is a list of every element;
bank: ``transfer`` (value ``{"from": a, "to": b, "amount": n}``), ``read`` whose ok value is
an object ``{account: balance}``. The two reads share Jepsen's name and are told apart by
their value (a list or an object), as only their ok completions are ever checked.

What elle-cli reads (ligurio/elle-cli, ``src/elle_cli/cli.clj``, ``read-json-history``, and the
JSON files under ``histories/`` and ``test/test-data/``; README "Usage", "bank", "set"):
- ONE JSON value per file, parsed whole with ``clojure.data.json/read-str``: its histories are a
  single array of operation objects, one per line (``[{...},\\n{...}]``). Our JSON-lines file
  becomes that with ``jq -s . history.jsonl``.
- keys are ``index``, ``type``, ``f``, ``value``, ``process``, ``time``; every key becomes a
  keyword and ``type``/``f`` values too; other keys (our ``node``, ``cloud``) stay in the op.
- a model checks one workload: ``validate-model-ops`` rejects a "set" history with a
  ``transfer`` in it ("set" and "bank" allow only ``add``/``read`` and ``transfer``/``read``),
  so a mixed history is split per workload (by ``f``, the reads by their value) first.
- bank reads are objects account -> balance (``histories/jepsen/bank.json``); set adds carry
  the element and the final read the list (``histories/jepsen/set_full.json``).
The real Elle needs the JVM and Clojars, so here we only keep the shape; our own checkers
(:mod:`harness.survive.sets`, ...) are what runs.

Everything streams: :func:`read_history` yields one :class:`Op` per line, :func:`pair_ops`
keeps only the open invoke of each process, so a million operations never sit in memory.
"""

from __future__ import annotations

import json
import json.scanner
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, NamedTuple

from ..errors import ConfigError, HarnessError

OpType = Literal["invoke", "ok", "fail", "info"]
TYPES: frozenset[str] = frozenset(("invoke", "ok", "fail", "info"))
COMPLETIONS: frozenset[str] = frozenset(("ok", "fail", "info"))
# the operations that write: their ok completions are the acknowledged writes
WRITES: frozenset[str] = frozenset(("add", "transfer"))
HISTORY_FILE = "history.jsonl"
NS = 1_000_000_000


class Op(NamedTuple):
    """One line of the history (a tuple: a million of them stay small)."""

    index: int  # type: ignore[assignment]  # Jepsen's name; hides tuple.index, which nothing here calls
    process: int
    type: str
    f: str
    value: Any
    time: int
    node: str | None = None
    cloud: str | None = None

    def to_json(self) -> str:
        return json.dumps({"index": self.index, "type": self.type, "f": self.f, "value": self.value,
                           "process": self.process, "time": self.time, "node": self.node, "cloud": self.cloud},
                          separators=(",", ":"))


class Pair(NamedTuple):
    """An invoke and its completion: one logical operation.

    ``type`` is the outcome; ``end`` is None for an invoke never completed (the history ended:
    Jepsen counts it as ``info``, unknown). ``node``/``cloud`` are the completion's, else the
    invoke's; ``index`` is the completion's line (the invoke's when open).
    """

    index: int  # type: ignore[assignment]  # as in Op
    process: int
    f: str
    type: str
    value: Any
    result: Any
    start: int
    end: int | None
    node: str | None
    cloud: str | None

    @property
    def latency(self) -> int | None:
        return None if self.end is None else self.end - self.start


# ---- writing -------------------------------------------------------------------------------


class HistoryWriter:
    """Appends operations to a new history file from many client threads at once.

    Index and time are taken under one lock, so the file is in index and time order; each
    line goes out in one ``write()`` on an O_APPEND descriptor.

    >>> with HistoryWriter(run_path / "survive" / "history.jsonl") as history:  # doctest: +SKIP
    ...     op = history.invoke(3, "add", 17)
    ...     history.complete(op, "ok", node="lab2-1", cloud="lab2")
    """

    def __init__(self, path: Path, *, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # a new file: indexes start at 0, and two writers must never share one
            self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except FileExistsError as exc:
            raise HarnessError(f"{self.path}: a history is already there (one per run)") from exc
        self._clock = clock
        self._origin = clock()
        self._lock = threading.Lock()
        self._next = 0
        self._open: dict[int, Op] = {}

    def now(self) -> int:
        """Nanoseconds since the history started: the clock fault windows are recorded on."""
        return self._clock() - self._origin

    def invoke(self, process: int, f: str, value: Any = None, *, node: str | None = None,
               cloud: str | None = None) -> Op:
        """Record that ``process`` starts operation ``f``; returns the op to complete later."""
        with self._lock:
            if process in self._open:
                raise HarnessError(f"history: process {process} invokes {f!r} while its op "
                                   f"{self._open[process].index} is still open")
            op = self._write(process, "invoke", f, value, node, cloud)
            self._open[process] = op
            return op

    def complete(self, invoke: Op, outcome: OpType, value: Any = ..., *, node: str | None = None,
                 cloud: str | None = None) -> Op:
        """Record ``invoke``'s outcome; ``value`` defaults to the invoke's (reads pass what they read)."""
        if outcome not in COMPLETIONS:
            raise HarnessError(f"history: completion type must be ok, fail or info, not {outcome!r}")
        with self._lock:
            if self._open.get(invoke.process) is not invoke:
                raise HarnessError(f"history: op {invoke.index} of process {invoke.process} is not open")
            del self._open[invoke.process]
            return self._write(invoke.process, outcome, invoke.f, invoke.value if value is ... else value,
                               node if node is not None else invoke.node,
                               cloud if cloud is not None else invoke.cloud)

    def _write(self, process: int, kind: str, f: str, value: Any, node: str | None, cloud: str | None) -> Op:
        if self._fd is None:
            raise HarnessError(f"{self.path}: the history is closed")
        op = Op(self._next, process, kind, f, value, self.now(), node, cloud)
        try:
            data = (op.to_json() + "\n").encode()
        except (TypeError, ValueError) as exc:
            raise HarnessError(f"history: op {op.index} ({f}) has a value JSON cannot hold: {exc}") from exc
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError as exc:
            raise HarnessError(f"{self.path}: cannot write the history: {exc.strerror or exc}") from exc
        self._next += 1
        return op

    def open_ops(self) -> list[Op]:
        """Invokes not completed yet (a reader counts them as unknown outcomes)."""
        with self._lock:
            return sorted(self._open.values())

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# ---- reading -------------------------------------------------------------------------------


def read_history(path: Path) -> Iterator[Op]:
    """Stream the operations of a history file, each line checked.

    A bad line raises :class:`ConfigError` naming the file and the line: not JSON, not an
    object, a missing or ill-typed field, an ``index`` not above the previous one. Blank lines
    are skipped.
    """
    path = Path(path)
    decoder = json.JSONDecoder()
    # typeshed types the scanner's context as a scanner (its TODO: any object with the decoder's hooks)
    scan, decode = json.scanner.make_scanner(decoder), decoder.decode  # type: ignore[arg-type]
    last = -1
    try:
        f = open(path, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the history: {exc.strerror or exc}") from exc
    with f:
        try:
            for number, line in enumerate(f, start=1):
                try:
                    # the C scanner straight away: decode() costs a third more per line for
                    # the whitespace around the object, which the writer never puts there
                    raw, end = scan(line, 0)
                    if end < len(line) and not line[end:].isspace():
                        raise ValueError("extra data")
                except (StopIteration, ValueError):
                    if not line.strip():
                        continue
                    try:  # the slow path: leading blanks are fine, anything else gets json's message
                        raw = decode(line)
                    except ValueError as exc:
                        raise ConfigError(f"{path}:{number}: not a JSON object: {exc}") from None
                op = _op(raw)
                if isinstance(op, str):
                    raise ConfigError(f"{path}:{number}: {op}")
                if op.index <= last:
                    raise ConfigError(f"{path}:{number}: index {op.index} is not after the previous {last}")
                last = op.index
                yield op
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text: {exc}") from None


def _op(raw: Any) -> Op | str:
    """The op of one parsed line, or what is wrong with it (checks ordered by how often they run)."""
    if type(raw) is not dict:
        return f"not a JSON object but {type(raw).__name__}"
    kind, f, process, when, index = raw.get("type"), raw.get("f"), raw.get("process"), raw.get("time"), raw.get("index")
    if kind not in TYPES:
        return f"type must be one of invoke, ok, fail, info, not {kind!r}"
    if type(f) is not str or not f:
        return f"f must be a non-empty string, not {f!r}"
    if type(process) is not int:
        return f"process must be an integer, not {process!r}"
    if type(when) is not int or when < 0:
        return f"time must be non-negative integer nanoseconds, not {when!r}"
    if type(index) is not int or index < 0:
        return f"index must be a non-negative integer, not {index!r}"
    node, cloud = raw.get("node"), raw.get("cloud")
    if not (node is None or type(node) is str) or not (cloud is None or type(cloud) is str):
        return f"node and cloud must be strings or null, not {node!r}, {cloud!r}"
    return Op(index, process, kind, f, raw.get("value"), when, node, cloud)


def pair_ops(ops: Iterable[Op], source: str = "history") -> Iterator[Pair]:
    """Each invoke with its completion, in completion order; unfinished invokes last, as info.

    Raises :class:`ConfigError` (naming ``source`` and the op's index) for a completion without
    an open invoke of its process, one of another ``f``, or a second invoke while one is open.
    """
    pending: dict[int, Op] = {}
    for op in ops:
        if op.type == "invoke":
            if op.process in pending:
                raise ConfigError(f"{source}: op {op.index}: process {op.process} invokes {op.f!r} while its "
                                  f"op {pending[op.process].index} is still open")
            pending[op.process] = op
            continue
        inv = pending.pop(op.process, None)
        if inv is None:
            raise ConfigError(f"{source}: op {op.index}: {op.type} {op.f!r} of process {op.process}, "
                              "which has no open invoke")
        if inv.f != op.f:
            raise ConfigError(f"{source}: op {op.index}: {op.type} {op.f!r} completes op {inv.index}, "
                              f"an invoke of {inv.f!r}")
        yield Pair(op.index, op.process, op.f, op.type, inv.value, op.value, inv.time, op.time,
                   op.node if op.node is not None else inv.node, op.cloud if op.cloud is not None else inv.cloud)
    for inv in sorted(pending.values()):
        yield Pair(inv.index, inv.process, inv.f, "info", inv.value, None, inv.time, None, inv.node, inv.cloud)


def read_pairs(path: Path) -> Iterator[Pair]:
    """The file's operations, paired: :func:`read_history` then :func:`pair_ops`."""
    return pair_ops(read_history(path), source=str(path))
