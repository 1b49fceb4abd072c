"""The data plane's ledger: every kernel object it creates, recorded before it is created.

One JSON file (``<state_dir>/dataplane.json``) guarded by an ``flock`` on
``<state_dir>/dataplane.lock``. flock locks belong to the open file, so the lock excludes other
threads of the same process as well as other processes (nova-compute, the lab agent, the CLI).
Writes are atomic (temporary file + rename). Sections:

    vms       name -> {"spec": VmSpec as dict, "netns", "dir", "pid", "pid_start"}
    routers   router id -> {"spec": RouterSpec as dict, "netns"}
    bridges   name -> "tenant" | "external"
    links     root-namespace veth end -> what it belongs to
    routes    root-namespace routes we added ("unreachable 10.0.0.0/24", "10.0.0.0/24 via ...")
    external  the external network this data plane serves (bridge, cidr, gateway)
    cuts      cloud -> {"routers": [...], "until": epoch seconds}

Teardown works from this file alone, so a crashed process leaves nothing it cannot undo.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SECTIONS = ("vms", "routers", "bridges", "links", "routes", "external", "cuts")
LEDGER_FILE = "dataplane.json"
LOCK_FILE = "dataplane.lock"


class Ledger:
    """Read-modify-write transactions on the ledger of one state directory."""

    def __init__(self, state_dir: Path | str) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.path = self.state_dir / LEDGER_FILE
        self.lock_path = self.state_dir / LOCK_FILE

    @contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        """Exclusive access; the (mutable) data is saved when the block ends without error."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._load()
            yield data
            self._save(data)

    def read(self) -> dict[str, Any]:
        """A snapshot (no lock held afterwards)."""
        if not self.state_dir.exists():
            return self._empty()
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_SH)
            return self._load()

    def remove(self) -> None:
        for path in (self.path, self.lock_path):
            path.unlink(missing_ok=True)

    @staticmethod
    def _empty() -> dict[str, Any]:
        return {section: {} for section in SECTIONS}

    def _load(self) -> dict[str, Any]:
        data = self._empty()
        if self.path.exists():
            data.update(json.loads(self.path.read_text() or "{}"))
        return data

    def _save(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)
