"""``interop report RUN --allure-html``: one offline HTML file from the run's allure-results.

Allure 3 (the npm package ``allure``, pure JavaScript) renders it: the version pinned in
``tools/allure/package.json`` and its lockfile, installed into that directory by
``make allure`` (``npm ci --prefix tools/allure``), never globally and never behind the
user's back; ``INTEROP_ALLURE`` names another ``allure`` executable. Its "awesome" report in
single-file mode inlines every script and style as ``data:`` URLs, so the page opens from
disk offline (browsers refuse a multi-file report's ``fetch`` of its data from ``file://``).

Allure 3.18 always embeds a Google Tag Manager script (``analyticsEnable: true`` in its
template, no option turns it off: allure3 issue #476). We cut it out of the page and refuse
to write a report that would still load anything from the network.

>>> render_allure(Path("reports/latest"))                  # doctest: +SKIP
PosixPath('reports/20261118T000000Z-abcd/allure-report/index.html')
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import ConfigError, HarnessError
from ..record import read_events
from .allure_results import RESULTS_DIR, apply_record, parent_suite
from .model import summarize

REPORT_DIR = "allure-report"
TOOLS = Path(__file__).resolve().parents[2] / "tools" / "allure"
INSTALL = "make allure   (npm ci --prefix tools/allure: ~54 MB, the version pinned in tools/allure/package.json)"
ENV_ALLURE = "INTEROP_ALLURE"
TIMEOUT_S = 300.0

_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_SRC = re.compile(r"""\bsrc\s*=\s*["']?\s*((?:https?:)?//[^"'\s>]+)""", re.I)
_TRACKERS = ("googletagmanager.com", "google-analytics.com", "doubleclick.net")
# the inline half of the tag: the dataLayer and gtag() it configures (small; the report's own
# inline scripts are configuration and data, never tracking)
_TRACKING_CODE = re.compile(r"\bgtag\s*\(|\bdataLayer\b|googletagmanager")
_REMOTE_LINK = re.compile(r"""<link\b[^>]*\bhref\s*=\s*["']((?:https?:)?//[^"']+)["'][^>]*>""", re.I)
# a link that makes the browser fetch (an <a href> or a rel="icon" data: URL does not)
_FETCHING_REL = re.compile(r"""\brel\s*=\s*["']?(?:stylesheet|preload|modulepreload|prefetch|preconnect)""", re.I)


def pinned_version(tools: Path = TOOLS) -> str | None:
    """The ``allure`` version the project pins, from ``tools/allure/package.json``."""
    try:
        version = json.loads((tools / "package.json").read_text())["dependencies"]["allure"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(version)


def find_allure(tools: Path = TOOLS) -> Path:
    """The ``allure`` executable: ``$INTEROP_ALLURE``, else the pinned one under ``tools/allure``."""
    named = os.environ.get(ENV_ALLURE)
    if named:
        if not os.access(named, os.X_OK):
            raise ConfigError(f"{ENV_ALLURE}={named} is not an executable")
        return Path(named)
    exe = tools / "node_modules" / ".bin" / "allure"
    if not os.access(exe, os.X_OK):
        raise ConfigError(f"Allure 3 is not installed in {tools}; install the pinned version with: {INSTALL}")
    pinned = pinned_version(tools)
    try:
        installed = json.loads((tools / "node_modules" / "allure" / "package.json").read_text()).get("version")
    except (OSError, ValueError):
        installed = None
    if pinned is not None and installed != pinned:
        raise ConfigError(f"{tools} has allure {installed}, the project pins {pinned}; reinstall with: {INSTALL}")
    return exe


def strip_analytics(html: str) -> tuple[str, int]:
    """``html`` without tracking scripts (a tracker's ``src``, or inline gtag/dataLayer code), and
    how many were cut.

    >>> strip_analytics('<p>x</p><script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
    ...                 '<script>window.dataLayer = []; function gtag(){}</script><script>app()</script>')
    ('<p>x</p><script>app()</script>', 2)
    """
    cut = 0

    def keep_or_cut(m: re.Match[str]) -> str:
        nonlocal cut
        src = _SRC.search(m.group(1))
        tracker = src is not None and any(host in src.group(1).lower() for host in _TRACKERS)
        if tracker or (src is None and len(m.group(2)) < 20_000 and _TRACKING_CODE.search(m.group(2))):
            cut += 1
            return ""
        return m.group(0)

    return _SCRIPT.sub(keep_or_cut, html), cut


def offline_problems(html: str) -> list[str]:
    """What in ``html`` would reach the network or track its reader (empty: fine offline)."""
    problems = [f"script loaded from {m.group(1)[:80]}" for tag in _SCRIPT.finditer(html)
                if (m := _SRC.search(tag.group(1)))]
    problems += [f"<link> to {m.group(1)[:80]}" for m in _REMOTE_LINK.finditer(html)
                 if _FETCHING_REL.search(m.group(0))]
    problems += [f"tracking code ({word})" for word in ("googletagmanager", "google-analytics", "gtag(")
                 if word in html]
    return problems


def render_allure(run_dir: Path, *, allure: Path | None = None, timeout: float = TIMEOUT_S) -> Path:
    """Render ``run_dir/allure-results`` into ``run_dir/allure-report/index.html``; returns its path.

    The results get the record's times, steps and attachments first (idempotent). The old
    report is replaced only once the new one is complete and clean.
    """
    run_dir = Path(run_dir)
    results = run_dir / RESULTS_DIR
    apply_record(run_dir)
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise ConfigError(f"{results}: no Allure results to render (runs of `interop run` write them)")
    exe = allure or find_allure()
    summary = summarize(read_events(run_dir / "events.jsonl"))
    name = parent_suite(summary.info.get("name"), summary.run_id or run_dir.name)
    with tempfile.TemporaryDirectory(prefix="interop-allure-") as tmp:
        work = Path(tmp)
        out = work / "out"
        # JSON config (allurerc.json): no JavaScript of ours runs; cwd is the temporary dir so
        # anything Allure writes beside its output goes away with it
        config = {"name": name, "output": str(out),
                  "plugins": {"awesome": {"options": {"singleFile": True, "reportName": name,
                                                       "groupBy": ["parentSuite", "suite", "subSuite"]}}}}
        (work / "allurerc.json").write_text(json.dumps(config))
        try:
            done = subprocess.run([str(exe), "generate", "--config", str(work / "allurerc.json"), "--output", str(out),
                                   str(results.resolve())], cwd=work, capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"})
        except subprocess.TimeoutExpired as exc:
            raise HarnessError(f"allure generate took over {timeout:.0f}s") from exc
        except OSError as exc:  # no node on PATH, say
            raise HarnessError(f"cannot run {exe}: {exc}") from exc
        page = out / "index.html"
        if done.returncode != 0 or not page.is_file():
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-8:])
            raise HarnessError(f"allure generate failed (exit {done.returncode}): {tail}")
        html, _ = strip_analytics(page.read_text(encoding="utf-8"))
        problems = offline_problems(html)
        if problems:
            raise HarnessError(f"the Allure report would not be offline ({'; '.join(problems[:3])}): "
                               f"Allure's template changed; not written")
        return _replace_report(run_dir / REPORT_DIR, html)


def _replace_report(dest: Path, html: str) -> Path:
    new = dest.with_name(f".{dest.name}.new")
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    (new / "index.html").write_text(html, encoding="utf-8")
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    new.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    return dest / "index.html"
