"""One bounded polling helper for every wait in the harness.

Every wait in the project goes through :func:`wait_for`, so each one has a deadline, says what
it was waiting for when the deadline passes (with the last error or value seen), and reports
how long it took.

>>> elapsed, value = wait_for(lambda: 42, timeout=1, what="the answer")
>>> value
42
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from . import cancel
from .errors import PhaseTimeout

T = TypeVar("T")


def wait_for(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.5,
    cloud: str | None = None,
    phase: str | None = None,
    retry_on: tuple[type[BaseException], ...] = (),
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[float, T]:
    """Call ``check`` until it returns something truthy; return ``(elapsed_seconds, value)``.

    Exceptions listed in ``retry_on`` count as "not yet" and the last one is quoted in the
    :class:`PhaseTimeout` raised when ``timeout`` seconds pass; any other exception propagates.
    A stop asked for through :mod:`harness.cancel` ends the wait with ``KeyboardInterrupt``.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    start = clock()
    last: str = "no answer yet"
    while True:
        cancel.check(what)
        try:
            value = check()
        except retry_on as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if value:
                return clock() - start, value
            last = f"last value {value!r}"
        elapsed = clock() - start
        if elapsed >= timeout:
            raise PhaseTimeout(
                f"timed out after {elapsed:.1f}s waiting for {what} ({last})",
                cloud=cloud,
                phase=phase,
            )
        sleep(min(interval, max(0.0, timeout - elapsed)))
