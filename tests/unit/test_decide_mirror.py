"""Mirror and header-route steps in the state machine: applied, kept, removed (decide is pure).

The plan mirrors half the requests to the candidate, judges it on them, routes a test client's
header to it, then moves live traffic. Tables in the style of tests/unit/test_decide.py, whose
helpers build the spec, status and observations.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from rollouts.api.spec import HeaderMatch, HeaderRoute, ModelRolloutSpec
from rollouts.api.status import ModelRolloutStatus, Result, Verdict
from rollouts.controller.core.decide import decide
from rollouts.controller.core.observed import Evidence, Observed
from rollouts.controller.core.steps import steps_hash
from tests.unit.test_decide import T0, analysis, at, observed, reasons, running, spec_of

CANARY = HeaderMatch(name="x-canary", value="internal")
MIRROR_STEPS: list[dict[str, Any]] = [
    {"setMirror": 50},
    {"analyze": {"duration": "10m"}},
    {"setHeaderRoute": {"match": [{"name": "x-canary", "value": "internal"}]}},
    {"approve": {}},
    {"setWeight": 25},
    {"analyze": {"duration": "10m"}},
]


def mirror_spec(**changes: Any) -> ModelRolloutSpec:
    return spec_of(steps=MIRROR_STEPS, **changes)


def at_step(step: int, weight: int = 0, **facts: Any) -> ModelRolloutStatus:
    return running(step=step, weight=weight, steps_hash=steps_hash(mirror_spec().steps), **facts)


def routed(mirror: float = 0.0, match: tuple[HeaderMatch, ...] = (), **kwargs: Any) -> Observed:
    """What the router reports: share 0 (unless given), ``mirror``, header route ``match``."""
    return replace(observed(**kwargs), effective_mirror=mirror, effective_header_match=match)


def test_a_ready_candidate_is_mirrored_before_any_weight_moves() -> None:
    start = decide(mirror_spec(), ModelRolloutStatus(), observed(ready=False), T0).status
    assert start.weight == 0
    decision = decide(mirror_spec(), start, routed(), at(1))
    assert decision.weight == 0
    assert decision.mirror == 50
    assert decision.status.mirror == 50
    assert "MirrorSet" in reasons(decision)
    assert decision.candidate_replicas == 2  # sized for half the baseline's 4 pods' requests
    assert decision.status.current_step == 0  # waits for the router to report the mirror


def test_the_mirror_step_advances_when_the_router_reports_it_and_analysis_starts() -> None:
    decision = decide(mirror_spec(), at_step(0, mirror=50), routed(mirror=0.5), at(4))
    assert decision.status.current_step == 1
    assert decision.weight == 0
    assert decision.status.analysis is not None  # at weight 0: the mirrored requests are judged


def test_an_analyze_step_while_mirroring_passes_on_mirrored_evidence() -> None:
    look = Evidence(analysis=analysis(Verdict.PASS, last_look_min=5))
    decision = decide(mirror_spec(), at_step(1, mirror=50), routed(mirror=0.5, evidence=look), at(5.1))
    assert decision.status.current_step == 2
    assert decision.mirror == 50  # kept through the next steps


def test_harm_during_the_mirror_step_removes_the_mirror_first_and_weight_stays_zero() -> None:
    look = Evidence(analysis=analysis(Verdict.FAIL, 6), rollback=("latency: candidate slower",))
    decision = decide(mirror_spec(), at_step(1, mirror=50), routed(mirror=0.5, evidence=look), at(6.1))
    assert decision.status.outcome is not None
    assert decision.status.outcome.result is Result.ROLLED_BACK
    assert (decision.weight, decision.mirror, decision.header_match) == (0, 0, ())
    assert decision.status.mirror is None
    assert reasons(decision)[:2] == ["MirrorSet", "AnalysisFailed"]


def test_failing_candidate_pods_roll_back_at_a_mirror_step() -> None:
    decision = decide(
        mirror_spec(), at_step(1, mirror=50), routed(mirror=0.5, failures=("model-v2-0: OOMKilled",)), at(4)
    )
    assert decision.status.outcome is not None
    assert decision.status.outcome.reason == "CandidateFailing"
    assert decision.mirror == 0


def test_a_header_route_step_routes_the_header_and_waits_for_the_router() -> None:
    status = at_step(2, mirror=50)
    waiting = decide(mirror_spec(), status, routed(mirror=0.5), at(7))
    assert waiting.header_match == (CANARY,)
    assert waiting.status.header_route == HeaderRoute(match=(CANARY,))
    assert waiting.status.current_step == 2
    assert "HeaderRouteSet" in reasons(waiting)
    moved = decide(mirror_spec(), waiting.status, routed(mirror=0.5, match=(CANARY,)), at(7.1))
    assert moved.status.current_step == 3


def test_set_weight_ends_the_mirror_and_keeps_the_header_route() -> None:
    route = HeaderRoute(match=(CANARY,))
    status = at_step(4, mirror=50, header_route=route)
    decision = decide(mirror_spec(), status, routed(mirror=0.5, match=(CANARY,)), at(8))
    assert (decision.weight, decision.mirror, decision.header_match) == (25, 0, (CANARY,))
    assert decision.status.current_step == 4  # the router still mirrors
    moved = decide(mirror_spec(), decision.status, routed(share=0.25, match=(CANARY,)), at(8.1))
    assert moved.status.current_step == 5


@pytest.mark.parametrize("ending", ["abort", "promotion"])
def test_abort_and_promotion_remove_mirror_and_header_route(ending: str) -> None:
    route = HeaderRoute(match=(CANARY,))
    if ending == "abort":
        spec = mirror_spec(abort={"reason": "pager", "version": "v2"})
        status, seen = at_step(1, mirror=50, header_route=route), routed(mirror=0.5, match=(CANARY,))
    else:
        spec = mirror_spec()
        status, seen = at_step(6, weight=100, header_route=route), routed(share=1.0, match=(CANARY,))
    decision = decide(spec, status, seen, at(9))
    assert decision.status.outcome is not None
    assert decision.status.outcome.result is (Result.ABORTED if ending == "abort" else Result.SUCCEEDED)
    assert (decision.mirror, decision.header_match) == (0, ())
    assert decision.status.header_route is None
