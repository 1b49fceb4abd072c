"""The identity phase: authenticate, read the catalog, derive the RefStack cpid."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..clouds import check_identity
from ..errors import CloudError

if TYPE_CHECKING:
    from ..engine import CloudRun

# What every stack needs from a cloud: servers, networks, images.
REQUIRED_SERVICES = ("compute", "network", "image")


def identity_phase(run: CloudRun) -> dict[str, Any]:
    """Authenticate, read the catalog (it must offer :data:`REQUIRED_SERVICES`), note the cpid."""
    result = check_identity(run.connection(phase="identity"), run.cloud)
    missing = [s for s in REQUIRED_SERVICES if s not in result.services]
    if missing:
        raise CloudError(f"the service catalog lacks {', '.join(missing)} (has: {', '.join(result.services)})",
                         cloud=run.cloud, phase="identity")
    run.facts["cpid"] = result.cpid
    return result.as_details()
