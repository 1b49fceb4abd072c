"""Ending a process without the interpreter's teardown.

A process of ``interop run`` (the command, and each xdist worker) holds pytest, xdist,
pydantic and openstacksdk. Freeing all of that object by object at exit costs each a quarter
of a second of CPU, on the critical path (the controller waits for every worker to exit) and
for nothing a process exit does not do anyway. What must happen at exit still does: the
atexit handlers run and the standard streams are flushed.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn

SLOW_EXIT_ENV = "INTEROP_SLOW_EXIT"  # set it to 1 for the ordinary exit everywhere
WORKERS_ENV = "INTEROP_FAST_EXIT"  # set by `interop run` so that its xdist workers exit fast too


def wanted() -> bool:
    return not os.environ.get(SLOW_EXIT_ENV)


def exit_now(code: int) -> NoReturn:
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to save
            pass
    os._exit(code)
