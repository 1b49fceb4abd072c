"""Every checker over one history in one pass: what ``interop check`` and the survive phase run.

The history is streamed once; each operation pair goes to the folds of :mod:`.sets`,
:mod:`.bank`, :mod:`.availability` and :mod:`.split_brain`, which keep only what their
verdicts need. Verdicts are scoped: set and bank judge the whole cluster (cloud ``None``);
the availability checks and split brain judge each cloud over the faults aimed at it.
A check whose operations or fault windows are absent is skipped, with the reason.

>>> report = check_history(Path("reports/latest/survive/history.jsonl"), load_faults(...),  # doctest: +SKIP
...                        Thresholds(max_lost_writes=0, max_unavailable_s=30, min_throughput_ratio=0.5))
>>> [s.verdict.line() for s in report.verdicts]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .availability import DEFAULT_FRACTION, DEFAULT_STEADY_S, RECOVERY, THROUGHPUT, AvailabilityFold, Sample
from .bank import BankFold
from .faults import Faults, FaultWindow
from .history import Pair, read_pairs
from .sets import SetFold
from .split_brain import CHECK as SPLIT_BRAIN
from .split_brain import CutWritesFold
from .verdict import Verdict


@dataclass(frozen=True)
class Thresholds:
    """What the verdicts are held to; the first three come from the challenge's ``survival:``."""

    max_lost_writes: int
    max_unavailable_s: float
    min_throughput_ratio: float
    recover_fraction: float = DEFAULT_FRACTION
    steady_s: int = DEFAULT_STEADY_S
    max_recovery_s: float | None = None
    bank_total: int | None = None  # None: the first read's sum, as Jepsen does

    @classmethod
    def of(cls, survival: Any, **overrides: Any) -> Thresholds:
        """From a challenge's ``survival`` section (``harness.challenge.Survival``), plus overrides."""
        given = {k: getattr(survival, k) for k in ("max_lost_writes", "max_unavailable_s", "min_throughput_ratio")}
        return cls(**{**given, **{k: v for k, v in overrides.items() if v is not None}})


class Scoped(NamedTuple):
    """A verdict and the cloud it judges (None: the whole cluster)."""

    cloud: str | None
    verdict: Verdict


@dataclass
class Report:
    verdicts: list[Scoped] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (check, why)
    samples: list[Sample] = field(default_factory=list)
    operations: int = 0

    @property
    def passed(self) -> bool:
        return all(s.verdict.passed for s in self.verdicts)


def check_pairs(pairs: Iterable[Pair], faults: Faults, thresholds: Thresholds) -> Report:
    """Run every checker over the operation pairs in one pass."""
    sets, bank, avail = SetFold(), BankFold(total=thresholds.bank_total), AvailabilityFold()
    cut_writes = CutWritesFold(faults.cuts())
    feeds = (sets.feed, bank.feed, avail.feed, cut_writes.feed)
    report = Report()
    for pair in pairs:
        report.operations += 1
        for feed in feeds:
            feed(pair)
    out = report.verdicts
    if sets.active:
        out.append(Scoped(None, sets.verdict(max_lost=thresholds.max_lost_writes)))
    else:
        report.skipped.append(("set", "no set operation (add) in the history"))
    if bank.active:
        out.append(Scoped(None, bank.verdict()))
    else:
        report.skipped.append(("bank", "no bank operation (transfer, read of accounts) in the history"))
    if not faults.faults:
        out.append(Scoped(None, avail.unavailability([], max_unavailable_s=thresholds.max_unavailable_s)))
        for check in (THROUGHPUT, RECOVERY, SPLIT_BRAIN):
            report.skipped.append((check, "no fault windows (no faults.json)"))
    # one baseline for every cloud: before the run's first fault, whichever cloud it hit
    baseline = faults.baseline or avail.default_baseline(faults.faults)
    for cloud, windows in _by_cloud(faults.faults):
        out.append(Scoped(cloud, avail.unavailability(windows, max_unavailable_s=thresholds.max_unavailable_s)))
        out.append(Scoped(cloud, avail.throughput(windows, baseline,
                                                  min_throughput_ratio=thresholds.min_throughput_ratio)))
        out.append(Scoped(cloud, avail.recovery(windows, baseline, fraction=thresholds.recover_fraction,
                                                steady_s=thresholds.steady_s,
                                                max_recovery_s=thresholds.max_recovery_s, others=faults.faults)))
    starts = sorted(w.start for w in faults.faults)
    for cut in faults.cuts():
        later = [s for s in starts if s > cut.healed]  # observations up to the next fault judge this heal
        out.append(Scoped(cut.cloud, cut_writes.verdict(cut, faults.observations, later[0] if later else None)))
    if faults.faults and not faults.cuts():
        report.skipped.append((SPLIT_BRAIN, "no cloud-cut fault"))
    report.samples = avail.samples()
    return report


def _by_cloud(windows: Iterable[FaultWindow]) -> list[tuple[str | None, list[FaultWindow]]]:
    groups: dict[str | None, list[FaultWindow]] = {}
    for w in windows:
        groups.setdefault(w.cloud, []).append(w)
    return sorted(groups.items(), key=lambda item: (item[0] is not None, item[0] or ""))


def check_history(path: Path, faults: Faults | None, thresholds: Thresholds) -> Report:
    """:func:`check_pairs` over a history file, streamed (:class:`ConfigError` for a bad line)."""
    return check_pairs(read_pairs(path), faults or Faults(), thresholds)
