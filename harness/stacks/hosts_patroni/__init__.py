"""The ``hosts-patroni`` stack: PostgreSQL + Patroni 4 + etcd on plain servers of every cloud."""

from .database import PatroniDatabase
from .phases import SECRETS_FILE, configure_phase, db_secrets, deploy_phase, on_failure
from .plan import ClusterPlan, plan_cluster

__all__ = ["SECRETS_FILE", "ClusterPlan", "PatroniDatabase", "configure_phase", "db_secrets", "deploy_phase",
           "on_failure", "plan_cluster"]
