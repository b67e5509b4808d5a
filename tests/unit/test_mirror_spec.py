"""Plans with setMirror and setHeaderRoute in ``rollouts lint`` (refusals are in tests/cases/rollouts.py)."""

from __future__ import annotations

from typing import Any

from rollouts.api.lint import lint_object
from tests.cases.rollouts import valid_rollout


def warnings_for(steps: list[dict[str, Any]]) -> list[tuple[str, str]]:
    obj = valid_rollout()
    obj["spec"]["steps"] = steps
    rollout, problems = lint_object(obj)
    assert rollout is not None, [(p.path, p.message) for p in problems]
    return [(p.path, p.message) for p in problems if p.severity == "warning"]


def test_an_analyze_step_on_mirrored_requests_is_a_comparison() -> None:
    assert warnings_for([{"setMirror": 50}, {"analyze": {"duration": "15m"}}, {"setWeight": 100}]) == []


def test_an_analyze_step_after_the_mirror_is_removed_is_warned_about() -> None:
    found = warnings_for(
        [{"setMirror": 50}, {"setMirror": 0}, {"analyze": {"duration": "15m"}}, {"setWeight": 20}]
    )
    assert (
        "spec.steps[2].analyze",
        "the candidate gets no requests here (weight 0, no mirror, no header route)",
    ) in found


def test_a_header_route_gives_the_candidate_requests_for_an_analyze_step() -> None:
    route = {"setHeaderRoute": {"match": [{"name": "x-canary", "value": "internal"}]}}
    assert warnings_for([route, {"analyze": {"duration": "15m"}}, {"setWeight": 100}]) == []
