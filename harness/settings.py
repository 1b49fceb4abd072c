"""Settings the command line and the pytest plugin share (a module of its own, so that neither
imports the other for them)."""

from __future__ import annotations

# After Ctrl-C, how long `interop run` lets the workers tear their clouds down.
TEARDOWN_GRACE = 600.0
