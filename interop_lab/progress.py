"""Progress lines of a lab operation: ``[lab +12s] keystone answers at http://...``.

One object per ``lab up`` / ``lab down`` call, shared by the threads of that call, so every
line carries the seconds since the operation started and the user sees each step as it happens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Progress:
    """Prefixes each message with the elapsed time and hands it to ``log`` (print by default)."""

    def __init__(self, log: Callable[[str], None] = print, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = log
        self._clock = clock
        self._start = clock()
        # bring-up steps run in threads; one line at a time keeps the output readable
        self._lock = threading.Lock()

    @property
    def elapsed(self) -> float:
        return self._clock() - self._start

    def __call__(self, message: str) -> None:
        with self._lock:
            self._log(f"[lab +{self.elapsed:.0f}s] {message}")
