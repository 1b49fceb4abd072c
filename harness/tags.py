"""The cloud and phase a scenario test runs, as tags on the test and on its reports.

pytest-xdist carries ``user_properties`` from a worker's report to the controller, so the
controller's progress, the lanes and the reports read where a test belongs from the tags, not
from its name.

>>> cloud_phase(report)          # doctest: +SKIP
('lab1', 'security-groups')
"""

from __future__ import annotations

from typing import Any

CLOUD, PHASE = "interop_cloud", "interop_phase"


def tag(item: Any) -> None:
    """Tag a collected scenario test (parametrized by ``cloud_name``) with its cloud and phase."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or "cloud_name" not in callspec.params:
        return
    func = getattr(item, "originalname", item.name)
    item.user_properties.append((CLOUD, callspec.params["cloud_name"]))
    item.user_properties.append((PHASE, phase_of_test(func)))


def phase_of_test(function_name: str) -> str:
    """``test_security_groups`` -> ``security-groups``."""
    return function_name.removeprefix("test_").replace("_", "-")


def test_name(phase: str) -> str:
    """``security-groups`` -> ``test_security_groups``: the ids JUnit, Allure and trends key on."""
    return "test_" + phase.replace("-", "_")


def cloud_phase(tagged: Any) -> tuple[str, str] | None:
    """The (cloud, phase) a test or its report was tagged with, or None."""
    props = dict(tagged.user_properties)
    if CLOUD not in props:
        return None
    return str(props[CLOUD]), str(props[PHASE])
