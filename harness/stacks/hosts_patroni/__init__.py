"""The ``hosts-patroni`` stack: PostgreSQL + Patroni 4 + etcd on plain servers of every cloud.

What the harness sees of it is :data:`.stack.STACK`, found through the registry in
:mod:`harness.stacks`; the rest of the package is its own business.
"""
