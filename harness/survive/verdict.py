"""What a checker returns: one verdict, with its figure, its threshold and the evidence.

Outcomes follow the SovereignCloudStack tests: ``passed``; ``failed`` = the cloud (the
database on it) misbehaved; ``aborted`` = the harness or its infrastructure could not measure
(no final read, no baseline), which says nothing about the cloud.

>>> v = Verdict("set", "failed", 2, "writes", 0, {"lost": {"count": 2, "first": [17, 33]}},
...             "2 acknowledged adds lost: 17, 33")
>>> v.line()
'set: failed, 2 writes (threshold 0): 2 acknowledged adds lost: 17, 33'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

VerdictOutcome = Literal["passed", "failed", "aborted"]
OUTCOMES: tuple[VerdictOutcome, ...] = ("passed", "failed", "aborted")
# evidence lists in details stop here: a million lost writes must not make a million-row record
CAP = 20


@dataclass(frozen=True)
class Verdict:
    """One check's result; ``details`` is JSON-ready (lists capped at :data:`CAP` entries)."""

    check: str
    outcome: VerdictOutcome
    value: float | int | None
    unit: str
    threshold: float | int | None
    details: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    def figure(self) -> str:
        """``"2 writes (threshold 0)"``: the value in its unit, next to the threshold."""
        value = "-" if self.value is None else _number(self.value)
        limit = "" if self.threshold is None else f" (threshold {_number(self.threshold)})"
        return f"{value} {self.unit}{limit}"

    def line(self) -> str:
        return f"{self.check}: {self.outcome}, {self.figure()}: {self.reason}"

    def event_fields(self) -> dict[str, Any]:
        """The fields of this verdict's event in the run record (``phase: survive``)."""
        return {"check": self.check, "outcome": self.outcome, "value": self.value, "unit": self.unit,
                "threshold": self.threshold, "reason": self.reason, "details": self.details}


def _number(x: float | int) -> str:
    return str(x) if isinstance(x, int) else f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"


def capped(values: Iterable[Any], limit: int = CAP) -> dict[str, Any]:
    """``{"count": n, "first": [...]}``: how many there are and the first ``limit`` in order.

    >>> capped([3, 1, 2], limit=2)
    {'count': 3, 'first': [1, 2]}
    """
    items = sort_values(values)
    return {"count": len(items), "first": items[:limit]}


def sort_values(values: Iterable[Any]) -> list[Any]:
    """Values in a stable order for reports: natural order, else by their text (mixed types)."""
    items = list(values)
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


def listing(values: list[Any], limit: int = 5) -> str:
    """``"17, 33"`` or ``"1, 2, 3, 4, 5, ..."``: values for a one-line reason."""
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (", ..." if len(values) > limit else "")


def plural(count: int, noun: str) -> str:
    """``"1 write"``, ``"2 writes"``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
