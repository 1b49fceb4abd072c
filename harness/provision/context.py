"""What every provisioning step of one cloud shares: connection, names, ledger, retry policy.

The phases keep one :class:`Context` per cloud for the run; the CLI (``cleanup``, ``clouds
--discover``) and the benchmark build their own. Steps call the cloud through
:meth:`Context.call`, so every request gets the bounded retry and the one error mapping, and
record resources through :meth:`intend` / :meth:`created` before a create call returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .ledger import Ledger
from .naming import Names
from .retry import RetryPolicy, call

T = TypeVar("T")


@dataclass
class Context:
    conn: Any
    cloud: str
    names: Names
    ledger: Ledger | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    phase: str = "provision"
    # what earlier steps produced, for the later ones (set by the phases)
    results: dict[str, Any] = field(default_factory=dict)

    def call(self, fn: Callable[..., T], *args: Any, doing: str, **kwargs: Any) -> T:
        return call(fn, *args, doing=doing, cloud=self.cloud, phase=self.phase, policy=self.policy, **kwargs)

    def list(self, fn: Callable[..., Any], *args: Any, doing: str, **kwargs: Any) -> list[Any]:
        """A listing, fetched inside the retry (openstacksdk's generators only ask when iterated)."""
        return call(lambda: list(fn(*args, **kwargs)), doing=doing, cloud=self.cloud, phase=self.phase,
                    policy=self.policy)

    def intend(self, kind: str, name: str, **extra: Any) -> None:
        if self.ledger is not None:
            self.ledger.intend(self.cloud, kind, name, **extra)

    def created(self, kind: str, name: str, resource_id: str, *, owned: bool = True, **extra: Any) -> None:
        if self.ledger is not None:
            self.ledger.created(self.cloud, kind, name, resource_id, owned=owned, **extra)

    def deleted(self, kind: str, name: str) -> None:
        if self.ledger is not None:
            self.ledger.deleted(self.cloud, kind, name)

    def project_id(self) -> str | None:
        """The project we act in, so listings never pick up another project's resources."""
        try:
            value = self.conn.current_project_id
        except Exception:  # no-auth test connections have none
            return None
        return str(value) if value else None
