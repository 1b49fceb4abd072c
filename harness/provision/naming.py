"""Names and tags: how a run's resources are recognised, by the ledger and without it.

Every resource the harness creates is named ``interop-<run>-<cloud>-<what>`` and, where the
API has a description, described the same way, so a stateless sweep can find a crashed run's
leftovers by prefix alone (``interop cleanup --prefix interop-<run>``). Names use only
``[a-z0-9-]``: they are safe in Nova's regex name filter and in shell commands.

>>> names = Names.for_run("20261125T001500Z-ab12", "lab1")
>>> names.prefix
'interop-20261125t001500z-ab12-lab1-'
>>> names.of("server", 0)
'interop-20261125t001500z-ab12-lab1-server-0'
>>> names.run_prefix
'interop-20261125t001500z-ab12-'
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

ROOT = "interop-"
# Nova server tags and Neutron names have limits (60 / 255 chars); the slugs stay well inside.
MAX_RUN_SLUG = 32
MAX_CLOUD_SLUG = 24


def slug(text: str, limit: int) -> str:
    """``text`` lowercased with runs of other characters as one ``-``; hashed when too long.

    >>> slug("Lab_1 (EU)", 24)
    'lab-1-eu'
    """
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"
    if len(out) > limit:
        digest = hashlib.sha256(text.encode()).hexdigest()[:6]
        out = f"{out[:limit - 7].rstrip('-')}-{digest}"
    return out


def run_prefix(run_id: str) -> str:
    """The prefix of everything one run created, on every cloud."""
    return f"{ROOT}{slug(run_id, MAX_RUN_SLUG)}-"


def run_tag(run_id: str) -> str:
    """The tag put on servers (Nova tags: no ``/`` or ``,``, at most 60 characters)."""
    return f"interop-run:{slug(run_id, MAX_RUN_SLUG)}"


@dataclass(frozen=True)
class Names:
    """The names of one run's resources on one cloud."""

    run_id: str
    cloud: str

    @classmethod
    def for_run(cls, run_id: str, cloud: str) -> Names:
        return cls(run_id, cloud)

    @property
    def run_prefix(self) -> str:
        return run_prefix(self.run_id)

    @property
    def prefix(self) -> str:
        return f"{self.run_prefix}{slug(self.cloud, MAX_CLOUD_SLUG)}-"

    @property
    def tag(self) -> str:
        return run_tag(self.run_id)

    def of(self, kind: str, index: int | None = None) -> str:
        return f"{self.prefix}{kind}" + ("" if index is None else f"-{index}")

    def owns(self, name: str | None) -> bool:
        return bool(name) and str(name).startswith(self.prefix)


def check_sweep_prefix(prefix: str) -> str:
    """A prefix a sweep may delete by: only what the harness names, never a bare word.

    >>> check_sweep_prefix("interop-2026")
    'interop-2026'
    """
    from ..errors import ConfigError

    if not prefix.startswith(ROOT) or len(prefix) <= len(ROOT):
        raise ConfigError(
            f"--prefix {prefix!r}: a sweep deletes everything whose name starts with it, so it must start "
            f"with {ROOT!r} and name more than that (e.g. {run_prefix('20261125T001500Z-ab12')!r})"
        )
    return prefix
