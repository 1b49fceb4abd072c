"""Every machine-readable report of a run in one call, at run end and from ``interop report RUN``.

>>> done = export_all(Path("reports/20261118T000000Z-abcd"))     # doctest: +SKIP
>>> [p.name for p in done.paths], done.messages                  # doctest: +SKIP
(['junit-record.xml', 'lab1.json', 'history.jsonl', 'history.html'],
 ['refstack: no file for lab2: no passed check (identity failed: authentication refused (HTTP 401))'])

The record is folded once (:func:`harness.report.model.summarize`) and each exporter reads
named fields of that fold only, so nothing a phase put into its details, and no note's field,
reaches these files unless an exporter names it; free text (error, reason) is scrubbed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..record import read_events
from .junit import write_junit
from .model import summarize
from .refstack import write_refstack
from .trends import HISTORY_FILE, Comparison, Noise, append_history, compare, history_entry, load_history, run_entry
from .trends_html import DEFAULT_LAST, render_history


@dataclass
class Exported:
    """What :func:`export_all` wrote, and what the run should tell its user."""

    paths: list[Path] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def export_all(run_dir: Path, *, reports_dir: Path | None = None, history_last: int = DEFAULT_LAST) -> Exported:
    """JUnit, RefStack JSON per cloud, the run's history line and ``history.html``.

    ``reports_dir`` (where ``history.jsonl`` lives) defaults to the run directory's parent. A run
    without ``run-end`` (crashed, or still running) adds no history line: its figures are not
    final, and a line per re-render would make trends of half-runs.
    """
    run_dir = Path(run_dir)
    reports_dir = Path(reports_dir) if reports_dir is not None else run_dir.parent
    summary = summarize(read_events(run_dir / "events.jsonl"))
    done = Exported()
    done.paths.append(write_junit(run_dir, summary))
    written, missing = write_refstack(run_dir, summary)
    done.paths += written
    done.messages += [f"refstack: no file for {cloud}: {why}" for cloud, why in missing.items()]
    if summary.ended is None:
        done.messages.append("history: the run has not ended, so it gets no line in the history yet")
    else:
        history = reports_dir / HISTORY_FILE
        append_history(history, history_entry(summary, run_dir.name))
        done.paths.append(history)
    done.paths.append(render_history(reports_dir, last=history_last))
    return done


def entry_for(reports_dir: Path, run: str) -> dict[str, object]:
    """A run's history line: from ``history.jsonl``, else folded from its run directory's record."""
    found = run_entry(load_history(Path(reports_dir) / HISTORY_FILE), Path(run).name)
    if found is not None:
        return found
    path = Path(run) if Path(run).is_dir() else Path(reports_dir) / run
    events = read_events(path / "events.jsonl")
    if not events:
        raise ConfigError(f"no run {run!r}: not in {Path(reports_dir) / HISTORY_FILE} and no record at {path}")
    return history_entry(summarize(events), path.name)


def compare_runs(reports_dir: Path, run_a: str, run_b: str, noise: Noise | None = None) -> Comparison:
    """``interop report --compare RUN_A RUN_B``: run B's phases against run A's."""
    return compare(entry_for(reports_dir, run_a), entry_for(reports_dir, run_b), noise)
