"""The configure phase's machinery: inventories from provisioned servers, playbooks run through
ansible-runner with their events timed into the run record, artifacts with secrets removed."""

from .ansible import PlaybookResult, run_playbook
from .events import HostFailure, PlaybookSummary, summarize
from .inventory import Server, build_inventory, group_name, render_inventory, servers_from_facts
from .scrub import scrub, scrub_value

__all__ = ["HostFailure", "PlaybookResult", "PlaybookSummary", "Server", "build_inventory", "group_name",
           "render_inventory", "run_playbook", "scrub", "scrub_value", "servers_from_facts", "summarize"]
