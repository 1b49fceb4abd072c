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
