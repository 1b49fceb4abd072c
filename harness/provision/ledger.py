"""The resource ledger: ``reports/<run-id>/resources.json``, what a run created, per cloud.

Written as soon as a resource's id is known, before the create call returns to its caller,
and even before the call is made (an entry without an id, ``state: "requested"``): a run
killed between the API's answer and the ledger write still leaves the name behind, and
cleanup finds that by name. Several pytest-xdist workers write the same file, so every change
is a read-modify-replace under an exclusive ``flock`` on ``resources.json.lock``; the
replace is atomic, so a reader (or a run killed mid-write) never sees half a file.

>>> ledger = Ledger(run_path)                                         # doctest: +SKIP
>>> ledger.intend("lab1", "server", "interop-...-lab1-server-0")        # doctest: +SKIP
>>> ledger.created("lab1", "server", "interop-...-lab1-server-0", "5f3c...")  # doctest: +SKIP
>>> [e.id for e in ledger.entries("lab1", live=True)]                 # doctest: +SKIP
['5f3c...']

An entry: ``{"cloud", "kind", "name", "id", "state", "owned", "extra", "ts"}``; ``state`` is
``requested`` -> ``created`` -> ``deleted``; ``owned: false`` marks what the harness uses
but must never delete (a preallocated floating IP: teardown only disassociates it).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HarnessError

LEDGER_FILE = "resources.json"
VERSION = 1

# Teardown deletes in this order: what holds a reference goes before what it references.
KINDS = ("floating-ip", "server", "port", "router-interface", "router", "subnet", "network",
         "security-group", "keypair")


@dataclass
class Entry:
    cloud: str
    kind: str
    name: str
    id: str | None = None
    state: str = "requested"  # requested | created | deleted
    owned: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    ts: float = 0.0

    @property
    def live(self) -> bool:
        return self.state != "deleted"


class Ledger:
    """``<run>/resources.json``; every method is safe across threads and processes."""

    _thread_lock = threading.Lock()  # flock does not exclude threads sharing one descriptor

    def __init__(self, run_path: Path | str) -> None:
        self.run_path = Path(run_path)
        self.path = self.run_path / LEDGER_FILE
        self.lock_path = self.run_path / (LEDGER_FILE + ".lock")

    def __repr__(self) -> str:
        return f"Ledger({str(self.path)!r})"

    # ---- writing -------------------------------------------------------------------------

    def intend(self, cloud: str, kind: str, name: str, *, owned: bool = True, **extra: Any) -> None:
        """Record that ``name`` is about to be created (call before the create request)."""
        self._upsert(cloud, kind, name, state="requested", owned=owned, extra=extra)

    def created(self, cloud: str, kind: str, name: str, resource_id: str, *, owned: bool = True,
                **extra: Any) -> None:
        """Record the id of ``name`` (call as soon as the API answered with it)."""
        self._upsert(cloud, kind, name, resource_id=resource_id, state="created", owned=owned, extra=extra)

    def deleted(self, cloud: str, kind: str, name: str) -> None:
        """Mark ``name`` gone (deleted, or verified absent)."""
        self._upsert(cloud, kind, name, state="deleted")

    def _upsert(self, cloud: str, kind: str, name: str, *, state: str, resource_id: str | None = None,
                owned: bool | None = None, extra: dict[str, Any] | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown resource kind {kind!r} (known: {', '.join(KINDS)})")
        with self._locked() as doc:
            entries: list[dict[str, Any]] = doc["resources"]
            for item in entries:
                if (item["cloud"], item["kind"], item["name"]) == (cloud, kind, name):
                    break
            else:
                item = asdict(Entry(cloud=cloud, kind=kind, name=name))
                entries.append(item)
            item["state"] = state
            item["ts"] = time.time()
            if resource_id is not None:
                item["id"] = resource_id
            if owned is not None:
                item["owned"] = owned
            if extra:
                item["extra"] = {**item.get("extra", {}), **extra}

    @contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.run_path.mkdir(parents=True, exist_ok=True)
        with self._thread_lock:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                doc = self._read()
                yield doc
                self._write(doc)
            finally:
                os.close(fd)  # closing drops the flock

    def _write(self, doc: dict[str, Any]) -> None:
        tmp = self.path.with_name(f".{LEDGER_FILE}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            tmp.write_text(json.dumps(doc, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)

    # ---- reading -------------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {"version": VERSION, "run_id": self.run_path.name, "resources": []}
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise HarnessError(f"{self.path}: the resource ledger is not valid JSON: {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("resources"), list):
            raise HarnessError(f"{self.path}: not a resource ledger (no 'resources' list)")
        return doc

    def exists(self) -> bool:
        return self.path.is_file()

    def entries(self, cloud: str | None = None, *, kind: str | None = None, live: bool | None = None) -> list[Entry]:
        """Entries in creation order, filtered by cloud, kind and liveness."""
        out = []
        for item in self._read()["resources"]:
            entry = Entry(**{k: item.get(k) for k in Entry.__dataclass_fields__ if k in item})
            if cloud is not None and entry.cloud != cloud:
                continue
            if kind is not None and entry.kind != kind:
                continue
            if live is not None and entry.live != live:
                continue
            out.append(entry)
        return out

    def clouds(self) -> list[str]:
        return sorted({e.cloud for e in self.entries()})

    def has_live(self, cloud: str) -> bool:
        return bool(self.entries(cloud, live=True))
