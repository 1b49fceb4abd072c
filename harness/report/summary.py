"""The run's HTML report, under the name the CLI and the plugin call: :func:`render_summary`.

The plain table of the first version grew into the dashboard (:mod:`.dashboard`); this name
stays so ``interop report`` and the plugin's end of run need no change.

>>> render_summary(Path("reports/latest"))        # doctest: +SKIP
PosixPath('reports/latest/index.html')
"""

from __future__ import annotations

from .dashboard import render_dashboard as render_summary

__all__ = ["render_summary"]
