"""Entry point of the lab's nova-compute: the stock service with the lab's virt driver loadable.

Run by the LAB venv's python with ``interop_lab`` on ``PYTHONPATH`` (see
:func:`interop_lab.plan.python_path`)::

    PYTHONPATH=<lab>/pythonpath <lab venv>/bin/python -m interop_lab.nova_compute \
        --config-file nova.conf --config-file nova-compute.conf

Nova 34 imports ``'nova.virt.' + compute_driver``; registering :mod:`interop_lab.nova_driver`
as ``nova.virt.interop_lab`` lets nova-compute.conf say ``compute_driver =
interop_lab.NetnsDriver`` without copying anything into the venv's nova package.
"""

from __future__ import annotations

import sys

DRIVER_MODULE = "nova.virt.interop_lab"


def main() -> int:
    # nova.cmd.compute first: importing it decides nova's concurrency mode (threading)
    from nova.cmd import compute

    from interop_lab import nova_driver

    sys.modules[DRIVER_MODULE] = nova_driver
    result = compute.main()
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
