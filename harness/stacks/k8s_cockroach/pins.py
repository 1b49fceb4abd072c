"""What the k8s-cockroach stack deploys, pinned: one place to change a version.

The image is named in full (registry, repository, tag) because an airgapped k3s imports the
image tarball under exactly this name, and the manifests must ask for that same name.
v25.4 is the release whose documentation the stack's flags are taken from
(``cockroachdb/docs:src/current/v25.4/cockroach-start.md``).
"""

from __future__ import annotations

COCKROACH_VERSION = "v25.4.1"
COCKROACH_IMAGE = f"docker.io/cockroachdb/cockroach:{COCKROACH_VERSION}"

# The oldest Kubernetes the manifests are written for (k3s's pinned release is newer); the
# tests validate every shipped schema from this one on.
MIN_KUBERNETES = "1.30"
