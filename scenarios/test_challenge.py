"""The interop challenge: one test per phase of the challenge's stack, parametrized by cloud.

The tests come from the harness plugin (:func:`harness.plugin.phase_tests`): provisioning's
phases around the stack's own, in order, as ``test_<phase>[cloud]``. Run them with
`interop run` (which adds xdist, the run id and the reports), or with plain
`pytest scenarios/ -n 3 --dist loadgroup --challenge challenge.yaml`.

A cloud whose phase failed skips its later phases with the reason; `teardown` runs even then
(and the cloud fixture's finalizer runs it if this test never does).
"""

from harness.plugin import phase_tests

globals().update(phase_tests(__name__))
