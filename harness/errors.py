"""The harness's exceptions, one hierarchy.

    HarnessError                 anything the harness reports as a clear, one-line reason
     +-- ConfigError             bad input: challenge file, clouds.yaml, command-line options
     +-- CloudError              a cloud misbehaved or could not be reached (verdict FAIL)
     |    +-- AuthError          the cloud refused our credentials
     |    +-- UnreachableError   an endpoint did not answer
     +-- PhaseTimeout           a bounded wait ran out (its own outcome in the record)
     +-- RendezvousError         cross-cloud coordination broke (deadline, missing peers)
     +-- LabError                the local lab could not be brought up or down (verdict ABORT)

Every error carries the cloud and the phase it happened in when those are known, so the
record, the terminal and the reports can all say "cloud X, phase Y: reason" without parsing
messages. Foreign exceptions (openstacksdk, keystoneauth, subprocess) are translated where the
foreign library is called, with ``raise ... from exc``.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base class: ``str(err)`` is one line naming the cloud and phase when known."""

    def __init__(self, message: str, *, cloud: str | None = None, phase: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cloud = cloud
        self.phase = phase

    def __str__(self) -> str:
        where = [f"cloud {self.cloud}" if self.cloud else "", f"phase {self.phase}" if self.phase else ""]
        prefix = ", ".join(w for w in where if w)
        return f"{prefix}: {self.message}" if prefix else self.message


class ConfigError(HarnessError):
    """The user's input is wrong; the message names the file and the field."""


class CloudError(HarnessError):
    """The cloud answered wrongly or not at all."""


class AuthError(CloudError):
    """Authentication was refused (bad password, expired token, unknown project)."""


class UnreachableError(CloudError):
    """An endpoint did not answer (connection refused, DNS, TLS, timeout)."""


class PhaseTimeout(HarnessError):
    """A bounded wait ran out; the message says what it was waiting for."""


class RendezvousError(HarnessError):
    """Cross-cloud coordination failed: peers missing at the deadline, or a corrupt entry."""


class LabError(HarnessError):
    """The local lab could not be brought up, checked or taken down."""


def failure_text(exc: BaseException) -> str:
    """One line for a failure: a harness error's own message, anything else its type and text."""
    return exc.message if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"


class SkipCloud(Exception):
    """Not an error: this phase does not run on this cloud, for the reason given.

    An earlier phase of the cloud failed, or the phase has nothing to do; the engine raises it
    and the caller reports the phase as skipped with the reason.
    """
