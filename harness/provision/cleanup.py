"""Cleaning up after a crashed or killed run: by its ledger, or by name prefix with no state.

``cleanup_run`` reads ``reports/<run-id>/resources.json`` and, per cloud in it, deletes what it
lists and then sweeps the cloud by that run's name prefix (which also finds what the ledger
only knew by name). ``cleanup_prefix`` needs nothing but clouds.yaml: it sweeps each cloud for
names starting with the prefix. Clouds are cleaned in parallel, one connection each; with
``dry_run`` nothing is deleted and the plan is returned.

>>> results = cleanup_run(Path("reports/20261125T001500Z-ab12"), CloudsConfig.load())  # doctest: +SKIP
>>> {c: r.clean for c, r in results.items()}                                          # doctest: +SKIP
{'lab1': True, 'lab2': True, 'lab3': True}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import ConfigError, HarnessError
from .context import Context
from .ledger import Ledger
from .naming import Names, check_sweep_prefix
from .teardown import TeardownResult, teardown

DEFAULT_TIMEOUT = 600.0


def _per_cloud(clouds_config: Any, clouds: Sequence[str],
               work: Callable[[Context], TeardownResult],
               make_ctx: Callable[[Any, str], Context]) -> dict[str, TeardownResult]:
    def one(cloud: str) -> TeardownResult:
        conn = None
        try:
            conn = clouds_config.connect(cloud, phase="cleanup")
            return work(make_ctx(conn, cloud))
        except HarnessError as exc:
            result = TeardownResult(cloud=cloud)
            result.failures["cloud"] = exc.message
            return result
        finally:
            if conn is not None:
                conn.close()

    if not clouds:
        return {}
    with ThreadPoolExecutor(max_workers=min(16, len(clouds))) as pool:
        return dict(zip(clouds, pool.map(one, clouds), strict=True))


def cleanup_run(run_path: Path, clouds_config: Any, *, clouds: Sequence[str] | None = None,
                dry_run: bool = False, timeout: float = DEFAULT_TIMEOUT) -> dict[str, TeardownResult]:
    """Delete everything the run's ledger lists, then sweep by the run's prefix, per cloud."""
    ledger = Ledger(run_path)
    if not ledger.exists():
        raise ConfigError(f"{ledger.path}: no resource ledger (to clean up without one: --prefix)")
    run_id = run_path.name
    in_ledger = ledger.clouds()
    chosen = list(clouds) if clouds else in_ledger
    for cloud in chosen:
        clouds_config.require(cloud)

    def make_ctx(conn: Any, cloud: str) -> Context:
        return Context(conn=conn, cloud=cloud, names=Names.for_run(run_id, cloud), ledger=ledger, phase="cleanup")

    def work(ctx: Context) -> TeardownResult:
        return teardown(ctx, ledger.entries(ctx.cloud, live=True), prefix=ctx.names.prefix, timeout=timeout,
                        dry_run=dry_run)

    return _per_cloud(clouds_config, chosen, work, make_ctx)


def cleanup_prefix(prefix: str, clouds_config: Any, *, clouds: Sequence[str] | None = None,
                   dry_run: bool = False, timeout: float = DEFAULT_TIMEOUT) -> dict[str, TeardownResult]:
    """Stateless: delete, on every cloud, whatever carries ``prefix`` (``interop-...``)."""
    check_sweep_prefix(prefix)
    chosen = list(clouds) if clouds else clouds_config.names()
    for cloud in chosen:
        clouds_config.require(cloud)

    def make_ctx(conn: Any, cloud: str) -> Context:
        return Context(conn=conn, cloud=cloud, names=Names.for_run("sweep", cloud), ledger=None, phase="cleanup")

    def work(ctx: Context) -> TeardownResult:
        return teardown(ctx, [], prefix=prefix, timeout=timeout, dry_run=dry_run)

    return _per_cloud(clouds_config, chosen, work, make_ctx)
