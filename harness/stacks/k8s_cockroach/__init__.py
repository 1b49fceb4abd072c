"""The ``k8s-cockroach`` stack: k3s through Ansible, CockroachDB nodes in every cloud joining one
cluster. Its security groups and server needs are declared; its phases are not built yet."""
