"""The servers of a 3-cloud run, as the provision phases publish them (``run.facts["servers"]``)."""

from __future__ import annotations

from typing import Any

CLUSTER = "interop-20261206-ab12"
# lab2's nodes are listed out of name order and with a hostname and zone of their own
SERVERS: dict[str, list[dict[str, Any]]] = {
    "lab1": [{"name": "ih-ab12-lab1-1", "public_ip": "172.24.4.11", "private_ip": "10.10.1.11"},
             {"name": "ih-ab12-lab1-2", "public_ip": "172.24.4.12", "private_ip": "10.10.1.12"}],
    "lab2": [{"name": "ih-ab12-lab2-2", "public_ip": "172.24.5.22", "private_ip": "10.10.2.22",
              "hostname": "crdb-b2.lab2.example", "zone": "az-2"},
             {"name": "ih-ab12-lab2-1", "public_ip": "172.24.5.21", "private_ip": "10.10.2.21"}],
    "lab3": [{"name": "ih-ab12-lab3-1", "public_ip": "172.24.6.31", "private_ip": "10.10.3.31",
              "region": "eu-west"}],
}
