"""The set checker: acknowledged inserts must all be in the final read (Jepsen's ``set``).

The workload inserts values unique to the run (``add``) and reads them all back at the end
(``read``, ok value: the list of values). As in ``jepsen.checker/set`` and Patroni's Jepsen
test, over the last ok read:

- lost: adds acknowledged (ok) before the read began, missing from it;
- unexpected: values read that nobody attempted, and values whose add failed (a ``fail`` means
  it did not happen);
- recovered: adds with an unknown outcome (``info``) that are present. Unknown adds that are
  absent are never lost: they may simply not have happened;
- duplicates: a value read more than once (the inserts are unique).

An add acknowledged only after the final read began may or may not be in it, so it is not
judged. No final read: aborted (nothing to compare with).

>>> from harness.survive.history import Op
>>> check_set([Op(0, 1, "invoke", "add", 7, 10), Op(1, 1, "ok", "add", 7, 20),
...            Op(2, 1, "invoke", "read", None, 30), Op(3, 1, "ok", "read", [], 40)]).reason
'1 acknowledged add lost: 7'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from typing import Any

from .history import Op, Pair, pair_ops
from .verdict import Verdict, capped, listing, plural, sort_values

CHECK = "set"
_FAILED, _UNKNOWN = 0, 1  # for a value added more than once, unknown beats failed


def element(value: Any) -> Hashable:
    """A set element as a key: JSON lists (``[0, 17]`` in Jepsen's histories) become tuples."""
    if isinstance(value, list):
        return tuple(element(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, element(v)) for k, v in value.items()))
    return value


class SetFold:
    """Fed every operation once (:meth:`feed`), then asked for the :meth:`verdict`.

    Keeps one entry per distinct value added and the latest ok read, nothing per operation.
    """

    def __init__(self) -> None:
        self._acked: dict[Hashable, int] = {}  # value -> when its first ok add completed
        self._unsure: dict[Hashable, int] = {}  # value -> _FAILED or _UNKNOWN, never acknowledged
        self._final: Pair | None = None
        self.adds = 0

    def feed(self, pair: Pair) -> None:
        if pair.f == "add":
            self.adds += 1
            key = element(pair.value)
            if pair.type == "ok" and pair.end is not None:  # (only an unfinished invoke has no end)
                if key not in self._acked:
                    self._acked[key] = pair.end
                self._unsure.pop(key, None)
            elif key not in self._acked:
                rank = _FAILED if pair.type == "fail" else _UNKNOWN
                self._unsure[key] = max(rank, self._unsure.get(key, _FAILED))
        elif pair.f == "read" and pair.type == "ok" and isinstance(pair.result, list):
            self._final = pair

    @property
    def active(self) -> bool:
        """Whether the history had any set operation (else this check does not apply)."""
        return self.adds > 0 or self._final is not None

    def verdict(self, *, max_lost: int = 0) -> Verdict:
        unknown = sum(1 for r in self._unsure.values() if r == _UNKNOWN)
        final = self._final
        if final is None:
            return Verdict(CHECK, "aborted", None, "writes", max_lost,
                           {"attempted": self.adds, "acknowledged": len(self._acked), "unknown": unknown},
                           f"no final read completed: cannot tell lost from present ({self.adds} adds attempted)")
        read = Counter(element(v) for v in final.result)
        lost = [k for k, end in self._acked.items() if end <= final.start and k not in read]
        concurrent = sum(1 for end in self._acked.values() if end > final.start)
        recovered = [k for k, r in self._unsure.items() if r == _UNKNOWN and k in read]
        failed_present = [k for k, r in self._unsure.items() if r == _FAILED and k in read]
        never_attempted = [k for k in read if k not in self._acked and k not in self._unsure]
        duplicates = [k for k, n in read.items() if n > 1]
        details = {
            "final_read_index": final.index, "read": sum(read.values()), "attempted": self.adds,
            "acknowledged": len(self._acked), "acknowledged_during_read": concurrent,
            "lost": capped(lost), "unexpected": capped(never_attempted + failed_present),
            "never_attempted": capped(never_attempted), "failed_but_present": capped(failed_present),
            "unknown": unknown, "recovered": capped(recovered), "unknown_absent": unknown - len(recovered),
            "duplicates": capped(duplicates),
        }
        problems = []
        if lost:
            problems.append(f"{plural(len(lost), 'acknowledged add')} lost: {listing(sort_values(lost))}")
        if never_attempted:
            problems.append(f"{plural(len(never_attempted), 'value')} read that nobody wrote: "
                            f"{listing(sort_values(never_attempted))}")
        if failed_present:
            problems.append(f"{plural(len(failed_present), 'value')} read whose add failed: "
                            f"{listing(sort_values(failed_present))}")
        if duplicates:
            problems.append(f"{plural(len(duplicates), 'value')} read more than once: "
                            f"{listing(sort_values(duplicates))}")
        failed = len(lost) > max_lost or never_attempted or failed_present or duplicates
        if problems:
            reason = "; ".join(problems)
        else:
            reason = (f"all {len(self._acked) - concurrent} acknowledged adds in the final read (op {final.index}); "
                      f"{unknown} unknown outcomes, {len(recovered)} of them present")
        return Verdict(CHECK, "failed" if failed else "passed", len(lost), "writes", max_lost, details, reason)


def check_set(ops: Iterable[Op], *, max_lost: int = 0) -> Verdict:
    """The set verdict over a history's operations (see the module docstring)."""
    fold = SetFold()
    for pair in pair_ops(ops):
        fold.feed(pair)
    return fold.verdict(max_lost=max_lost)
