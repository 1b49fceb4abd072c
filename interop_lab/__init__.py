"""The local lab: a real OpenStack control plane on this machine, K projects as K clouds.

    >>> from interop_lab import default_state_dir, lab_up, lab_status, lab_env, lab_down
    >>> info = lab_up(default_state_dir(), clouds=3)          # doctest: +SKIP
    [lab +0s] ...
    [lab +118s] lab up in 118s: clouds lab1, lab2, lab3 in /var/tmp/interop-lab/clouds.yaml
    >>> lab_status(default_state_dir()).up                     # doctest: +SKIP
    True
    >>> print(lab_env(default_state_dir()))                    # doctest: +SKIP
    export OS_CLIENT_CONFIG_FILE=/var/tmp/interop-lab/clouds.yaml
    ...

Modules: settings (layout, ports, secrets), install (apt, venv), services (process groups),
configs (ini rendering), plan (the services as data), backends (MariaDB, RabbitMQ),
bootstrap (openstacksdk as admin), content (image, flavor, quotas), image (what servers find
pre-installed, from YAML files), outputs (clouds.yaml, challenge.yaml), status, controlplane
(up), shutdown (down), fake_agent (run by the lab venv); dataplane (servers as namespaces).

The lab imports from ``harness`` only ``harness.errors``, ``harness.waiting`` and
``harness.cancel`` (stdlib only), and names no stack: what a stack needs on its servers comes
in as data (``lab_up(..., image_files=[...])``).
"""

from .controlplane import lab_up
from .image import Image, load_image
from .plan import Drivers
from .settings import default_state_dir
from .shutdown import lab_down
from .status import LabInfo, LabStatus, ServiceStatus, lab_env, lab_status, read_lab_info

__all__ = [
    "Drivers",
    "Image",
    "LabInfo",
    "LabStatus",
    "ServiceStatus",
    "default_state_dir",
    "lab_down",
    "lab_env",
    "lab_status",
    "lab_up",
    "load_image",
    "read_lab_info",
]
