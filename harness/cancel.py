"""Stopping the phases that run in threads: one process-wide request, honoured at every wait.

A signal reaches only the main thread. Phases run in lane threads (:mod:`harness.lanes`), so
Ctrl-C there cannot interrupt them; instead the main thread calls :func:`request`, and every
bounded wait (:func:`harness.waiting.wait_for`) and every playbook run checks it and stops
with ``KeyboardInterrupt``, which the record files as "interrupted", as it did when phases
ran in the main thread. Cleanup must not be stopped halfway, so teardown runs
:func:`shielded`: waits in that thread ignore the request.

>>> requested()
False
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_REQUEST = threading.Event()
_local = threading.local()


def request() -> None:
    """Ask every unshielded wait in this process to stop."""
    _REQUEST.set()


def reset() -> None:
    """Forget a request (a new session in the same process starts unstopped)."""
    _REQUEST.clear()


def requested() -> bool:
    """True when a stop was asked for and this thread is not shielded from it."""
    return _REQUEST.is_set() and not getattr(_local, "shielded", False)


def check(what: str) -> None:
    """Raise ``KeyboardInterrupt`` naming ``what`` if a stop was asked for."""
    if requested():
        raise KeyboardInterrupt(f"stopped while waiting for {what}")


@contextmanager
def shielded() -> Iterator[None]:
    """Waits in this thread go on despite a request (for cleanup that must finish)."""
    before = getattr(_local, "shielded", False)
    _local.shielded = True
    try:
        yield
    finally:
        _local.shielded = before


@contextmanager
def sigint_held() -> Iterator[list[int]]:
    """SIGINT only noted meanwhile (in the main thread; elsewhere no signal arrives).

    Yields the list of signals that came. A cleanup cut short halfway is the leak the harness
    exists to prevent, and after Ctrl-C more SIGINTs come than the user's: xdist's controller
    stops its workers, and execnet does that with a SIGINT to each, right while they tear down.
    """
    hits: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield hits
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: hits.append(signum))
    try:
        yield hits
    finally:
        signal.signal(signal.SIGINT, previous)
