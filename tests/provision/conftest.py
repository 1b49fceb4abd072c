"""Fakes at the HTTP seam for the provisioning unit tests, openstacksdk-style.

``fake_cloud`` is a Connection to three fake endpoints (Nova, Neutron, Glance) served by
requests-mock; register answers with ``fake.on(...)`` and check the exact request sequence
with ``fake.calls()`` (version discovery left out), as openstacksdk's own ``assert_calls`` does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

NOVA = "http://nova.test/v2.1"
NEUTRON = "http://neutron.test/v2.0"
GLANCE = "http://glance.test/v2"
_DISCOVERY = {
    NOVA: {"version": {"id": "v2.1", "status": "CURRENT", "version": "2.96", "min_version": "2.1",
                       "links": [{"rel": "self", "href": NOVA + "/"}]}},
    NEUTRON: {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": NEUTRON + "/"}]}]},
    GLANCE: {"versions": [{"id": "v2.16", "status": "CURRENT", "links": [{"rel": "self", "href": GLANCE + "/"}]}]},
}
BASES = {"nova": NOVA, "neutron": NEUTRON, "glance": GLANCE}


class FakeCloud:
    def __init__(self, mocker: Any) -> None:
        self.m = mocker
        for base, doc in _DISCOVERY.items():
            for url in (base, base + "/", base.rsplit("/", 1)[0] + "/"):
                self.m.get(url, json=doc)
        self._conn: Any = None

    def on(self, method: str, service: str, path: str, *responses: Any, **kw: Any) -> None:
        """Answer ``method service/path`` (full path, may include a query) with ``responses`` in turn."""
        url = BASES[service] + path
        if responses:
            self.m.register_uri(method, url, [r if isinstance(r, dict) and ("json" in r or "status_code" in r)
                                              else {"json": r} for r in responses], complete_qs="?" in path)
        else:
            self.m.register_uri(method, url, complete_qs="?" in path, **kw)

    @property
    def conn(self) -> Any:
        if self._conn is None:
            import openstack

            self._conn = openstack.connect(
                auth_type="none", compute_endpoint_override=NOVA, network_endpoint_override=NEUTRON,
                image_endpoint_override=GLANCE, load_envvars=False, load_yaml_config=False)
        return self._conn

    def calls(self) -> list[str]:
        """``METHOD service/path?query`` of every request but version discovery, in order."""
        out = []
        for req in self.m.request_history:
            url = req.url
            if any(url.rstrip("/") == b.rstrip("/") or url == b.rsplit("/", 1)[0] + "/" for b in _DISCOVERY):
                continue
            service = next(name for name, base in BASES.items() if url.startswith(base))
            out.append(f"{req.method} {service}{url[len(BASES[service]):]}")
        return out

    def bodies(self, method: str, fragment: str) -> list[Any]:
        return [json.loads(r.text) if r.text else None for r in self.m.request_history
                if r.method == method and fragment in r.url]


@pytest.fixture
def fake_cloud(requests_mock: Any) -> FakeCloud:
    return FakeCloud(requests_mock)


@pytest.fixture
def ctx(fake_cloud: FakeCloud, tmp_path: Path) -> Any:
    from harness.provision.context import Context
    from harness.provision.ledger import Ledger
    from harness.provision.naming import Names
    from harness.provision.retry import RetryPolicy

    run = tmp_path / "reports" / "20261125T001500Z-ab12"
    run.mkdir(parents=True)
    return Context(conn=fake_cloud.conn, cloud="lab1", names=Names.for_run(run.name, "lab1"), ledger=Ledger(run),
                   policy=RetryPolicy(sleep=lambda s: None), phase="test")


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Polls and backoffs do not really wait in unit tests (openstacksdk's tests do the same)."""
    import harness.provision.retry as retry

    monkeypatch.setattr(retry, "SLEEP", lambda s: None)
