"""Availability on hand-written histories: write gaps, throughput ratio, recovery, per-second samples.

The shape of most of them: one client writing ten times a second (each write taking 10 ms),
a fault from 10 s to 15 s, writes failing from 10 s and succeeding again from 18 s.
"""

from __future__ import annotations

from typing import Any

from handwritten import S, history

from harness.survive.availability import (
    Sample,
    check_recovery,
    check_throughput,
    check_unavailability,
    fold,
    samples,
)
from harness.survive.faults import FaultWindow, Window

KILL = FaultWindow("lab2 process-kill lab2-1", "process-kill", "lab2", 10 * S, 15 * S)


def writes(start: float, end: float, every: float = 0.1, outcome: str = "ok", took: float = 0.01,
           process: int = 1) -> list[tuple[Any, ...]]:
    """One client's adds from ``start`` to ``end`` seconds, one every ``every`` seconds."""
    rows: list[tuple[Any, ...]] = []
    for i in range(round((end - start) / every)):
        t = round(start + i * every, 6)
        rows += [(process, "invoke", "add", f"{process}-{t}", t), (process, outcome, "add", f"{process}-{t}", t + took)]
    return rows


def failover() -> list[Any]:
    return history(*writes(0, 10), *writes(10, 18, every=1.0, outcome="fail", took=0.5), *writes(18, 30))


def test_the_longest_write_gap_over_the_whole_history() -> None:
    v = check_unavailability(failover(), [], max_unavailable_s=10)
    assert (v.check, v.outcome, v.value, v.unit, v.threshold) == ("unavailability", "passed", 8.1, "s", 10)
    assert v.details["longest_gap"] == {"from_s": 9.91, "to_s": 18.01}
    assert v.reason == "longest write gap 8.1 s (9.91 s to 18.01 s) over the whole history"


def test_the_gap_overlapping_a_fault_window_is_its_unavailability() -> None:
    v = check_unavailability(failover(), [KILL], max_unavailable_s=5)
    assert (v.outcome, v.value) == ("failed", 8.1)
    assert v.details["windows"] == [{"name": KILL.name, "cloud": "lab2", "gap_s": 8.1, "from_s": 9.91,
                                     "to_s": 18.01, "resumed": True}]
    assert v.reason == f"longest write gap 8.1 s (9.91 s to 18.01 s) during {KILL.name}"
    quiet = FaultWindow("lab1 process-kill lab1-2", "process-kill", "lab1", 22 * S, 25 * S)
    assert check_unavailability(failover(), [quiet], max_unavailable_s=5).value == 0.1  # a replica: no gap


def test_writes_that_never_come_back_after_the_heal_fail() -> None:
    ops = history(*writes(0, 10), *writes(10, 30, every=1.0, outcome="info", took=0.9))
    v = check_unavailability(ops, [KILL], max_unavailable_s=60)
    assert v.outcome == "failed" and v.details["windows"][0]["resumed"] is False
    assert v.value == 19.99  # from the last write (9.91 s) to the history's last moment (29.9 s)
    assert v.reason.startswith(f"no write succeeded after the heal of {KILL.name}; longest write gap 19.99 s")


def test_a_final_read_after_the_writers_stop_is_no_outage() -> None:
    ops = history(*writes(0, 10), (2, "invoke", "read", None, 12.0), (2, "ok", "read", [], 19.0))
    assert check_unavailability(ops, [], max_unavailable_s=1).value == 0.1


def test_no_successful_write_at_all_aborts() -> None:
    v = check_unavailability(history(*writes(0, 5, outcome="fail")), [KILL], max_unavailable_s=30)
    assert (v.outcome, v.value) == ("aborted", None)


def test_throughput_while_degraded_after_the_gap_against_the_baseline() -> None:
    """Measured from the end of the window's longest write gap (the outage is unavailability's)."""
    gap_then_half = history(*writes(0, 10), *writes(12, 15, every=0.2), *writes(15, 30))
    v = check_throughput(gap_then_half, [KILL], min_throughput_ratio=0.6)
    assert (v.check, v.outcome, v.unit) == ("throughput-ratio", "failed", "x baseline")
    assert v.details["baseline"] == {"from_s": 0.0, "to_s": 10.0, "writes_per_s": 10.0}
    (row,) = v.details["windows"]
    assert row["degraded_s"] == 2.99 and 0.45 <= row["ratio"] <= 0.55 and row["worst_second_ratio"] == 0.5
    assert v.reason.startswith(f"{v.value:.2f}x the baseline's 10.0 writes/s during {KILL.name}")
    assert check_throughput(gap_then_half, [KILL], min_throughput_ratio=0.4).outcome == "passed"


