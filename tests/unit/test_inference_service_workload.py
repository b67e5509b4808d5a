"""Baseline and candidate naming KServe InferenceServices: the spec's reads, the candidate's
health as fetch builds it (readiness, preflight on the predictor's spec), and the scaler's
min/max replicas patch, and which object sizes a replaced candidate's Deployment.

The controller run with KServe's own controller is tests/integration/test_kserve_raw.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from rollouts.api.spec import ModelRolloutSpec, WorkloadKind
from rollouts.api.status import ModelRolloutStatus
from rollouts.controller.shell.fetch import World, candidate_health
from rollouts.controller.shell.scaling.inference_service import replicas_patch, sizing_inference_service
from rollouts.guardrails.inference_services import predictor_path
from rollouts.local.manifests import model_deployment, raw_inference_service
from tests.cases.rollouts import valid_rollout

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def _spec() -> ModelRolloutSpec:
    spec = valid_rollout()["spec"]
    spec["baseline"] = {"inferenceService": "m1", "version": "v1"}
    spec["candidate"] = {"inferenceService": "m2", "version": "v2"}
    return ModelRolloutSpec.model_validate(spec)


def test_an_inference_service_is_read_through_its_predictor_deployment() -> None:
    spec = _spec()
    assert spec.candidate.kind is WorkloadKind.INFERENCE_SERVICE
    assert spec.candidate.workload_deployment == "m2-predictor"
    assert spec.candidate.workload == "InferenceService m2"
    plain = ModelRolloutSpec.model_validate(valid_rollout()["spec"])
    assert plain.candidate.kind is WorkloadKind.DEPLOYMENT
    assert plain.candidate.workload_deployment == plain.candidate.name == "fraud-scorer-v2"


def _available(name: str) -> dict[str, Any]:
    deployment = model_deployment(name, "v", replicas=1)
    deployment["metadata"] |= {"namespace": "ml", "generation": 1}
    deployment["status"] = {
        "observedGeneration": 1,
        "replicas": 1,
        "updatedReplicas": 1,
        "availableReplicas": 1,
        "conditions": [{"type": "Available", "status": "True"}],
    }
    return deployment


def _world(isvcs: dict[str, dict[str, Any]], deployments: dict[str, dict[str, Any]]) -> World:
    return World(deployment=deployments.get, pods=lambda: (), nodes=lambda: (), inference_service=isvcs.get)


def _isvc(name: str, predictor_ready: str) -> dict[str, Any]:
    condition = {"type": "PredictorReady", "status": predictor_ready, "reason": "Progressing"}
    return {"metadata": {"name": name}, "status": {"conditions": [condition]}}


def test_the_candidate_waits_for_its_inference_service() -> None:
    spec, status = _spec(), ModelRolloutStatus()
    predictors = {name: _available(name) for name in ("m1-predictor", "m2-predictor")}
    missing = candidate_health(spec, status, _world({}, predictors), NOW)
    assert missing.not_ready_reason == "InferenceService m2 not found"
    isvcs = {"m2": _isvc("m2", "True")}
    unmade = candidate_health(spec, status, _world(isvcs, {"m1-predictor": predictors["m1-predictor"]}), NOW)
    assert unmade.not_ready_reason == "InferenceService m2: its predictor Deployment m2-predictor not found"
    waiting = candidate_health(spec, status, _world({"m2": _isvc("m2", "False")}, predictors), NOW)
    assert not waiting.ready
    assert waiting.not_ready_reason == "InferenceService m2 is not PredictorReady: Progressing"
    assert candidate_health(spec, status, _world(isvcs, predictors), NOW).ready


@pytest.mark.parametrize(
    ("predictor", "replicas", "patch"),
    [
        (
            {"minReplicas": 1, "maxReplicas": 3},
            4,
            [
                {"op": "test", "path": "/spec/predictor/minReplicas", "value": 1},
                {"op": "replace", "path": "/spec/predictor/minReplicas", "value": 4},
                {"op": "test", "path": "/spec/predictor/maxReplicas", "value": 3},
                {"op": "replace", "path": "/spec/predictor/maxReplicas", "value": 4},
            ],
        ),
        (
            {},
            0,
            [
                {"op": "add", "path": "/spec/predictor/minReplicas", "value": 0},
                {"op": "add", "path": "/spec/predictor/maxReplicas", "value": 0},
            ],
        ),
        ({"minReplicas": 2, "maxReplicas": 2}, 2, []),
    ],
    ids=["resize", "scale-to-zero-without-counts", "already-sized"],
)
def test_the_scaler_patches_min_and_max_replicas_guarded_by_what_it_read(
    predictor: dict[str, Any], replicas: int, patch: list[dict[str, Any]]
) -> None:
    isvc = {"metadata": {"name": "m2"}, "spec": {"predictor": predictor}}
    assert replicas_patch(isvc, replicas) == patch


def test_preflight_judges_the_predictor_spec_before_kserve_makes_the_deployment() -> None:
    """The candidate's model lost the baseline's GPU: found in the InferenceService, at its field."""
    baseline = _available("m1-predictor")
    baseline["spec"] = model_deployment("m1-predictor", "v1", gpus=1)["spec"]
    pod = baseline["spec"]["template"]["spec"]
    pod["containers"][0]["name"] = "kserve-container"  # as KServe names the model's container
    model = {"modelFormat": {"name": "sklearn"}, "resources": {"requests": {"cpu": "1"}}}
    placement = {key: pod[key] for key in ("tolerations", "terminationGracePeriodSeconds")}
    isvc = {
        "metadata": {"name": "m2"},
        "spec": {"predictor": {"model": model, "minReplicas": 1, **placement}},
    }
    health = candidate_health(
        _spec(), ModelRolloutStatus(), _world({"m2": isvc}, {"m1-predictor": baseline}), NOW
    )
    assert health.not_ready_reason == "InferenceService m2: its predictor Deployment m2-predictor not found"
    (error,) = health.preflight_errors
    assert error.startswith(
        "candidate InferenceService m2: spec.predictor.model.resources: container 'kserve-container' asks "
        "for 0 nvidia.com/gpu where the baseline's asks for 1"
    ), error
    assert "in spec.predictor.model.resources.limits" in error


@pytest.mark.parametrize(
    ("path", "predictor", "said"),
    [
        ("spec.template.spec.containers[0].resources", {"model": {"x": 1}}, "spec.predictor.model.resources"),
        ("spec.template.spec.containers[1].env", {"model": {"x": 1}}, "spec.predictor.containers[0].env"),
        ("spec.template.spec.containers[0].resources", {}, "spec.predictor.containers[0].resources"),
        ("spec.template.spec.nodeSelector", {}, "spec.predictor.nodeSelector"),
    ],
)
def test_a_field_path_of_the_view_names_the_inference_services_field(
    path: str, predictor: dict[str, Any], said: str
) -> None:
    assert predictor_path(path, {"spec": {"predictor": predictor}}) == said


def _predictor(owner_kind: str = "InferenceService", controller: bool = True) -> dict[str, Any]:
    deployment = model_deployment("m2-predictor", "v2")
    owner = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": owner_kind,
        "name": "m2",
        "controller": controller,
    }
    deployment["metadata"]["ownerReferences"] = [owner]
    return deployment


@pytest.mark.parametrize(
    ("deployment", "autoscaler_class", "through"),
    [
        (_predictor(), "none", "m2"),  # KServe sets replicas = minReplicas: a Deployment write is undone
        (_predictor(), "external", None),  # KServe leaves the size alone: the Deployment is written
        (_predictor(controller=False), "none", None),
        (_predictor(owner_kind="TrainedModel"), "none", None),
        (model_deployment("model-v2", "v2"), "none", None),  # a plain Deployment, no KServe owner
    ],
)
def test_a_replaced_candidate_is_sized_through_the_inference_service_kserve_sizes_it_from(
    deployment: dict[str, Any], autoscaler_class: str, through: str | None
) -> None:
    isvc = raw_inference_service("m2", "v2", autoscaler_class=autoscaler_class)
    assert sizing_inference_service(deployment, isvc) == through


def test_a_replaced_candidate_whose_inference_service_is_gone_is_sized_as_a_deployment() -> None:
    assert sizing_inference_service(_predictor(), None) is None
