"""A KServe InferenceService's predictor, seen as the Deployment KServe will make from it.

Preflight judges a candidate's pod template; a rollout whose candidate names an InferenceService
should be judged before KServe has made the predictor Deployment, and its findings must name the
InferenceService's own fields (what its owner edits), not the Deployment's.

In raw mode KServe builds the predictor's pod spec from ``spec.predictor``, which inlines a
PodSpec (``containers``, ``tolerations``, ``nodeSelector``, ``affinity``, ...), and puts the
model server container first when ``spec.predictor.model`` is given (KServe names it
``kserve-container``; a ServingRuntime supplies its image and arguments, the InferenceService its
``resources``, ``env``, ``args`` and probes). So :func:`predictor_deployment` makes a
Deployment-shaped view with ``model`` as container 0, and :func:`predictor_path` maps a field path
of that view back: ``spec.template.spec.containers[0].resources`` is
``spec.predictor.model.resources``, ``spec.template.spec.containers[i]`` is
``spec.predictor.containers[i - 1]`` (or ``[i]`` without a model), ``spec.template.spec.X`` is
``spec.predictor.X``.

Decision — runtimes are not resolved: a ServingRuntime's own container resources (used when the
InferenceService gives none) are not read, so preflight judges what the InferenceService says.
"""

from __future__ import annotations

import re
from dataclasses import replace

from rollouts.guardrails.objects import POD_SPEC_PATH, KubeObject, mapping, mappings, name_of
from rollouts.guardrails.preflight import Finding, PreflightReport

MODEL_CONTAINER = "kserve-container"
"""The name KServe gives the model server container it builds from ``spec.predictor.model``."""

PREDICTOR_PATH = "spec.predictor"

_EXTENSION_FIELDS = frozenset(
    {"model", "minReplicas", "maxReplicas", "labels", "annotations", "scaleTarget", "scaleMetric"}
    | {"scaleMetricType", "autoScaling", "containerConcurrency", "timeout", "canaryTrafficPercent"}
    | {"logger", "batcher", "workerSpec", "deploymentStrategy", "storageUris", "name"}
)
"""``spec.predictor`` fields that are KServe's, not the inlined PodSpec's."""

_CONTAINER = re.compile(re.escape(POD_SPEC_PATH) + r"\.containers\[(\d+)\]")


def predictor_deployment(isvc: KubeObject, name: str) -> KubeObject:
    """The predictor Deployment ``name`` as KServe would make it, as far as preflight reads it."""
    predictor = mapping(isvc, "spec", "predictor")
    pod = {key: item for key, item in predictor.items() if key not in _EXTENSION_FIELDS}
    model = mapping(predictor, "model")
    containers = [{"name": MODEL_CONTAINER, **model}] if model else []
    pod["containers"] = containers + mappings(predictor, "containers")
    metadata = {
        "labels": dict(mapping(predictor, "labels")),
        "annotations": dict(mapping(predictor, "annotations")),
    }
    return {"metadata": {"name": name}, "spec": {"template": {"metadata": metadata, "spec": pod}}}


def predictor_path(text: str, isvc: KubeObject) -> str:
    """``text`` with the view's field paths rewritten to the InferenceService's."""
    has_model = bool(mapping(isvc, "spec", "predictor", "model"))

    def container(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if has_model and index == 0:
            return f"{PREDICTOR_PATH}.model"
        return f"{PREDICTOR_PATH}.containers[{index - has_model}]"

    return _CONTAINER.sub(container, text).replace(POD_SPEC_PATH, PREDICTOR_PATH)


def inference_service_report(report: PreflightReport, isvc: KubeObject) -> PreflightReport:
    """``report`` on the view, told about the InferenceService: its name, its field paths."""

    def told(finding: Finding) -> Finding:
        return replace(
            finding,
            path=predictor_path(finding.path, isvc),
            message=predictor_path(finding.message, isvc),
            fix=predictor_path(finding.fix, isvc),
        )

    findings = tuple(told(finding) for finding in report.findings)
    return replace(report, candidate=name_of(isvc), kind="InferenceService", findings=findings)


__all__ = ["MODEL_CONTAINER", "inference_service_report", "predictor_deployment", "predictor_path"]
