"""Calls into openstacksdk with a bounded retry for transient errors, and one error mapping.

Transient means the cloud may answer differently in a moment: HTTP 500/502/503/504 or a
connection that failed or timed out. Those are retried a few times with exponential backoff
(0.5 s, 1 s, 2 s by default), so a single hiccup does not fail a cloud's run. Nothing else is
retried: a quota error will not go away by asking again, and its reason says "quota" so the
report shows the cloud ran out of quota, not that the harness broke.

>>> call(lambda: 42, doing="answering", cloud="lab1", phase="servers")
42

A create retried after a lost answer may have been done twice; that is why every resource
carries the run's name prefix and teardown sweeps by it after deleting the ledger's ids.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..errors import CloudError, HarnessError

T = TypeVar("T")

SLEEP: Callable[[float], None] = time.sleep  # unit tests replace it, as openstacksdk's do


def _sleep(seconds: float) -> None:
    SLEEP(seconds)

TRANSIENT_STATUS = frozenset({500, 502, 503, 504})
_QUOTA = re.compile(r"quota|overquota|maximum number of \w+ exceeded|limit exceeded", re.IGNORECASE)


def _status(exc: BaseException) -> int | None:
    for attr in ("status_code", "http_status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    return None


def describe(exc: BaseException) -> str:
    """The cloud's own words for an openstacksdk error (its ``details``), on one line."""
    details = getattr(exc, "details", None)
    text = str(details) if details else str(getattr(exc, "message", "") or exc)
    return " ".join(text.split())[:400]


def classify(exc: BaseException) -> str:
    """One of ``quota``, ``transient``, ``auth``, ``not-found``, ``conflict``, ``client``, ``other``.

    >>> classify(TimeoutError())
    'other'
    """
    from keystoneauth1 import exceptions as ks
    from requests import exceptions as rex

    status = _status(exc)
    if status in (403, 409, 413, 400) and _QUOTA.search(describe(exc) + " " + str(exc)):
        return "quota"
    if isinstance(exc, ks.Unauthorized) or status == 401:
        return "auth"
    if status in TRANSIENT_STATUS:
        return "transient"
    if isinstance(exc, (ks.ConnectFailure, ks.ConnectTimeout, ks.RetriableConnectionFailure,
                        rex.ConnectionError, rex.Timeout)):
        return "transient"
    if status == 404:
        return "not-found"
    if status == 409:
        return "conflict"
    if status is not None and 400 <= status < 500:
        return "client"
    return "other"


def to_harness_error(exc: BaseException, *, cloud: str, phase: str, doing: str) -> HarnessError:
    """The harness error for a failed call; quota errors say "quota" in their reason."""
    if isinstance(exc, HarnessError):
        return exc
    kind = classify(exc)
    if kind == "quota":
        return CloudError(f"quota exceeded while {doing}: {describe(exc)}", cloud=cloud, phase=phase)
    if kind != "auth" and (kind in ("not-found", "conflict", "client") or _status(exc) is not None):
        status = _status(exc)
        return CloudError(f"{doing} failed (HTTP {status}): {describe(exc)}", cloud=cloud, phase=phase)
    from ..clouds import translate

    return translate(exc, cloud=cloud, phase=phase, doing=doing)


@dataclass
class RetryPolicy:
    """How often and how long to retry transient errors; ``retries`` counts what happened."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], None] = _sleep
    retries: list[str] = field(default_factory=list)

    def delay(self, attempt: int) -> float:
        return float(min(self.max_delay, self.base_delay * (2 ** attempt)))


def call(fn: Callable[..., T], *args: Any, doing: str, cloud: str, phase: str,
         policy: RetryPolicy | None = None, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``; transient errors retried per ``policy``, others mapped at once."""
    policy = policy or RetryPolicy()
    attempt = 0
    while True:
        try:
            return fn(*args, **kwargs)
        except HarnessError:
            raise
        except Exception as exc:
            if classify(exc) != "transient" or attempt + 1 >= policy.attempts:
                raise to_harness_error(exc, cloud=cloud, phase=phase, doing=doing) from exc
            delay = policy.delay(attempt)
            policy.retries.append(f"{doing}: {type(exc).__name__} ({_status(exc) or 'no answer'}), "
                                  f"retry in {delay:.1f}s")
            policy.sleep(delay)
            attempt += 1


def growing_sleep(start: float = 0.5, factor: float = 1.5,
                  sleep: Callable[[float], None] = _sleep) -> Callable[[float], None]:
    """A ``sleep`` for :func:`~harness.waiting.wait_for` whose pauses grow from ``start``.

    ``wait_for`` passes ``min(interval, time left)``; this sleeps the smaller of that and the
    current step, so polls come quickly at first (a fast cloud is not slowed down) and thin
    out to ``interval`` (a slow one is not hammered), never past the deadline.
    """
    step = [start]

    def _sleep(most: float) -> None:
        pause = min(most, step[0])
        step[0] *= factor
        sleep(pause)

    return _sleep
