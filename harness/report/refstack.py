"""RefStack-style results per cloud: ``reports/<run-id>/refstack/<cloud>.json``.

The document is exactly what RefStack's server takes on upload (``POST /v1/results/``)::

    {"cpid": "4f3c...", "duration_seconds": 412,
     "results": [{"name": "interop.hosts-patroni.identity", "uuid": "..."}, ...]}

As refstack-client does, only passed checks are listed. A check is a phase of the run that
passed on that cloud (``interop.<stack>.<phase>``) or a survive verdict of that cloud's turn
that passed (``interop.<stack>.survive.<check>``, or ``...survive.cluster.<check>`` for the
whole-cluster verdicts). The names carry no cloud and no run, and each ``uuid`` is a uuid5 of
the name in this project's own namespace, so the same check has the same uuid in every run
and on every cloud: results compare the way Tempest's idempotent ids let them.

The cpid is the one the identity phase recorded (``details.cpid`` of its phase-end, computed by
:func:`harness.clouds.refstack_cpid` as refstack-client does: the id of the catalog's
``identity`` service, else md5 of the auth URL's host). A cloud with no passed check, or
no cpid, gets no file; :func:`write_refstack` returns why, so the run can say so.

>>> written, missing = write_refstack(Path("reports/latest"))     # doctest: +SKIP
>>> missing
{'lab2': 'no passed check: identity failed: authentication refused (HTTP 401)'}
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..clouds import refstack_cpid
from ..configure.scrub import scrub
from ..record import read_events
from .files import write_atomic
from .model import RunSummary, summarize

REFSTACK_DIR = "refstack"
# Fixed for this project once and for all: changing it changes every check's uuid.
NAMESPACE = uuid.UUID("74230902-0c36-42ca-bb3b-c23b4e91640c")


def check_name(stack: str, phase: str, check: str | None = None, *, cluster: bool = False) -> str:
    """``interop.hosts-patroni.deploy``; a survive verdict: ``interop.hosts-patroni.survive.set``.

    >>> check_name("hosts-patroni", "survive", "set", cluster=True)
    'interop.hosts-patroni.survive.cluster.set'
    """
    parts = ["interop", stack, phase]
    if check is not None:
        parts += (["cluster"] if cluster else []) + [check]
    return ".".join(parts)


def check_uuid(name: str) -> str:
    """The check's uuid: the same for the same name, in every run, on every cloud."""
    return str(uuid.uuid5(NAMESPACE, name))


def cpid_of(summary: RunSummary, cloud: str) -> str | None:
    """The cpid the identity phase recorded for ``cloud`` (None: identity recorded none).

    Its phase-end's ``details.cpid`` first; else a ``note`` event ``{"note": "cpid", "cpid": ...}``
    of that cloud; else md5 of the host of the recorded ``auth_url``, refstack-client's fallback.
    """
    identity = summary.result(cloud, "identity")
    details = identity.details if identity is not None and identity.outcome == "passed" else {}
    if isinstance(details.get("cpid"), str) and details["cpid"]:
        return str(details["cpid"])
    for note in reversed(summary.notes):
        if note.get("cloud") == cloud and note.get("note") == "cpid" and isinstance(note.get("cpid"), str):
            return str(note["cpid"]) or None
    auth_url = details.get("auth_url")
    return refstack_cpid([], auth_url) if isinstance(auth_url, str) and auth_url else None


def passed_checks(summary: RunSummary, cloud: str) -> list[str]:
    """The names of ``cloud``'s passed checks, phases in pipeline order, then survive verdicts.

    A verdict recorded more than once (one per cloud-cut, say) passes only if each one did.
    """
    stack = str(summary.info.get("stack") or "unknown")
    names = [check_name(stack, phase) for phase in summary.planned_phases()
             if (r := summary.result(cloud, phase)) is not None and r.outcome == "passed"]
    verdicts: dict[str, bool] = {}
    for check in summary.checks:
        scope = check.get("scope")
        if check.get("cloud") != cloud or scope not in (cloud, "cluster") or not check.get("check"):
            continue  # another cloud's verdict is not this cloud's result
        name = check_name(stack, str(check.get("phase") or "survive"), str(check["check"]), cluster=scope == "cluster")
        verdicts[name] = verdicts.get(name, True) and check.get("outcome") == "passed"
    return names + [name for name, passed in verdicts.items() if passed]


@dataclass(frozen=True)
class CloudResults:
    """One cloud's RefStack document, or why it has none."""

    cloud: str
    document: dict[str, Any] | None
    reason: str = ""


def refstack_results(summary: RunSummary, cloud: str) -> CloudResults:
    """``cloud``'s upload document (see the module docstring), or the reason it has none."""
    names = passed_checks(summary, cloud)
    if not names:
        failed = summary.first_failure(cloud)
        why = f"{failed.phase} {failed.outcome}: {failed.error}" if failed is not None else "no phase recorded"
        # the run prints it and may note it: the same scrubbing as every other copy of free text
        return CloudResults(cloud, None, scrub(f"no passed check ({why})"))
    cpid = cpid_of(summary, cloud)
    if cpid is None:
        return CloudResults(cloud, None, "no cpid: the identity phase recorded none")
    ran = [r for (c, _), r in summary.results.items() if c == cloud and r.end is not None]
    duration = max(r.end or 0.0 for r in ran) - min(r.start for r in ran) if ran else 0.0
    return CloudResults(cloud, {
        "cpid": cpid,
        "duration_seconds": max(0, round(duration)),  # the schema wants an integer
        "results": [{"name": name, "uuid": check_uuid(name)} for name in names],
    })


def write_refstack(run_dir: Path, summary: RunSummary | None = None) -> tuple[list[Path], dict[str, str]]:
    """Write ``run_dir/refstack/<cloud>.json`` per cloud; returns (files written, {cloud: why not})."""
    run_dir = Path(run_dir)
    summary = summary if summary is not None else summarize(read_events(run_dir / "events.jsonl"))
    written: list[Path] = []
    missing: dict[str, str] = {}
    if summary.info.get("dry_run"):  # nothing was deployed or checked: no compliance to claim
        for cloud in summary.clouds:
            missing[cloud] = "a dry run: no RefStack results"
            (run_dir / REFSTACK_DIR / f"{cloud}.json").unlink(missing_ok=True)
        return written, missing
    for cloud in summary.clouds:
        if not cloud or "/" in cloud or cloud.startswith("."):
            missing[cloud] = "the cloud's name cannot be a file name"
            continue
        result = refstack_results(summary, cloud)
        path = run_dir / REFSTACK_DIR / f"{cloud}.json"
        if result.document is None:
            missing[cloud] = result.reason
            path.unlink(missing_ok=True)  # a file from an earlier rendering must not outlive its reason
            continue
        written.append(write_atomic(path, json.dumps(result.document, indent=1) + "\n"))
    return written, missing
