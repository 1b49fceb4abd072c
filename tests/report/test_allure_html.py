"""``interop report RUN --allure-html``: the analytics tag cut out, one offline file, readable from disk."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import pytest
from browser import _run, requires_chromium
from records import Record, passing_cloud

from harness import cli
from harness.errors import ConfigError
from harness.report.allure_html import (
    INSTALL,
    REPORT_DIR,
    TOOLS,
    find_allure,
    offline_problems,
    pinned_version,
    strip_analytics,
)
from harness.report.allure_results import RESULTS_DIR

# The shape of Allure 3.18's single-file page (its template in @allurereport/plugin-awesome):
# the app as a data: script, inline options, then Google Tag Manager and its gtag() set-up.
SAMPLE = """<!DOCTYPE html><html><head><title>r</title>
<script>window.allureReportOptions = {"reportName":"r","groupBy":["parentSuite"]};</script></head>
<body><div id="app"></div>
<script>window.allure = window.allure || {};</script>
<script   src="data:text/javascript;base64,YXBwKCk7"></script>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-LNDJ3J7WT0"></script>
<script>
    window.dataLayer = window.dataLayer || [];
    function gtag(){dataLayer.push(arguments);}
    gtag('js', new Date());
    gtag('config', 'G-LNDJ3J7WT0', {"report": "awesome"});
</script>
<script>window.allure.reportData = {"a": "ZGF0YQ=="};</script>
</body></html>"""


def test_the_analytics_tag_and_its_setup_are_cut_and_the_app_kept() -> None:
    assert offline_problems(SAMPLE)  # as Allure writes it: it would phone home
    html, cut = strip_analytics(SAMPLE)
    assert cut == 2
    assert "googletagmanager" not in html and "gtag" not in html and "dataLayer" not in html
    assert offline_problems(html) == []
    for kept in ('src="data:text/javascript;base64,YXBwKCk7"', "window.allureReportOptions", "window.allure.reportData",
                 "window.allure = window.allure || {};", '<div id="app"></div>'):
        assert kept in html


def test_remote_scripts_and_styles_are_problems() -> None:
    assert offline_problems('<script src="//cdn.example.org/x.js"></script>') == [
        "script loaded from //cdn.example.org/x.js"]
    assert offline_problems('<link rel="stylesheet" href="https://fonts.example.org/a.css">') == [
        "<link> to https://fonts.example.org/a.css"]
    assert offline_problems('<a href="https://allurereport.org">Allure</a><link rel="icon" href="data:,">') == []


def test_without_the_pinned_allure_the_error_says_how_to_install_it(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTEROP_ALLURE", raising=False)
    (tmp_path / "package.json").write_text('{"dependencies": {"allure": "3.18.0"}}')
    with pytest.raises(ConfigError, match="make allure"):
        find_allure(tmp_path)
    assert pinned_version(tmp_path) == "3.18.0" and pinned_version() == "3.18.0"


def _installed() -> bool:
    try:
        find_allure()
    except ConfigError:
        return False
    return True


requires_allure = pytest.mark.skipif(not _installed(), reason=f"Allure 3 is not installed in {TOOLS} "
                                     f"(the CI set-up runs: {INSTALL})")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """A run of two clouds (one failed) through ``interop report --allure-html``, and its time."""
    reports = tmp_path_factory.mktemp("reports")
    rec = Record("rh", ["lab1", "lab2"], name="boston")
    passing_cloud(rec, "lab1", [("identity", 0.4), ("servers", 12.5), ("deploy", 30.0)])
    rec.phase("lab2", "identity", 3.1, "failed", "authentication refused (HTTP 401)")
    rec.note("lab1", "deploy", "ansible-play", label="deploy", play="Start Patroni", start=rec.t0 + 15, end=rec.t0 + 20)
    run = rec.end().write(reports / "rh")
    (run / RESULTS_DIR).mkdir()  # results written from the record alone (no pytest session needed)
    started = time.monotonic()
    assert cli.main(["report", "rh", "--reports-dir", str(reports), "--allure-html"]) == 0
    return run, time.monotonic() - started


@requires_allure
def test_one_self_contained_offline_file(rendered: tuple[Path, float]) -> None:
    run, _ = rendered
    assert [p.name for p in (run / REPORT_DIR).iterdir()] == ["index.html"]
    html = (run / REPORT_DIR / "index.html").read_text()
    assert offline_problems(html) == []
    assert not re.search(r"""<script\b[^>]*\bsrc\s*=\s*["']?(?:https?:)?//""", html, re.I)
    assert "googletagmanager" not in html and "gtag(" not in html
    # the results are inside it (as data: URLs), not beside it
    decoded = b"".join(base64.b64decode(m) for m in re.findall(r'd\("[^"]+","([A-Za-z0-9+/=]*)"\)', html))
    assert b"lab2" in decoded and b"Start Patroni" in decoded


@requires_allure
def test_rendering_again_replaces_the_report(rendered: tuple[Path, float], capsys: pytest.CaptureFixture[str]) -> None:
    run, _ = rendered
    assert cli.main(["report", str(run), "--allure-html"]) == 0
    assert f"allure report at {run / REPORT_DIR / 'index.html'}" in capsys.readouterr().out
    assert sorted(p.name for p in run.iterdir() if "allure" in p.name) == [REPORT_DIR, RESULTS_DIR]


@requires_allure
@requires_chromium
def test_it_opens_from_disk_offline_with_a_suite_per_cloud(rendered: tuple[Path, float]) -> None:
    run, _ = rendered
    # a virtual time budget lets the app render before the DOM is dumped; the browser's flags
    # keep it off the network, so whatever shows came from the file alone
    dom = _run(["--virtual-time-budget=15000", "--dump-dom", (run / REPORT_DIR / "index.html").as_uri()], 90)
    visible = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    text = " ".join(re.sub(r"<[^>]+>", " ", visible).split())
    # the app drew the tree from the data inside the file: run > clouds, the failed cloud's
    # failed phase opened with the record's duration (3.1 s)
    assert re.search(r"boston rh 1 3 lab1 3 lab2 1 identity .*test_identity\[lab2\] 3s 100ms", text), text[:2000]
