"""Heartbeat-only stand-in for neutron-openvswitch-agent; run by the LAB venv's python.

Neutron's real ML2 ``openvswitch`` mechanism driver binds a port only on a host with a live
OVS agent; without one every port ends ``binding_failed`` and Nova aborts the boot. This
script sends only the agent's ``report_state`` heartbeat for HOST (nova's ``host``): no
bridges, no flows, no data plane. Port status therefore stays DOWN; servers still go ACTIVE
with the fake virt driver. A later issue replaces it with a real L3/SG agent.

    python fake_agent.py HOST --config-file neutron.conf --config-file ml2_conf.ini

Nothing in the harness imports this module: neutron exists only in the lab venv.
"""

from __future__ import annotations

import importlib
import sys
import time

HEARTBEAT_SECONDS = 20  # neutron's agent_down_time is 75 s


def agent_state(host: str, topic: str, agent_type: str) -> dict[str, object]:
    return {
        "binary": "neutron-openvswitch-agent",
        "host": host,
        "availability_zone": "nova",
        "topic": topic,
        "agent_type": agent_type,
        "start_flag": True,
        "configurations": {
            "bridge_mappings": {"public": "br-ex"},
            "tunnel_types": ["vxlan"],
            "tunneling_ip": "127.0.0.1",
            "integration_bridge": "br-int",
            "l2_population": False,
            "enable_distributed_routing": False,
            "ovs_hybrid_plug": False,
            "datapath_type": "system",
            "ovs_capabilities": {"datapath_types": ["system"], "iface_types": ["internal", "vxlan"]},
            "devices": 0,
        },
    }


def main(argv: list[str]) -> None:
    # imported by name: these exist only in the lab venv, never in the harness's own
    agent_rpc = importlib.import_module("neutron.agent.rpc")
    common_config = importlib.import_module("neutron.common.config")
    agent_conf = importlib.import_module("neutron.conf.agent.common")
    constants = importlib.import_module("neutron_lib.constants")
    context = importlib.import_module("neutron_lib.context")
    topics = importlib.import_module("neutron_lib.agent.topics")
    cfg = importlib.import_module("oslo_config.cfg")

    host = argv[0]
    common_config.register_common_config_options()
    agent_conf.register_agent_state_opts_helper(cfg.CONF)
    common_config.init(argv[1:])
    # the report RPC times out after report_interval; a report sent before neutron-rpc-server
    # declared its queue is dropped, and the default 30 s would delay registration by that much
    cfg.CONF.set_override("report_interval", 5, "AGENT")
    state_rpc = agent_rpc.PluginReportStateAPI(topics.REPORTS)
    ctx = context.get_admin_context_without_session()
    state = agent_state(host, constants.L2_AGENT_TOPIC, constants.AGENT_TYPE_OVS)
    while True:
        try:
            state_rpc.report_state(ctx, dict(state), use_call=True)
        except Exception as exc:  # neutron-rpc-server not up yet, RabbitMQ restarting, ...
            print(f"report_state failed, retrying: {exc!r}", flush=True)
            time.sleep(2)
            continue
        if state.pop("start_flag", None):
            print(f"fake OVS agent registered for host {host}", flush=True)
        time.sleep(HEARTBEAT_SECONDS)


if __name__ == "__main__":
    main(sys.argv[1:])
