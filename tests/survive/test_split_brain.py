"""Split brain after a cloud cut heals: one leader, one timeline, no write acknowledged while cut off."""

from __future__ import annotations

from handwritten import S, history

from harness.survive.faults import FaultWindow, Observation
from harness.survive.split_brain import check_split_brain

CUT = FaultWindow("lab3 cut", "cloud-cut", "lab3", 10 * S, 20 * S)


def _seen(at: float, *members: tuple[str, str, int | None]) -> list[Observation]:
    return [Observation(round(at * S), m, role, timeline) for m, role, timeline in members]


HEALTHY = _seen(25, ("lab1-1", "leader", 4), ("lab2-1", "replica", 4), ("lab3-1", "replica", 4))
WRITE_ROWS = (
    (1, "invoke", "add", 1, 9.0), (1, "ok", "add", 1, 9.1, "lab3-1", "lab3"),    # before the cut
    (1, "invoke", "add", 2, 12.0), (1, "ok", "add", 2, 12.1, "lab1-1", "lab1"),  # the majority side
    (2, "invoke", "add", 3, 13.0), (2, "fail", "add", 3, 14.0, "lab3-1", "lab3"),  # refused by the cut side
    (1, "invoke", "add", 4, 21.0), (1, "ok", "add", 4, 21.1, "lab3-1", "lab3"),  # after the heal
)
WRITES = history(*WRITE_ROWS)


def test_one_leader_one_timeline_and_no_cut_side_write_passes() -> None:
    v = check_split_brain(WRITES, HEALTHY, CUT)
    assert (v.check, v.outcome, v.value, v.unit, v.threshold) == ("split-brain", "passed", 0, "violations", 0)
    assert v.details["leaders"] == ["lab1-1"] and v.details["timelines"] == [4]
    assert v.reason == ("lab3 cut: one leader (lab1-1), one timeline (4) after the heal; "
                        "no write acknowledged by lab3 during the cut")


def test_a_write_acknowledged_by_the_cut_side_during_the_cut_fails_by_name() -> None:
    ops = history(*WRITE_ROWS, (3, "invoke", "add", 99, 15.0), (3, "ok", "add", 99, 15.2, "lab3-1", "lab3"))
    v = check_split_brain(ops, HEALTHY, CUT)
    assert (v.outcome, v.value) == ("failed", 1)
    assert v.details["cut_side_writes"] == {"count": 1, "first": [
        {"index": 9, "f": "add", "value": 99, "node": "lab3-1", "start_s": 15.0, "end_s": 15.2}]}
    assert v.reason == "lab3 cut: 1 write acknowledged by lab3 while cut off (first: op 9 on lab3-1)"


def test_a_write_invoked_before_the_cut_is_not_counted() -> None:
    ops = history((1, "invoke", "add", 5, 9.9), (1, "ok", "add", 5, 10.2, "lab3-1", "lab3"))
    assert check_split_brain(ops, HEALTHY, CUT).outcome == "passed"


def test_two_leaders_after_the_heal_fail() -> None:
    seen = _seen(25, ("lab1-1", "leader", 4), ("lab2-1", "replica", 4), ("lab3-1", "leader", 3))
    v = check_split_brain(WRITES, seen, CUT)
    assert (v.outcome, v.value) == ("failed", 3)  # two leaders at once, two leaders at the end, two timelines
    assert v.details["leaders"] == ["lab1-1", "lab3-1"] and v.details["timelines"] == [3, 4]
    assert v.reason == ("lab3 cut: two leaders at 25 s: lab1-1, lab3-1; 2 leaders after the heal: lab1-1, lab3-1; "
                        "2 timelines after the heal: [3, 4]")


def test_the_latest_observation_of_each_member_counts() -> None:
    seen = (_seen(21, ("lab1-1", "leader", 4), ("lab3-1", "replica", 3))  # lab3-1 not rewound yet
            + _seen(30, ("lab1-1", "leader", 4), ("lab3-1", "replica", 4)))
    assert check_split_brain(WRITES, seen, CUT).outcome == "passed"
    stuck = _seen(30, ("lab1-1", "leader", 4), ("lab3-1", "replica", 3))
    v = check_split_brain(WRITES, stuck, CUT)
    assert v.outcome == "failed" and v.reason == "lab3 cut: 2 timelines after the heal: [3, 4]"


def test_no_leader_after_the_heal_fails_and_members_without_timeline_are_left_out() -> None:
    seen = _seen(25, ("lab1-1", "replica", 4), ("lab3-1", "stopped", None))
    v = check_split_brain(WRITES, seen, CUT)
    assert v.outcome == "failed" and v.reason == "lab3 cut: 0 leaders after the heal"


def test_observations_before_the_heal_do_not_count_and_none_after_aborts() -> None:
    v = check_split_brain(WRITES, _seen(15, ("lab1-1", "leader", 4)), CUT)
    assert (v.outcome, v.value) == ("aborted", None)
    assert v.reason == ("lab3 cut: no observation of the cluster after the heal "
                        "(no write acknowledged by lab3 during the cut)")


LEADERLESS = _seen(25, ("n1", "live", None), ("n2", "live", None), ("n3", "live", None))


def test_a_cluster_without_a_single_leader_is_judged_on_cut_side_writes_alone() -> None:
    v = check_split_brain(WRITES, LEADERLESS, CUT)
    assert (v.outcome, v.value) == ("passed", 0), v.reason
    assert v.details["leaderless"] is True and v.details["leaders"] == []
    assert "no single leader or timeline" in v.reason and "members: live" in v.reason
    ops = history(*WRITE_ROWS, (3, "invoke", "add", 99, 15.0), (3, "ok", "add", 99, 15.2, "lab3-1", "lab3"))
    bad = check_split_brain(ops, LEADERLESS, CUT)
    assert (bad.outcome, bad.value) == ("failed", 1), bad.reason


def test_no_leader_among_members_that_do_report_timelines_still_fails() -> None:
    headless = _seen(25, ("lab1-1", "replica", 4), ("lab2-1", "replica", 4))
    v = check_split_brain(WRITES, headless, CUT)
    assert v.outcome == "failed" and "0 leaders after the heal" in v.reason
