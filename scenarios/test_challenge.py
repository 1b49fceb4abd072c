"""The interop challenge, one test per phase, parametrized by cloud by the harness plugin.

Run it with `interop run` (which adds xdist, the run id and the reports), or with plain
`pytest scenarios/ -n 3 --dist loadgroup --challenge challenge.yaml`.
"""

from harness.phases import CloudRun
from harness.plugin import run_phase


def test_identity(cloud_run: CloudRun) -> None:
    run_phase(cloud_run, "identity")
