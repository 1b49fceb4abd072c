"""Provisioning, per cloud: keypair, network, security groups, servers, floating IPs, SSH,
and leak-proof teardown and cleanup.

    naming          names and prefix of a run's resources (``interop-<run>-<cloud>-...``)
    ledger          reports/<run-id>/resources.json, written before a create call returns
    retry           bounded retry of transient errors; quota errors say "quota"
    context         what the steps of one cloud share (connection, names, ledger, retry)
    discovery       image / flavor / external network: configured or discovered
    keypair         the run's ed25519 key (private area) and its keypair on each cloud
    network         the configured network, or network + subnet + router of our own
    identity        authenticate, read the catalog, derive the cpid
    security_groups a stack's least-privilege rule set, and its audit
    servers         N concurrent boots; ERROR -> deleted with its fault; explicit timeout
    floating_ips    auto / pool / preallocated (never released) / none
    ssh             wait until every server answers SSH with the run's key
    teardown        dependency order, sweep by prefix, verify nothing is left
    cleanup         after a crash: by the run's ledger, or by prefix with no state
    phases          the above as phases of a cloud (harness.engine.CloudRun)
    pipeline        those phases around a stack's, in order

Errors are :mod:`harness.errors` ones carrying the cloud and the phase.
"""

from .cleanup import cleanup_prefix, cleanup_run
from .ledger import KINDS, Entry, Ledger
from .naming import Names, run_prefix
from .security_groups import audit
from .teardown import TeardownResult, find_by_prefix, teardown

__all__ = [
    "KINDS", "Entry", "Ledger", "Names", "TeardownResult", "audit", "cleanup_prefix",
    "cleanup_run", "find_by_prefix", "run_prefix", "teardown",
]