def test_a_window_unavailable_throughout_has_no_degraded_throughput_to_judge() -> None:
    v = check_throughput(failover(), [KILL], min_throughput_ratio=0.5)  # no write from 10 s to 18 s
    assert (v.outcome, v.value) == ("passed", None)
    assert v.details["windows"][0]["ratio"] is None and "nothing degraded" in v.details["windows"][0]["why"]
    assert v.reason.startswith("not measured")


def test_a_given_baseline_window_is_used() -> None:
    ops = history(*writes(0, 5, every=0.05), *writes(5, 10), *writes(10, 15, every=0.2))
    v = check_throughput(ops, [KILL], Window(5 * S, 10 * S), min_throughput_ratio=0.5)
    assert v.details["baseline"]["writes_per_s"] == 10.0 and v.value is not None and 0.45 <= v.value <= 0.55


def test_throughput_without_a_baseline_or_faults_aborts() -> None:
    late = FaultWindow("early", "process-kill", "lab1", 0, 2 * S)
    v = check_throughput(failover(), [late], min_throughput_ratio=0.5)  # baseline: 0 s to 0 s
    assert v.outcome == "aborted" and v.reason.startswith("no successful write in the baseline")
    v = check_throughput(failover(), [], min_throughput_ratio=0.5)
    assert (v.outcome, v.reason) == ("aborted", "no fault windows to measure")


def test_time_to_recover_from_the_heal_to_steady_throughput() -> None:
    v = check_recovery(failover(), [KILL], fraction=0.8, steady_s=3)
    assert (v.check, v.outcome, v.value, v.unit, v.threshold) == ("recovery-time", "passed", 3.0, "s", None)
    assert v.details["windows"] == [{"name": KILL.name, "cloud": "lab2", "recovery_s": 3, "watched_s": 5}]
    assert v.reason == (f"3 s from the heal of {KILL.name} to throughput back at 80% of the baseline's "
                        "10.0 writes/s held for 3 s (the slowest of 1 fault)")
    assert check_recovery(failover(), [KILL], max_recovery_s=2).outcome == "failed"


def test_throughput_that_never_recovers_fails_and_too_short_a_history_aborts() -> None:
    trickle = history(*writes(0, 10), *writes(18, 30, every=0.5))
    v = check_recovery(trickle, [KILL])
    assert v.outcome == "failed" and v.value is None
    assert v.reason.startswith("throughput never back at 80% of the baseline's 10.0 writes/s held for 3 s")
    short = history(*writes(0, 10), *writes(15, 16.5))
    v = check_recovery(short, [KILL])
    assert v.outcome == "aborted" and v.reason.startswith("too little history after the heal")


def test_recovery_is_watched_only_until_the_next_fault() -> None:
    nxt = FaultWindow("lab3 process-kill lab3-1", "process-kill", "lab3", 19 * S, 25 * S)
    v = check_recovery(failover(), [KILL, nxt])
    rows = {r["name"]: r for r in v.details["windows"]}
    assert rows[KILL.name] == {"name": KILL.name, "cloud": "lab2", "recovery_s": None, "watched_s": 4}
    assert v.outcome == "failed"  # 4 s watched, throughput back for only one of them
    # another cloud's fault stops the watch just the same
    assert fold(failover()).recovery([KILL], None, others=[KILL, nxt]).details["windows"][0]["watched_s"] == 4


def test_a_fault_shorter_than_a_second_is_left_to_the_unavailability_check() -> None:
    blink = FaultWindow("blink", "process-kill", "lab1", 12 * S, 12 * S)
    v = check_throughput(history(*writes(0, 30)), [blink], min_throughput_ratio=0.9)
    assert v.details["windows"][0]["ratio"] is None and v.outcome == "passed"


def test_samples_count_outcomes_and_latencies_per_second() -> None:
    ops = history(
        (1, "invoke", "add", 1, 0.0), (1, "ok", "add", 1, 0.1),
        (2, "invoke", "add", 2, 0.0), (2, "ok", "add", 2, 0.3),
        (3, "invoke", "read", None, 0.2), (3, "fail", "read", None, 0.7),
        (1, "invoke", "add", 3, 0.5), (1, "info", "add", 3, 3.5),  # a timeout: 3 s waited
        (4, "invoke", "add", 4, 3.9),  # never completed: in no sample
    )
    assert samples(ops) == [
        Sample(0, ok=2, fail=1, info=0, p50_s=0.3, p99_s=0.5, max_s=0.5),
        Sample(1, 0, 0, 0, None, None, None),
        Sample(2, 0, 0, 0, None, None, None),
        Sample(3, ok=0, fail=0, info=1, p50_s=3.0, p99_s=3.0, max_s=3.0),
    ]
