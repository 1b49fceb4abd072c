"""Availability figures from a history: write gaps, throughput ratio, time to recover, samples.

Built on the successful writes (ok ``add``/``transfer``, at their completion time) and the
fault windows of :mod:`harness.survive.faults`, in the manner of roachtest:

- unavailability: the longest gap between successful writes, over the whole history and
  overlapping each fault window (the first and last write attempts bound the first and last
  gap, so writes that never resume count to the end, a final read after them does not);
- throughput ratio: ok writes per second during each fault window over the baseline's rate
  (windows shorter than a second are measured over their first second), with the worst
  single second beside it;
- time to recover: from a heal until ``steady_s`` consecutive seconds each reach ``fraction``
  of the baseline rate (1 s resolution);
- per-second samples: completions ok/fail/info and the p50/p99/max latency of every
  completed operation (info ones included: their latency is what a client waited).

>>> from harness.survive.history import Op
>>> ops = [Op(0, 1, "invoke", "add", 1, 0), Op(1, 1, "ok", "add", 1, 10**9),
...        Op(2, 1, "invoke", "add", 2, 10**9), Op(3, 1, "ok", "add", 2, 5 * 10**9)]
>>> check_unavailability(ops, [], max_unavailable_s=3).reason
'longest write gap 4 s (1 s to 5 s) over the whole history'
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from .faults import FaultWindow, Window
from .history import NS, WRITES, Op, Pair, pair_ops
from .verdict import CAP, Verdict, VerdictOutcome, plural

UNAVAILABILITY, THROUGHPUT, RECOVERY = "unavailability", "throughput-ratio", "recovery-time"
DEFAULT_FRACTION, DEFAULT_STEADY_S = 0.8, 3


class Sample(NamedTuple):
    """One second of the history, ``[second, second + 1)`` after its start, by completion time."""

    second: int
    ok: int
    fail: int
    info: int
    p50_s: float | None
    p99_s: float | None
    max_s: float | None


class AvailabilityFold:
    """Fed every operation once; keeps the ok writes' times and per-second latencies (8 bytes each)."""

    def __init__(self) -> None:
        self._writes = array("q")
        self._counts: dict[int, list[int]] = {}  # second -> [ok, fail, info]
        self._latencies: dict[int, array[int]] = {}
        self.first: int | None = None  # the first and last moments a client tried to write
        self.last: int | None = None
        self.unfinished = 0
        self._sorted: list[int] | None = None

    def feed(self, pair: Pair) -> None:
        start, end = pair.start, pair.end
        if pair.f in WRITES:
            # gaps are bounded by write attempts: the final read after the writers stop is no outage
            if self.first is None or start < self.first:
                self.first = start
            moment = start if end is None else end
            if self.last is None or moment > self.last:
                self.last = moment
        if end is None:
            self.unfinished += 1
            return
        second = end // NS
        counts = self._counts.get(second)
        if counts is None:
            counts = self._counts[second] = [0, 0, 0]
            self._latencies[second] = array("q")
        counts[0 if pair.type == "ok" else 1 if pair.type == "fail" else 2] += 1
        self._latencies[second].append(end - start)
        if pair.type == "ok" and pair.f in WRITES:
            self._writes.append(end)
            self._sorted = None

    def writes(self) -> list[int]:
        """Completion times of the ok writes, sorted (clients finish out of order)."""
        if self._sorted is None:
            self._sorted = sorted(self._writes)
        return self._sorted

    # ---- unavailability --------------------------------------------------------------------

    def unavailability(self, faults: Sequence[FaultWindow], *, max_unavailable_s: float) -> Verdict:
        writes = self.writes()
        if self.first is None or self.last is None or not writes:
            return Verdict(UNAVAILABILITY, "aborted", None, "s", max_unavailable_s, {"writes_ok": len(writes)},
                           "no write succeeded in the whole history: nothing to measure gaps between")
        points = [self.first, *writes, self.last]
        overall = _longest(points, 1, len(points) - 1)
        details: dict[str, Any] = {"writes_ok": len(writes), "longest_gap_s": _s(overall[1] - overall[0]),
                                   "longest_gap": {"from_s": _s(overall[0]), "to_s": _s(overall[1])}}
        if not faults:
            span = overall[1] - overall[0]
            outcome: VerdictOutcome = "failed" if span / NS > max_unavailable_s else "passed"
            return Verdict(UNAVAILABILITY, outcome, _s(span), "s", max_unavailable_s, details,
                           f"longest write gap {_s(span):g} s ({_s(overall[0]):g} s to {_s(overall[1]):g} s) "
                           "over the whole history")
        rows: list[dict[str, Any]] = []
        worst: tuple[int, int] = (0, 0)
        worst_name = ""
        for w in faults:
            lo = min(max(1, bisect_right(points, w.start)), len(points) - 1)
            hi = min(len(points) - 1, bisect_left(points, w.healed))
            gap = _longest(points, lo, max(lo, hi))
            resumed = bisect_right(writes, w.healed) < len(writes)
            rows.append({"name": w.name, "cloud": w.cloud, "gap_s": _s(gap[1] - gap[0]),
                         "from_s": _s(gap[0]), "to_s": _s(gap[1]), "resumed": resumed})
            if not worst_name or gap[1] - gap[0] > worst[1] - worst[0]:
                worst, worst_name = gap, w.name
        details["windows"] = rows[:CAP]
        value = _s(worst[1] - worst[0])
        reason = f"longest write gap {value:g} s ({_s(worst[0]):g} s to {_s(worst[1]):g} s) during {worst_name}"
        not_resumed = [r["name"] for r in rows if not r["resumed"]]
        if not_resumed:
            reason = f"no write succeeded after the heal of {', '.join(not_resumed)}; " + reason
        outcome = "failed" if not_resumed or value > max_unavailable_s else "passed"
        return Verdict(UNAVAILABILITY, outcome, value, "s", max_unavailable_s, details, reason)

    # ---- throughput ------------------------------------------------------------------------

    def default_baseline(self, faults: Sequence[FaultWindow]) -> Window | None:
        """From the first write attempt to the first fault (pass every fault of the run, not one cloud's)."""
        if self.first is None or not faults:
            return None
        return Window(self.first, min(w.start for w in faults))

    def baseline_rate(self, baseline: Window | None, faults: Sequence[FaultWindow]) -> tuple[Window | None, float]:
        """The baseline window (given, else :meth:`default_baseline` of ``faults``) and its ok writes per second."""
        baseline = baseline or self.default_baseline(faults)
        if baseline is None:
            return None, 0.0
        if baseline.end <= baseline.start:
            return baseline, 0.0
        return baseline, self._count(baseline.start, baseline.end) / baseline.seconds

    def _count(self, start: int, end: int) -> int:
        writes = self.writes()
        return bisect_left(writes, end) - bisect_left(writes, start)

    def throughput(self, faults: Sequence[FaultWindow], baseline: Window | None, *,
                   min_throughput_ratio: float) -> Verdict:
        window, rate = self.baseline_rate(baseline, faults)
        aborted = self._no_baseline(THROUGHPUT, faults, window, rate, min_throughput_ratio)
        if aborted is not None:
            return aborted
        assert window is not None
        rows: list[dict[str, Any]] = []
        for w in faults:
            # roachtest's "throughput with a node down": the degraded cluster after it took over,
            # from the end of the window's longest write gap (that gap is the unavailability check's)
            start = self._after_longest_gap(w)
            end = w.healed
            if end - start < NS:
                rows.append({"name": w.name, "cloud": w.cloud, "ratio": None, "degraded_s": _s(max(0, end - start)),
                             "why": "unavailable for (almost) the whole window: nothing degraded to measure"})
                continue
            ratio = self._count(start, end) / ((end - start) / NS) / rate
            seconds = [self._count(t, t + NS) / rate for t in range(start, end - NS + 1, NS)]
            rows.append({"name": w.name, "cloud": w.cloud, "ratio": round(ratio, 3), "degraded_s": _s(end - start),
                         "worst_second_ratio": round(min(seconds), 3)})
        measured = [r for r in rows if r["ratio"] is not None]
        details = {"baseline": {"from_s": _s(window.start), "to_s": _s(window.end), "writes_per_s": round(rate, 2)},
                   "windows": rows[:CAP]}
        if not measured:
            return Verdict(THROUGHPUT, "passed", None, "x baseline", min_throughput_ratio, details,
                           "not measured: the cluster took writes again only after every fault window ended "
                           "(the unavailability check judges those)")
        worst = min(measured, key=lambda r: r["ratio"])
        outcome: VerdictOutcome = "failed" if worst["ratio"] < min_throughput_ratio else "passed"
        return Verdict(THROUGHPUT, outcome, worst["ratio"], "x baseline", min_throughput_ratio, details,
                       f"{worst['ratio']:.2f}x the baseline's {rate:.1f} writes/s during {worst['name']} "
                       f"(worst second {worst['worst_second_ratio']:.2f}x)")

    def _after_longest_gap(self, w: FaultWindow) -> int:
        """The end of the longest write gap inside ``w`` (``w.start`` if writes never stopped)."""
        writes = self.writes()
        points = [w.start, *writes[bisect_left(writes, w.start):bisect_left(writes, w.healed)], w.healed]
        best = (w.start, w.start)
        for a, b in zip(points, points[1:], strict=False):
            if b - a > best[1] - best[0]:
                best = (a, b)
        return best[1]

    def _no_baseline(self, check: str, faults: Sequence[FaultWindow], window: Window | None, rate: float,
                     threshold: float | None) -> Verdict | None:
        if not faults:
            return Verdict(check, "aborted", None, "", threshold, {}, "no fault windows to measure")
        if window is None or rate <= 0:
            where = "" if window is None else f" ({_s(window.start):g} s to {_s(window.end):g} s)"
            return Verdict(check, "aborted", None, "", threshold, {},
                           f"no successful write in the baseline{where}: nothing to compare with")
        return None

    # ---- recovery --------------------------------------------------------------------------

    def recovery(self, faults: Sequence[FaultWindow], baseline: Window | None, *,
                 fraction: float = DEFAULT_FRACTION, steady_s: int = DEFAULT_STEADY_S,
                 max_recovery_s: float | None = None, others: Sequence[FaultWindow] = ()) -> Verdict:
        """``others``: the run's other faults (other clouds'): watching a heal stops at the next of any."""
        window, rate = self.baseline_rate(baseline, faults)
        aborted = self._no_baseline(RECOVERY, faults, window, rate, max_recovery_s)
        if aborted is not None:
            return aborted
        assert self.last is not None
        need = fraction * rate
        starts = sorted(w.start for w in (*faults, *others))
        rows: list[dict[str, Any]] = []
        unobserved: list[str] = []
        never: list[str] = []
        for w in faults:
            # watch until the next fault begins or the history ends, whichever comes first
            later = [s for s in starts if s > w.healed]
            until = min(later[0], self.last) if later else self.last
            found, run, k = None, 0, 0
            while w.healed + (k + 1) * NS <= until:  # bounded: one step per second of history
                t = w.healed + k * NS
                run = run + 1 if self._count(t, t + NS) >= need else 0
                if run == steady_s:
                    found = k - steady_s + 1
                    break
                k += 1
            if found is None:
                (unobserved if k < steady_s else never).append(w.name)
            rows.append({"name": w.name, "cloud": w.cloud, "recovery_s": found, "watched_s": k})
        details = {"fraction": fraction, "steady_s": steady_s, "baseline_writes_per_s": round(rate, 2),
                   "windows": rows[:CAP]}
        known = [r for r in rows if r["recovery_s"] is not None]
        worst = max(known, key=lambda r: r["recovery_s"]) if known else None
        value = None if worst is None else float(worst["recovery_s"])
        target = f"{fraction:.0%} of the baseline's {rate:.1f} writes/s held for {steady_s} s"
        if never:
            return Verdict(RECOVERY, "failed", value, "s", max_recovery_s, details,
                           f"throughput never back at {target} after the heal of {', '.join(never)}")
        if unobserved:
            return Verdict(RECOVERY, "aborted", value, "s", max_recovery_s, details,
                           f"too little history after the heal of {', '.join(unobserved)} to see {target}")
        assert worst is not None and value is not None
        outcome: VerdictOutcome = "failed" if max_recovery_s is not None and value > max_recovery_s else "passed"
        return Verdict(RECOVERY, outcome, value, "s", max_recovery_s, details,
                       f"{value:g} s from the heal of {worst['name']} to throughput back at {target} "
                       f"(the slowest of {plural(len(rows), 'fault')})")

    # ---- samples ---------------------------------------------------------------------------

    def samples(self) -> list[Sample]:
        """One sample per second from the first completion to the last, empty seconds included."""
        if not self._counts:
            return []
        out = []
        for second in range(min(self._counts), max(self._counts) + 1):  # bounded by the history's span
            counts = self._counts.get(second)
            if counts is None:
                out.append(Sample(second, 0, 0, 0, None, None, None))
                continue
            lat = sorted(self._latencies[second])
            out.append(Sample(second, counts[0], counts[1], counts[2], _pct(lat, 0.5), _pct(lat, 0.99), lat[-1] / NS))
        return out


