"""The kserve router's pure parts: the spec, the share KServe reports, the traffic model.

The router's writes and reads against a real API server with KServe's own CRD are in
tests/integration/test_kserve.py; the spec's refusals run through lint and the API server in
tests/cases/rollouts.py.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from rollouts.api.lint import lint_object
from rollouts.api.spec import ModelRolloutSpec
from rollouts.api.status import Result
from rollouts.controller.core.decide import decide
from rollouts.controller.core.observed import DeploymentState
from rollouts.controller.shell.trim import trim_autoscaler
from rollouts.guardrails.autoscalers import autoscaler_of
from rollouts.guardrails.preflight import Rule, preflight
from rollouts.routers.registry import FACTORIES
from rollouts.traffic.base import RouterError
from rollouts.traffic.kserve import KServeTraffic, revision_of, revision_share
from rollouts.traffic.registry import traffic_model
from tests.cases.rollouts import valid_rollout
from tests.unit.test_autoscalers import _deployments
from tests.unit.test_decide import at, observed, running, spec_of

V1, V2 = "fraud-scorer-predictor-00001", "fraud-scorer-predictor-00002"


def _kserve_rollout() -> dict[str, Any]:
    obj = valid_rollout()
    spec = obj["spec"]
    spec["traffic"] = {"kserve": {"inferenceService": "fraud-scorer"}}
    spec["baseline"]["deployment"] = f"{V1}-deployment"
    spec["candidate"]["deployment"] = f"{V2}-deployment"
    return obj


def _isvc(*traffic: tuple[str, int, bool]) -> dict[str, Any]:
    """An InferenceService whose status reports ``(revision, percent, latestRevision)`` targets."""
    targets = [
        {"revisionName": name, "percent": percent, "latestRevision": latest}
        for name, percent, latest in traffic
    ]
    return {
        "metadata": {"name": "fraud-scorer"},
        "status": {"components": {"predictor": {"traffic": targets}}},
    }


def test_a_kserve_rollout_lints_clean_and_picks_the_kserve_model_and_router() -> None:
    rollout, problems = lint_object(_kserve_rollout())
    assert rollout is not None and not [p for p in problems if p.severity == "error"]
    traffic = rollout.spec.traffic
    assert traffic.chosen() == "kserve" and "kserve" in FACTORIES
    assert isinstance(traffic_model(traffic), KServeTraffic)


def test_the_model_claims_the_inference_service_and_expects_the_percent_written() -> None:
    spec = ModelRolloutSpec.model_validate(_kserve_rollout()["spec"])
    model = KServeTraffic()
    assert model.claimed(spec) == frozenset({"InferenceService fraud-scorer"})
    assert model.expected_share(spec, 25, 4) == 0.25
    assert not model.pods_are_traffic


def test_a_revision_is_its_deployments_name_without_the_suffix() -> None:
    assert revision_of(f"{V2}-deployment") == V2


def test_the_share_is_the_candidate_revisions_reported_percent() -> None:
    assert revision_share(_isvc((V2, 10, True), (V1, 90, False)), V1, V2) == pytest.approx(0.10)
    assert revision_share(_isvc((V2, 100, True)), V1, V2) == 1.0


def test_a_candidate_not_ready_yet_gets_no_share_whatever_was_asked() -> None:
    """Knative resolves latestRevision to the latest *ready* revision: the baseline, twice."""
    assert revision_share(_isvc((V1, 25, True), (V1, 75, False)), V1, V2) == 0.0


@pytest.mark.parametrize(
    ("isvc", "message"),
    [
        (_isvc(), "reports no predictor traffic yet"),
        (_isvc((V2, 0, True), (V1, 0, False)), "0% traffic on every revision"),
        (
            _isvc((V2, 10, True), ("fraud-scorer-predictor-00000", 90, False)),
            "also sends traffic to revision",
        ),
    ],
    ids=["no-status", "all-zero", "third-revision"],
)
def test_a_share_that_is_not_the_split_between_the_two_revisions_is_an_error(
    isvc: dict[str, Any], message: str
) -> None:
    with pytest.raises(RouterError, match=message):
        revision_share(isvc, V1, V2)


def test_a_third_revision_at_zero_percent_is_no_problem() -> None:
    isvc = _isvc((V2, 10, True), (V1, 90, False), ("fraud-scorer-predictor-00000", 0, False))
    assert revision_share(isvc, V1, V2) == pytest.approx(0.10)


def test_lint_hints_at_the_revision_deployment_names() -> None:
    obj = _kserve_rollout()
    obj["spec"]["baseline"]["deployment"] = "fraud-scorer-v1"
    rollout, problems = lint_object(obj)
    assert rollout is None
    (problem,) = problems
    assert problem.path == "spec.baseline.deployment"
    assert "latestRolledoutRevision" in problem.hint


def test_kserves_own_hpa_is_read_as_kserves_and_its_fix_is_the_external_class() -> None:
    """Raw mode's HPA, as KServe makes it (controller owner: the InferenceService), trimmed as
    the controller caches it; preflight's fix is KServe's annotation, not a hand-over."""
    owner = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "name": "m1",
        "controller": True,
    }
    hpa = {
        "metadata": {"name": "model-v1", "ownerReferences": [owner]},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "model-v1"},
            "maxReplicas": 3,
        },
    }
    kserves = autoscaler_of(trim_autoscaler(hpa))
    assert kserves.managed_by == "InferenceService"
    baseline, candidate = _deployments()
    (finding,) = preflight(spec_of(), baseline, candidate, (kserves,)).errors
    assert finding.rule is Rule.AUTOSCALER_CONFLICT
    assert "serving.kserve.io/autoscalerClass: external" in finding.fix


def test_knative_sizes_the_revisions_the_controller_writes_no_replicas() -> None:
    """platform_sizes: no size at a step, at the promotion or after scaleDown.delay."""
    assert KServeTraffic().platform_sizes and not traffic_model(spec_of().traffic).platform_sizes
    kserve = {"kserve": {"inferenceService": "fraud-scorer"}}
    spec = spec_of(
        traffic=kserve,
        baseline={"deployment": f"{V1}-deployment", "version": "v1"},
        candidate={"deployment": f"{V2}-deployment", "version": "v2"},
    )
    sized = replace(observed(share=0.50), baseline=DeploymentState(f"{V1}-deployment", replicas=4, ready=4))
    sized = replace(sized, candidate=DeploymentState(f"{V2}-deployment", replicas=2, ready=2))
    setting = decide(spec, running(step=5, weight=50), sized, at(30))
    assert setting.weight == 100
    assert (setting.baseline_replicas, setting.candidate_replicas) == (None, None)
    done = decide(spec, setting.status, replace(sized, effective_share=1.0), at(30.1))
    assert done.status.outcome is not None and done.status.outcome.result is Result.SUCCEEDED
    later = decide(spec, done.status, replace(sized, effective_share=1.0), at(35.2))
    assert (later.baseline_replicas, later.candidate_replicas, later.scale_to_zero) == (None, None, ())
    assert later.status.scaled_down_at is not None
    assert any("left to the platform's autoscaler" in event.message for event in later.events)
