"""The bank checker: transfers move money between accounts, never create or destroy it.

Every ok ``read`` whose value is an object ``{account: balance}`` must have the same accounts,
sum to the expected total, and hold no negative balance (``jepsen.tests.bank`` and elle-cli's
``bank.clj``). The expected total is given (the workload's initial deposit) or, as Jepsen
does, taken from the first ok read. The verdict names each offending read by its op index
and the account; it carries the expected and the final totals.

>>> from harness.survive.history import Op
>>> check_bank([Op(0, 1, "invoke", "read", None, 10), Op(1, 1, "ok", "read", {"a": 70, "b": -5}, 20)],
...            total=70).reason
"1 of 1 reads wrong: op 1 sums to 65, not 70; op 1 has account 'b' at -5"
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .history import Op, Pair, pair_ops
from .verdict import CAP, Verdict, plural

CHECK = "bank"
# what can be wrong with a read, and how the first such read is named in the reason
PROBLEMS = {
    "wrong_total": "op {index} sums to {total}, not {expected}",
    "negative": "op {index} has account {account!r} at {balance}",
    "bad_balance": "op {index} has account {account!r} at {balance!r}, not a number",
    "wrong_accounts": "op {index} has accounts missing {missing}, unexpected {unexpected}",
}


class BankFold:
    """Fed every operation once; keeps counters and the first offending reads, nothing per op."""

    def __init__(self, *, total: int | None = None) -> None:
        self.total: float | None = total
        self._total_from: str = "given" if total is not None else ""
        self._accounts: frozenset[str] | None = None
        self.reads = 0
        self.bad_reads = 0
        self.transfers = {"ok": 0, "fail": 0, "info": 0}
        self.problems: dict[str, list[dict[str, Any]]] = {kind: [] for kind in PROBLEMS}  # the first CAP of each
        self.counts = dict.fromkeys(PROBLEMS, 0)
        self.final: tuple[int, float] | None = None  # (op index, total) of the last ok read

    def feed(self, pair: Pair) -> None:
        if pair.f == "transfer":
            self.transfers[pair.type] += 1
        elif pair.f == "read" and pair.type == "ok" and isinstance(pair.result, dict):
            self._read(pair.index, pair.result)

    def _read(self, index: int, balances: dict[str, Any]) -> None:
        self.reads += 1
        bad = False
        accounts = frozenset(balances)
        if self._accounts is None:
            self._accounts = accounts
        elif accounts != self._accounts:
            bad = True
            self._note("wrong_accounts", {
                "index": index, "missing": sorted(self._accounts - accounts),
                "unexpected": sorted(accounts - self._accounts)})
        total: float = 0
        for account, balance in balances.items():
            if isinstance(balance, bool) or not isinstance(balance, int | float):
                # a null or text balance cannot be summed: the read is wrong, named by account
                bad = True
                self._note("bad_balance", {"index": index, "account": account, "balance": balance})
                continue
            total += balance
            if balance < 0:
                bad = True
                self._note("negative", {"index": index, "account": account, "balance": balance})
        if self.total is None:
            self.total, self._total_from = total, f"first read (op {index})"
        if total != self.total:
            bad = True
            self._note("wrong_total", {"index": index, "total": total})
        self.bad_reads += bad
        self.final = (index, total)

    def _note(self, kind: str, row: dict[str, Any]) -> None:
        self.counts[kind] += 1
        if len(self.problems[kind]) < CAP:
            self.problems[kind].append(row)

    @property
    def active(self) -> bool:
        return self.reads > 0 or sum(self.transfers.values()) > 0

    def verdict(self) -> Verdict:
        details: dict[str, Any] = {
            "expected_total": self.total, "expected_from": self._total_from,
            "final_total": None if self.final is None else self.final[1],
            "final_read_index": None if self.final is None else self.final[0],
            "reads": self.reads, "bad_reads": self.bad_reads, "transfers": dict(self.transfers),
            **{kind: {"count": self.counts[kind], "first": rows} for kind, rows in self.problems.items()},
        }
        if self.final is None:
            return Verdict(CHECK, "aborted", None, "reads", 0, details,
                           f"no bank read completed ({plural(sum(self.transfers.values()), 'transfer')} attempted)")
        if not self.bad_reads:
            return Verdict(CHECK, "passed", 0, "reads", 0, details,
                           f"all {plural(self.reads, 'read')} sum to {self.total}, no negative balance; "
                           f"final total {self.final[1]} (op {self.final[0]})")
        first = [PROBLEMS[kind].format(expected=self.total, **rows[0]) for kind, rows in self.problems.items() if rows]
        return Verdict(CHECK, "failed", self.bad_reads, "reads", 0, details,
                       f"{self.bad_reads} of {self.reads} reads wrong: " + "; ".join(first))


def check_bank(ops: Iterable[Op], *, total: int | None = None) -> Verdict:
    """The bank verdict over a history's operations; ``total`` defaults to the first read's sum."""
    fold = BankFold(total=total)
    for pair in pair_ops(ops):
        fold.feed(pair)
    return fold.verdict()
