"""Headless Chromium for the report tests: the page's DOM as the browser built it, and a screenshot.

Installs nothing: the test set-up installs Debian's ``chromium``
(``DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium``);
tests use :data:`requires_chromium` to skip with that reason when it is missing. Every call gets
a fresh profile directory and the flags that keep the browser off the network (no sync,
component updates, background requests or QUIC), so a test sees the file alone, as a person
opening it from disk offline would.

>>> html = dump_dom(Path("reports/latest/index.html"))                     # doctest: +SKIP
>>> screenshot(Path("reports/latest/index.html"), Path("/tmp/shot.png"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio")
TIMEOUT_S = 60.0

requires_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} is not installed (the test set-up runs: {INSTALL})")


class BrowserError(RuntimeError):
    """Chromium failed or timed out; carries its stderr (the only evidence of why)."""


def _run(args: list[str], timeout: float) -> str:
    profile = tempfile.mkdtemp(prefix="interop-chromium-")
    try:
        proc = subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout, check=False,
                              env={**os.environ, "HOME": profile})  # a profile's leftovers never reach $HOME
    except subprocess.TimeoutExpired as exc:
        raise BrowserError(f"chromium did not finish within {timeout:g} s: {exc.stderr!r}") from exc
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if proc.returncode != 0:
        raise BrowserError(f"chromium exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def dump_dom(page: Path, *, timeout: float = TIMEOUT_S) -> str:
    """The serialized DOM of ``page`` (a local file) after Chromium loaded it."""
    return _run(["--dump-dom", Path(page).absolute().as_uri()], timeout)


def screenshot(page: Path, out: Path, *, width: int = 1280, height: int = 2000, timeout: float = TIMEOUT_S) -> Path:
    """A PNG of ``page`` at ``width`` x ``height`` written to ``out``; returns ``out``."""
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    _run([f"--screenshot={out}", f"--window-size={width},{height}", Path(page).absolute().as_uri()], timeout)
    if not out.is_file() or out.stat().st_size == 0:
        raise BrowserError(f"chromium wrote no screenshot at {out}")
    return out
