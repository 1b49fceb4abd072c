"""The ``k8s-cockroach`` stack: k3s through Ansible, CockroachDB nodes in every cloud joining one
cluster (see stack.py and phases.py)."""
