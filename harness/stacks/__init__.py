"""Workload stacks: what runs on the provisioned servers, and the database each one gives the
survivability checks (:class:`~.base.Database`)."""

from .base import Database, Health, Member

__all__ = ["Database", "Health", "Member"]
