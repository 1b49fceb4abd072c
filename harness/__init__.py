"""interop-harness: one real workload across many OpenStack clouds, timed per cloud and phase."""

__version__ = "0.1.0"