def _longest(points: list[int], lo: int, hi: int) -> tuple[int, int]:
    """The widest ``(points[k-1], points[k])`` for k in ``[lo, hi]``."""
    best = (points[lo - 1], points[lo])
    for k in range(lo + 1, hi + 1):
        if points[k] - points[k - 1] > best[1] - best[0]:
            best = (points[k - 1], points[k])
    return best


def _pct(ordered: list[int], p: float) -> float:
    """Nearest-rank percentile of sorted nanoseconds, in seconds."""
    return ordered[max(1, math.ceil(len(ordered) * p)) - 1] / NS


def _s(ns: int) -> float:
    return round(ns / NS, 3)


def fold(ops: Iterable[Op]) -> AvailabilityFold:
    """An :class:`AvailabilityFold` fed with a history's operations."""
    result = AvailabilityFold()
    for pair in pair_ops(ops):
        result.feed(pair)
    return result


def check_unavailability(ops: Iterable[Op], faults: Sequence[FaultWindow], *, max_unavailable_s: float) -> Verdict:
    return fold(ops).unavailability(faults, max_unavailable_s=max_unavailable_s)


def check_throughput(ops: Iterable[Op], faults: Sequence[FaultWindow], baseline: Window | None = None, *,
                     min_throughput_ratio: float) -> Verdict:
    return fold(ops).throughput(faults, baseline, min_throughput_ratio=min_throughput_ratio)


def check_recovery(ops: Iterable[Op], faults: Sequence[FaultWindow], baseline: Window | None = None, *,
                   fraction: float = DEFAULT_FRACTION, steady_s: int = DEFAULT_STEADY_S,
                   max_recovery_s: float | None = None) -> Verdict:
    return fold(ops).recovery(faults, baseline, fraction=fraction, steady_s=steady_s, max_recovery_s=max_recovery_s)


def samples(ops: Iterable[Op]) -> list[Sample]:
    return fold(ops).samples()
