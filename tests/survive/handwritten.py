"""Histories written by hand: one row per operation, times in seconds, index = position."""

from __future__ import annotations

from typing import Any

from harness.survive.history import Op

S = 1_000_000_000


def history(*rows: tuple[Any, ...]) -> list[Op]:
    """``history((1, "invoke", "add", 7, 0.5), (1, "ok", "add", 7, 0.6, "lab2-1", "lab2"))``:
    rows of process, type, f, value, seconds[, node, cloud]."""
    ops = []
    for index, (process, kind, f, value, seconds, *where) in enumerate(rows):
        node, cloud = (where + [None, None])[:2]
        ops.append(Op(index, process, kind, f, value, round(seconds * S), node, cloud))
    return ops


def add(process: int, value: Any, at: float, outcome: str = "ok", took: float = 0.01,
        cloud: str | None = None) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """An add's invoke and completion rows (spliced into a history with ``*``)."""
    return ((process, "invoke", "add", value, at), (process, outcome, "add", value, at + took, None, cloud))


def read(process: int, value: Any, at: float, took: float = 0.01) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """A read's invoke and ok completion with what it read."""
    return ((process, "invoke", "read", None, at), (process, "ok", "read", value, at + took))
