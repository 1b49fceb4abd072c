"""Record values as the words and numbers a report shows: durations, times, lists as text.

A report never prints a Python repr: a list of standbys is ``db-1, db-2``, not ``['db-1', 'db-2']``.

>>> as_text(["db-1", "db-2"]), as_text({"lab1": 2, "lab2": True}), seconds(0.4213), seconds(754)
('db-1, db-2', 'lab1: 2; lab2: yes', '0.42 s', '12 min 34 s')
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def seconds(value: object) -> str:
    """A duration for people: two decimals under 10 s, one under 100 s, minutes past 10 min."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    v = float(value)
    if v < 10:
        return f"{v:.2f} s"
    if v < 100:
        return f"{v:.1f} s"
    if v < 600:
        return f"{v:.0f} s"
    minutes, rest = divmod(round(v), 60)
    return f"{minutes} min {rest:02d} s"


def clock(ts: float | None) -> str:
    """An epoch time as UTC, to the second; ``unknown`` for None."""
    if ts is None:
        return "unknown"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def number(value: object) -> str:
    """``31.5``, ``0.42``, ``3``: at most 3 significant digits below 100, whole numbers above."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def as_text(value: Any) -> str:
    """Any JSON value of the record as one line of text (never a repr)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(as_text(v) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {as_text(v)}" for k, v in value.items()) or "none"
    return str(value)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_name(name: str) -> str:
    """A cloud name as a file name: the same name when it is already safe (clouds.yaml names are)."""
    safe = _UNSAFE.sub("_", name)
    return safe if safe and not safe.startswith(".") else f"_{safe}"


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a rename: a browser refreshing mid-render sees the old
    page or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
