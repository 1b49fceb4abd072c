"""Files of the lab's state directory: atomic writes, the lab lock, log tails.

Every generated file goes through :func:`write_file`, so a crash mid-write never leaves a
half-written config or secrets file behind, and private files are never readable by others,
not even for the instant between creation and chmod.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.waiting import wait_for

LOCK_TIMEOUT = 900.0  # a cold `lab up` takes ~2 min; a waiting one gives up well after


def write_file(path: Path, text: str, *, mode: int = 0o644) -> bool:
    """Write ``text`` to ``path`` atomically with ``mode``; return True if the content changed.

    Unchanged files are left alone (their mtime too), so re-running ``lab up`` can tell
    whether a running service is still on the config it was started with.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.read_text() == text:
            if (path.stat().st_mode & 0o777) != mode:
                path.chmod(mode)
            return False
    except FileNotFoundError:
        pass
    # mkstemp creates the file 0600, so a secret is private from its first byte
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


@contextmanager
def lab_lock(lock_file: Path) -> Iterator[None]:
    """One ``lab up``/``lab down`` at a time per state dir (e.g. several test workers)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a") as handle:

        def take() -> bool:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        wait_for(take, timeout=LOCK_TIMEOUT, interval=1, what=f"{lock_file} (another lab up/down runs)")
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tail(path: Path, lines: int = 6, width: int = 200) -> str:
    """The last lines of a log, each cut to ``width``: evidence for an error message."""
    try:
        last = path.read_text(errors="replace").splitlines()[-lines:]
    except FileNotFoundError:
        return "(no log)"
    return " | ".join(line.strip()[:width] for line in last)
