"""The set checker on hand-written histories: lost, unexpected, recovered, duplicates, unknown outcomes."""

from __future__ import annotations

from handwritten import history

from harness.survive.sets import check_set
from harness.survive.verdict import CAP


def test_every_acknowledged_add_in_the_final_read_passes() -> None:
    v = check_set(history(
        (1, "invoke", "add", 1, 0.1), (1, "ok", "add", 1, 0.2),
        (2, "invoke", "add", 2, 0.1), (2, "ok", "add", 2, 0.3),
        (1, "invoke", "read", None, 1.0), (1, "ok", "read", [2, 1], 1.1),
    ))
    assert (v.check, v.outcome, v.value, v.unit, v.threshold) == ("set", "passed", 0, "writes", 0)
    assert v.details["acknowledged"] == 2 and v.details["final_read_index"] == 5
    assert v.reason == "all 2 acknowledged adds in the final read (op 5); 0 unknown outcomes, 0 of them present"


def test_unknown_outcomes_only_are_never_lost() -> None:
    v = check_set(history(
        (1, "invoke", "add", 1, 0.1), (1, "info", "add", 1, 5.1),
        (2, "invoke", "add", 2, 0.1), (2, "info", "add", 2, 5.1),
        (3, "invoke", "add", 3, 0.1), (3, "info", "add", 3, 5.1),
        (4, "invoke", "add", 4, 0.1),  # never completed: the history ended, also unknown
        (5, "invoke", "read", None, 9.0), (5, "ok", "read", [2], 9.1),
    ))
    assert v.outcome == "passed" and v.value == 0
    assert v.details["lost"] == {"count": 0, "first": []}
    assert v.details["unknown"] == 4 and v.details["unknown_absent"] == 3
    assert v.details["recovered"] == {"count": 1, "first": [2]}


def test_a_deleted_acknowledged_row_is_lost_by_name() -> None:
    v = check_set(history(
        (1, "invoke", "add", 11, 0.1), (1, "ok", "add", 11, 0.2),
        (1, "invoke", "add", 12, 0.3), (1, "ok", "add", 12, 0.4),
        (1, "invoke", "add", 13, 0.5), (1, "ok", "add", 13, 0.6),
        (1, "invoke", "read", None, 1.0), (1, "ok", "read", [11, 13], 1.1),
    ))
    assert (v.outcome, v.value) == ("failed", 1)
    assert v.details["lost"] == {"count": 1, "first": [12]}
    assert v.reason == "1 acknowledged add lost: 12"


def test_a_value_nobody_wrote_is_unexpected_by_name() -> None:
    v = check_set(history(
        (1, "invoke", "add", 1, 0.1), (1, "ok", "add", 1, 0.2),
        (1, "invoke", "read", None, 1.0), (1, "ok", "read", [1, 999], 1.1),
    ))
    assert (v.outcome, v.value) == ("failed", 0)  # nothing lost, but the read is wrong
    assert v.details["unexpected"] == {"count": 1, "first": [999]}
    assert v.details["never_attempted"] == {"count": 1, "first": [999]}
    assert v.reason == "1 value read that nobody wrote: 999"


def test_a_failed_add_that_is_present_is_unexpected_and_one_absent_is_fine() -> None:
    v = check_set(history(
        (1, "invoke", "add", 1, 0.1), (1, "fail", "add", 1, 0.2),
        (2, "invoke", "add", 2, 0.1), (2, "fail", "add", 2, 0.2),
        (1, "invoke", "read", None, 1.0), (1, "ok", "read", [1], 1.1),
    ))
    assert v.outcome == "failed"
    assert v.details["failed_but_present"] == {"count": 1, "first": [1]}
    assert v.details["unexpected"] == {"count": 1, "first": [1]}
    assert v.reason == "1 value read whose add failed: 1"


def test_a_value_read_twice_is_a_duplicate() -> None:
    v = check_set(history(
        (1, "invoke", "add", 5, 0.1), (1, "ok", "add", 5, 0.2),
        (1, "invoke", "read", None, 1.0), (1, "ok", "read", [5, 5], 1.1),
    ))
    assert v.outcome == "failed" and v.details["duplicates"] == {"count": 1, "first": [5]}
    assert v.details["lost"]["count"] == 0


def test_no_final_read_aborts() -> None:
    v = check_set(history(
        (1, "invoke", "add", 1, 0.1), (1, "ok", "add", 1, 0.2),
        (1, "invoke", "read", None, 1.0), (1, "info", "read", None, 6.0),  # the read timed out
    ))
    assert (v.outcome, v.value) == ("aborted", None)
    assert v.reason == "no final read completed: cannot tell lost from present (1 adds attempted)"


def test_the_last_ok_read_is_the_final_one() -> None:
    v = check_set(history(
        (1, "invoke", "read", None, 0.0), (1, "ok", "read", [], 0.1),
        (1, "invoke", "add", 1, 0.2), (1, "ok", "add", 1, 0.3),
        (1, "invoke", "read", None, 1.0), (1, "ok", "read", [1], 1.1),
    ))
    assert v.outcome == "passed" and v.details["final_read_index"] == 5


def test_an_add_acknowledged_after_the_final_read_began_is_not_judged() -> None:
    v = check_set(history(
        (2, "invoke", "add", 1, 0.9),
        (1, "invoke", "read", None, 1.0),
        (2, "ok", "add", 1, 1.05),
        (1, "ok", "read", [], 1.1),
    ))
    assert v.outcome == "passed" and v.details["acknowledged_during_read"] == 1


def test_lost_writes_within_the_threshold_pass() -> None:
    v = check_set(history(
        (1, "invoke", "add", 1, 0.1), (1, "ok", "add", 1, 0.2),
        (1, "invoke", "read", None, 1.0), (1, "ok", "read", [], 1.1),
    ), max_lost=1)
    assert (v.outcome, v.value, v.threshold) == ("passed", 1, 1)


def test_jepsen_style_list_elements_and_capped_evidence() -> None:
    rows = []
    for i in range(30):
        rows += [(1, "invoke", "add", [0, i], i * 0.1), (1, "ok", "add", [0, i], i * 0.1 + 0.05)]
    rows += [(1, "invoke", "read", None, 10.0), (1, "ok", "read", [[0, 0]], 10.1)]
    v = check_set(history(*rows))
    assert v.value == 29
    assert v.details["lost"]["count"] == 29 and len(v.details["lost"]["first"]) == CAP
    assert v.details["lost"]["first"][0] == (0, 1)
    assert v.reason.startswith("29 acknowledged adds lost: (0, 1), (0, 2), (0, 3), (0, 4), (0, 5), ...")
