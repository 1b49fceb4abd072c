"""The bank checker on hand-written histories: totals, negative balances, accounts, by op and account."""

from __future__ import annotations

from handwritten import history

from harness.survive.bank import check_bank


def _transfer(process: int, at: float, outcome: str = "ok") -> tuple[tuple[object, ...], tuple[object, ...]]:
    value = {"from": "a", "to": "b", "amount": 10}
    return (process, "invoke", "transfer", value, at), (process, outcome, "transfer", value, at + 0.01)


def test_reads_that_all_sum_to_the_total_pass_with_expected_and_final_totals() -> None:
    v = check_bank(history(
        (1, "invoke", "read", None, 0.0), (1, "ok", "read", {"a": 50, "b": 50}, 0.1),
        *_transfer(2, 0.2),
        *_transfer(2, 0.3, "fail"),
        *_transfer(2, 0.4, "info"),
        (1, "invoke", "read", None, 1.0), (1, "ok", "read", {"a": 30, "b": 70}, 1.1),
    ), total=100)
    assert (v.check, v.outcome, v.value, v.unit, v.threshold) == ("bank", "passed", 0, "reads", 0)
    assert v.details["expected_total"] == 100 and v.details["final_total"] == 100
    assert v.details["final_read_index"] == 9 and v.details["transfers"] == {"ok": 1, "fail": 1, "info": 1}
    assert v.reason == "all 2 reads sum to 100, no negative balance; final total 100 (op 9)"


def test_a_negative_balance_is_named_by_read_and_account() -> None:
    v = check_bank(history(
        (1, "invoke", "read", None, 0.0), (1, "ok", "read", {"a": 50, "b": 50}, 0.1),
        (1, "invoke", "read", None, 1.0), (1, "ok", "read", {"a": 110, "b": -10}, 1.1),
    ))
    assert (v.outcome, v.value) == ("failed", 1)
    assert v.details["negative"] == {"count": 1, "first": [{"index": 3, "account": "b", "balance": -10}]}
    assert v.details["wrong_total"]["count"] == 0
    assert v.reason == "1 of 2 reads wrong: op 3 has account 'b' at -10"


def test_a_read_with_the_wrong_total_is_named_and_the_final_total_reported() -> None:
    v = check_bank(history(
        (1, "invoke", "read", None, 0.0), (1, "ok", "read", {"a": 50, "b": 50}, 0.1),
        (2, "invoke", "read", None, 0.5), (2, "ok", "read", {"a": 40, "b": 50}, 0.6),
        (1, "invoke", "read", None, 1.0), (1, "ok", "read", {"a": 40, "b": 50}, 1.1),
    ), total=100)
    assert (v.outcome, v.value) == ("failed", 2)
    assert v.details["wrong_total"]["first"] == [{"index": 3, "total": 90}, {"index": 5, "total": 90}]
    assert v.details["expected_total"] == 100 and v.details["final_total"] == 90
    assert v.reason == "2 of 3 reads wrong: op 3 sums to 90, not 100"


def test_without_a_given_total_the_first_read_sets_it() -> None:
    v = check_bank(history(
        (1, "invoke", "read", None, 0.0), (1, "ok", "read", {"a": 7, "b": 3}, 0.1),
        (1, "invoke", "read", None, 1.0), (1, "ok", "read", {"a": 7, "b": 4}, 1.1),
    ))
    assert v.outcome == "failed" and v.details["expected_from"] == "first read (op 1)"
    assert v.reason == "1 of 2 reads wrong: op 3 sums to 11, not 10"


def test_a_missing_account_or_a_null_balance_makes_a_read_wrong() -> None:
    v = check_bank(history(
        (1, "invoke", "read", None, 0.0), (1, "ok", "read", {"a": 5, "b": 5}, 0.1),
        (1, "invoke", "read", None, 1.0), (1, "ok", "read", {"a": 10}, 1.1),
        (1, "invoke", "read", None, 2.0), (1, "ok", "read", {"a": 10, "b": None}, 2.1),
    ))
    assert (v.outcome, v.value) == ("failed", 2)
    assert v.details["wrong_accounts"]["first"] == [{"index": 3, "missing": ["b"], "unexpected": []}]
    assert v.details["bad_balance"]["first"] == [{"index": 5, "account": "b", "balance": None}]


def test_reads_that_did_not_complete_ok_are_not_judged_and_none_at_all_aborts() -> None:
    v = check_bank(history(
        *_transfer(1, 0.0),
        (1, "invoke", "read", None, 1.0), (1, "fail", "read", None, 1.1),
        (1, "invoke", "read", None, 2.0), (1, "info", "read", None, 7.0),
    ))
    assert (v.outcome, v.value) == ("aborted", None)
    assert v.reason == "no bank read completed (1 transfer attempted)"


def test_set_reads_are_not_bank_reads() -> None:
    v = check_bank(history(
        (1, "invoke", "read", None, 0.0), (1, "ok", "read", {"a": 1}, 0.1),
        (2, "invoke", "read", None, 0.5), (2, "ok", "read", [1, 2, 3], 0.6),  # the set's read: a list
    ))
    assert v.outcome == "passed" and v.details["reads"] == 1
