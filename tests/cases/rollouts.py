"""A valid ModelRollout and a corpus of malformed ones, each with where and why it is wrong.

The same corpus runs through ``rollouts lint`` (tests/unit/test_lint.py) and through a real
kube-apiserver with ``fieldValidation=Strict`` (tests/integration/test_crd_apiserver.py), so
the CRD and the models are held to the same rules. ``server`` says which part of the API
server is expected to refuse the object: the OpenAPI ``schema`` (types, patterns, bounds,
unknown fields) or a ``cel`` rule; ``server_message`` is a fragment of its message.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal


def valid_rollout(name: str = "fraud-scorer", namespace: str | None = None) -> dict[str, Any]:
    """A complete, valid ModelRollout using every metric kind."""
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "rollouts.modelops.io/v1alpha1",
        "kind": "ModelRollout",
        "metadata": metadata,
        "spec": {
            "baseline": {"deployment": "fraud-scorer-v1", "version": "2026-11-01"},
            "candidate": {"deployment": "fraud-scorer-v2", "version": "2026-11-20", "replicas": "auto"},
            "traffic": {
                "gatewayAPI": {
                    "httpRoute": "fraud-scorer",
                    "rule": 0,
                    "baselineBackend": "fraud-scorer-v1",
                    "candidateBackend": "fraud-scorer-v2",
                }
            },
            "steps": [
                {"setWeight": 5},
                {"analyze": {"duration": "15m"}},
                {"setWeight": 25},
                {"analyze": {"duration": "15m"}},
                {"approve": {}},
                {"setWeight": 50},
                {"analyze": {"duration": "15m"}},
                {"setWeight": 100},
            ],
            "analysis": {
                "prometheus": {"address": "http://prometheus.monitoring:9090"},
                "interval": "1m",
                "warmup": "2m",
                "alpha": 0.05,
                "metrics": [
                    {
                        "name": "errors",
                        "errorRate": {
                            "errors": 'model_requests_total{version="{{version}}", code=~"5.."}',
                            "total": 'model_requests_total{version="{{version}}"}',
                        },
                    },
                    {
                        "name": "latency",
                        "latency": {
                            "buckets": 'model_request_duration_seconds_bucket{version="{{version}}"}',
                            "slo": 0.5,
                        },
                    },
                    {
                        "name": "scores",
                        "drift": {"buckets": 'model_prediction_score_bucket{version="{{version}}"}'},
                    },
                    {
                        "name": "gpu-memory",
                        "guard": {"query": 'max(model_gpu_memory_mib{version="{{version}}"})', "max": 70000},
                    },
                ],
            },
            "progressDeadline": "20m",
        },
    }


@dataclass(frozen=True)
class Malformed:
    """One malformed ModelRollout: how to break a valid one, and what each checker must say."""

    name: str
    breaks: Callable[[dict[str, Any]], None]
    path: str
    message: str
    server: Literal["schema", "cel"]
    server_message: str

    def rollout(self) -> dict[str, Any]:
        """A fresh valid rollout with this case's defect applied."""
        obj = copy.deepcopy(valid_rollout(name=f"bad-{self.name}"))
        self.breaks(obj)
        return obj


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]
    return spec


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set a dotted path (list indexes as numbers) inside the object."""

    def apply(obj: dict[str, Any]) -> None:
        parts = path.split(".")
        node: Any = obj
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = parts[-1]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return apply


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(obj: dict[str, Any]) -> None:
        parts = path.split(".")
        node: Any = obj
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[parts[-1]]

    return apply


def _two_routers(obj: dict[str, Any]) -> None:
    _spec(obj)["traffic"]["replicas"] = {}


def _duplicate_metric(obj: dict[str, Any]) -> None:
    metrics = _spec(obj)["analysis"]["metrics"]
    metrics[1]["name"] = metrics[0]["name"]


def _two_step_kinds(obj: dict[str, Any]) -> None:
    _spec(obj)["steps"][0]["analyze"] = {"duration": "5m"}


def _two_metric_kinds(obj: dict[str, Any]) -> None:
    _spec(obj)["analysis"]["metrics"][0]["guard"] = {"query": 'up{version="{{version}}"}', "max": 1}


def _pinned_replicas_with_replicas_router(obj: dict[str, Any]) -> None:
    _spec(obj)["traffic"] = {"replicas": {}}
    _spec(obj)["candidate"]["replicas"] = 2


def _autoscaler_with_replicas_router(obj: dict[str, Any]) -> None:
    _spec(obj)["traffic"] = {"replicas": {}}
    _spec(obj)["autoscaler"] = {"kind": "HorizontalPodAutoscaler", "name": "model"}


def _kserve(obj: dict[str, Any]) -> None:
    """The kserve router on two revision Deployments of one InferenceService (valid so far)."""
    spec = _spec(obj)
    spec["traffic"] = {"kserve": {"inferenceService": "fraud-scorer"}}
    spec["baseline"]["deployment"] = "fraud-scorer-predictor-00001-deployment"
    spec["candidate"]["deployment"] = "fraud-scorer-predictor-00002-deployment"


def _kserve_with_mirror(obj: dict[str, Any]) -> None:
    _kserve(obj)
    _spec(obj)["steps"].insert(0, {"setMirror": 50})


def _kserve_with_autoscaler(obj: dict[str, Any]) -> None:
    _kserve(obj)
    _spec(obj)["autoscaler"] = {"kind": "HorizontalPodAutoscaler", "name": "fraud-scorer"}


def _kserve_with_pinned_replicas(obj: dict[str, Any]) -> None:
    _kserve(obj)
    _spec(obj)["candidate"]["replicas"] = 2


def _kserve_on_a_plain_deployment(obj: dict[str, Any]) -> None:
    _kserve(obj)
    _spec(obj)["candidate"]["deployment"] = "fraud-scorer-v2"


def _inference_services(obj: dict[str, Any]) -> None:
    """Baseline and candidate as raw-mode InferenceServices (valid so far)."""
    spec = _spec(obj)
    spec["baseline"] = {"inferenceService": "fraud-scorer-v1", "version": spec["baseline"]["version"]}
    spec["candidate"] = {"inferenceService": "fraud-scorer-v2", "version": spec["candidate"]["version"]}


def _same_inference_service(obj: dict[str, Any]) -> None:
    _inference_services(obj)
    _spec(obj)["candidate"]["inferenceService"] = "fraud-scorer-v1"


def _predictor_named_twice(obj: dict[str, Any]) -> None:
    """The candidate's InferenceService serves from the Deployment the baseline names."""
    _spec(obj)["baseline"]["deployment"] = "fraud-scorer-v2-predictor"
    _spec(obj)["candidate"] = {"inferenceService": "fraud-scorer-v2", "version": "2026-11-20"}


def _kserve_on_an_inference_service(obj: dict[str, Any]) -> None:
    _kserve(obj)
    _spec(obj)["candidate"] = {"inferenceService": "fraud-scorer", "version": "2026-11-20"}


def _first_step(step: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """Insert ``step`` before the plan's first."""

    def apply(obj: dict[str, Any]) -> None:
        _spec(obj)["steps"].insert(0, step)

    return apply


def _mirror_with_replicas_router(obj: dict[str, Any]) -> None:
    _spec(obj)["traffic"] = {"replicas": {}}
    _spec(obj)["steps"].insert(0, {"setMirror": 50})


MALFORMED: tuple[Malformed, ...] = (
    Malformed(
        "unknown-field",
        _set("spec.candidate.replica", 3),
        "spec.candidate.replica",
        "unknown field 'replica'",
        "schema",
        'unknown field "spec.candidate.replica"',
    ),
    Malformed(
        "two-routers",
        _two_routers,
        "spec.traffic",
        "exactly one router must be set",
        "cel",
        "exactly one router must be set",
    ),
    Malformed(
        "no-router",
        _set("spec.traffic", {}),
        "spec.traffic",
        "exactly one router must be set",
        "cel",
        "exactly one router must be set",
    ),
    Malformed(
        "weight-150",
        _set("spec.steps.0.setWeight", 150),
        "spec.steps[0].setWeight",
        "less than or equal to 100",
        "schema",
        "should be less than or equal to 100",
    ),
    Malformed(
        "decreasing-weights",
        _set("spec.steps.2.setWeight", 2),
        "spec.steps[2].setWeight",
        "must not decrease",
        "cel",
        "setWeight values must not decrease",
    ),
    Malformed(
        "duration-in-words",
        _set("spec.steps.1.analyze.duration", "15 minutes"),
        "spec.steps[1].analyze.duration",
        "does not match the expected form",
        "schema",
        "should match",
    ),
    Malformed(
        "duplicate-metric-names",
        _duplicate_metric,
        "spec.analysis.metrics[1].name",
        "used twice",
        "schema",
        "Duplicate value",
    ),
    Malformed(
        "missing-candidate",
        _delete("spec.candidate"),
        "spec.candidate",
        "required field 'candidate' is missing",
        "schema",
        "spec.candidate: Required value",
    ),
    Malformed(
        "alpha-zero",
        _set("spec.analysis.alpha", 0),
        "spec.analysis.alpha",
        "greater than 0",
        "schema",
        "should be greater than 0",
    ),
    Malformed(
        "empty-steps",
        _set("spec.steps", []),
        "spec.steps",
        "at least 1 item",
        "schema",
        "should have at least 1 items",
    ),
    Malformed(
        "unknown-metric-kind",
        _set("spec.analysis.metrics.0", {"name": "errors", "apdex": {"target": 0.5}}),
        "spec.analysis.metrics[0].apdex",
        "unknown field 'apdex'",
        "schema",
        'unknown field "spec.analysis.metrics[0].apdex"',
    ),
    Malformed(
        "interval-5s",
        _set("spec.analysis.interval", "5s"),
        "spec.analysis.interval",
        "interval must be at least 10s",
        "cel",
        "interval must be at least 10s",
    ),
    Malformed(
        "string-for-number",
        _set("spec.analysis.errorBudget", "three"),
        "spec.analysis.errorBudget",
        "valid integer",
        "schema",
        "must be of type integer",
    ),
    Malformed(
        "alpha-above-half",
        _set("spec.analysis.alpha", 0.6),
        "spec.analysis.alpha",
        "less than or equal to 0.5",
        "schema",
        "should be less than or equal to 0.5",
    ),
    Malformed(
        "native-histogram-with-slo",
        _set("spec.analysis.metrics.1.latency.histogram", "native"),
        "spec.analysis.metrics[1].latency.slo",
        "slo needs histogram: classic",
        "cel",
        "slo needs histogram: classic",
    ),
    Malformed(
        "same-deployment",
        _set("spec.candidate.deployment", "fraud-scorer-v1"),
        "spec.candidate.deployment",
        "baseline and candidate must be different Deployments",
        "cel",
        "baseline and candidate must be different Deployments",
    ),
    Malformed(
        "deployment-and-inference-service",
        _set("spec.candidate.inferenceService", "fraud-scorer-v2"),
        "spec.candidate.inferenceService",
        "give exactly one of deployment and inferenceService",
        "cel",
        "give exactly one of deployment and inferenceService",
    ),
    Malformed(
        "neither-deployment-nor-inference-service",
        _delete("spec.baseline.deployment"),
        "spec.baseline.deployment",
        "give exactly one of deployment and inferenceService",
        "cel",
        "give exactly one of deployment and inferenceService",
    ),
    Malformed(
        "same-inference-service",
        _same_inference_service,
        "spec.candidate.inferenceService",
        "baseline and candidate must be different Deployments",
        "cel",
        "baseline and candidate must be different Deployments",
    ),
    Malformed(
        "predictor-named-as-the-baseline-deployment",
        _predictor_named_twice,
        "spec.candidate.inferenceService",
        "baseline and candidate must be different Deployments",
        "cel",
        "baseline and candidate must be different Deployments",
    ),
    Malformed(
        "kserve-router-on-an-inference-service",
        _kserve_on_an_inference_service,
        "spec.candidate.deployment",
        "name revision Deployments",
        "cel",
        "name revision Deployments",
    ),
    Malformed(
        "two-step-kinds",
        _two_step_kinds,
        "spec.steps[0]",
        "exactly one step kind must be set",
        "cel",
        "exactly one step kind must be set",
    ),
    Malformed(
        "two-metric-kinds",
        _two_metric_kinds,
        "spec.analysis.metrics[0]",
        "exactly one metric kind must be set",
        "cel",
        "exactly one metric kind must be set",
    ),
    Malformed(
        "negative-weight",
        _set("spec.steps.0.setWeight", -5),
        "spec.steps[0].setWeight",
        "greater than or equal to 0",
        "schema",
        "should be greater than or equal to 0",
    ),
    Malformed(
        "replicas-word",
        _set("spec.candidate.replicas", "many"),
        "spec.candidate.replicas",
        'replicas must be "auto" or a whole number',
        "cel",
        'replicas must be "auto" or a whole number',
    ),
    Malformed(
        "bad-version-label",
        _set("spec.candidate.version", "v2 final!"),
        "spec.candidate.version",
        "does not match the expected form",
        "schema",
        "should match",
    ),
    Malformed(
        "unknown-inconclusive-policy",
        _set("spec.analysis.inconclusive", "ignore"),
        "spec.analysis.inconclusive",
        "'hold', 'rollback' or 'promote'",
        "schema",
        "Unsupported value",
    ),
    Malformed(
        "guard-without-bound",
        _set("spec.analysis.metrics.3.guard", {"query": 'up{version="{{version}}"}'}),
        "spec.analysis.metrics[3].guard",
        "set max, min or both",
        "cel",
        "set max, min or both",
    ),
    Malformed(
        "approval-out-of-range",
        _set("spec.approvals", [{"step": 12, "version": "2026-11-20"}]),
        "spec.approvals[0].step",
        "each approval must name a step index of spec.steps",
        "cel",
        "each approval must name a step index of spec.steps",
    ),
    Malformed(
        "pinned-replicas-with-replicas-router",
        _pinned_replicas_with_replicas_router,
        "spec.candidate.replicas",
        'candidate.replicas must be "auto"',
        "cel",
        'candidate.replicas must be "auto"',
    ),
    Malformed(
        "autoscaler-with-replicas-router",
        _autoscaler_with_replicas_router,
        "spec.autoscaler",
        "an autoscaler would undo every baseline scale-down",
        "cel",
        "an autoscaler would undo every baseline scale-down",
    ),
    Malformed(
        "metrics-without-prometheus",
        _delete("spec.analysis.prometheus"),
        "spec.analysis.prometheus",
        "prometheus is required",
        "cel",
        "prometheus is required when metrics or readyQuery are set",
    ),
    Malformed(
        "drift-warn-above-fail",
        _set("spec.analysis.metrics.2.drift.warn", 0.5),
        "spec.analysis.metrics[2].drift.warn",
        "warn must not exceed fail",
        "cel",
        "warn must not exceed fail",
    ),
    # --- issue 10: plans that mean nothing, credentials, cohorts, versions, variables ---
    Malformed(
        "zero-weight",
        _set("spec.steps.0.setWeight", 0),
        "spec.steps[0].setWeight",
        "setWeight must be greater than 0",
        "cel",
        "setWeight must be greater than 0",
    ),
    Malformed(
        "approve-before-any-weight",
        _set("spec.steps", [{"approve": {}}]),
        "spec.steps",
        "the first step must be a setWeight",
        "cel",
        "the first step must be a setWeight",
    ),
    Malformed(
        "same-version",
        _set("spec.candidate.version", "2026-11-01"),
        "spec.candidate.version",
        "baseline and candidate must be different versions",
        "cel",
        "baseline and candidate must be different versions",
    ),
    Malformed(
        "credentials-in-address",
        _set("spec.analysis.prometheus.address", "http://admin:hunter2@prometheus:9090"),
        "spec.analysis.prometheus.address",
        "address must not carry credentials",
        "cel",
        "address must not carry credentials",
    ),
    Malformed(
        "token-in-address-query",
        _set("spec.analysis.prometheus.address", "http://prometheus:9090/?token=abc"),
        "spec.analysis.prometheus.address",
        "address must not have a query string or fragment",
        "cel",
        "address must not have a query string or fragment",
    ),
    Malformed(
        "query-without-version",
        _set("spec.analysis.metrics.0.errorRate.total", "sum(model_requests_total)"),
        "spec.analysis.metrics[0].errorRate.total",
        "the query must use {{version}}",
        "cel",
        "the query must use {{version}}",
    ),
    Malformed(
        "guard-min-above-max",
        _set("spec.analysis.metrics.3.guard.min", 80000),
        "spec.analysis.metrics[3].guard.min",
        "guard min must not exceed max",
        "cel",
        "guard min must not exceed max",
    ),
    Malformed(
        "drift-range-reversed",
        _set("spec.analysis.metrics.2.drift.range", {"min": 1, "max": 0}),
        "spec.analysis.metrics[2].drift.range.min",
        "range.min must be less than range.max",
        "cel",
        "range.min must be less than range.max",
    ),
    Malformed(
        "timeout-zero",
        _set("spec.analysis.prometheus.timeout", "0s"),
        "spec.analysis.prometheus.timeout",
        "must be longer than 0s",
        "cel",
        "must be longer than 0s",
    ),
    Malformed(
        "progress-deadline-zero",
        _set("spec.progressDeadline", "0m"),
        "spec.progressDeadline",
        "must be longer than 0s",
        "cel",
        "must be longer than 0s",
    ),
    Malformed(
        "variable-key-with-hyphen",
        _set("spec.analysis.variables", {"my-team": "fraud"}),
        "spec.analysis.variables",
        "keys must match",
        "cel",
        "keys must match",
    ),
    Malformed(
        "variable-named-version",
        _set("spec.analysis.variables", {"version": "v9"}),
        "spec.analysis.variables",
        "variables must not be named version, interval or namespace",
        "cel",
        "variables must not be named version, interval or namespace",
    ),
    Malformed(
        "variable-regex-value",
        _set("spec.analysis.variables", {"team": ".*"}),
        "spec.analysis.variables.team",
        "does not match the expected form",
        "schema",
        "should match",
    ),
    Malformed(
        "weight-as-text",
        _set("spec.steps.0.setWeight", "50"),
        "spec.steps[0].setWeight",
        "valid integer",
        "schema",
        "must be of type integer",
    ),
    Malformed(
        "approval-without-version",
        _set("spec.approvals", [{"step": 4}]),
        "spec.approvals[0].version",
        "required field 'version' is missing",
        "schema",
        "spec.approvals[0].version: Required value",
    ),
    Malformed(
        "lowercase-t-is-fine-but-a-space-is-not",
        _set("spec.retry", {"requestedAt": "2026-11-28 13:50:00z"}),
        "spec.retry.requestedAt",
        "is not an RFC 3339 date-time",
        "schema",
        "in body must be of type date-time",
    ),
    Malformed(
        "notifier-named-twice",
        _set(
            "spec.notifications",
            [
                {"notifier": "oncall", "events": ["RolledBack"]},
                {"notifier": "oncall", "events": ["Promoted"]},
            ],
        ),
        "spec.notifications[1].notifier",
        "notifier 'oncall' is named twice",
        "schema",
        "Duplicate value",
    ),
    Malformed(
        "notifier-without-events",
        _set("spec.notifications", [{"notifier": "oncall", "events": []}]),
        "spec.notifications[0].events",
        "at least 1 item",
        "schema",
        "should have at least 1 items",
    ),
    Malformed(
        "notifier-unknown-event",
        _set("spec.notifications", [{"notifier": "oncall", "events": ["Paused"]}]),
        "spec.notifications[0].events[0]",
        "Input should be",
        "schema",
        "Unsupported value",
    ),
    Malformed(
        "kserve-with-mirror",
        _kserve_with_mirror,
        "spec.steps[0].setMirror",
        "the kserve router can neither mirror nor route by header",
        "cel",
        "the kserve router can neither mirror nor route by header",
    ),
    Malformed(
        "kserve-with-autoscaler",
        _kserve_with_autoscaler,
        "spec.traffic.kserve",
        "Knative's autoscaler sizes each revision",
        "cel",
        "Knative's autoscaler sizes each revision",
    ),
    Malformed(
        "kserve-with-pinned-replicas",
        _kserve_with_pinned_replicas,
        "spec.traffic.kserve",
        "a number in candidate.replicas cannot be set",
        "cel",
        "a number in candidate.replicas cannot be set",
    ),
    Malformed(
        "kserve-on-a-plain-deployment",
        _kserve_on_a_plain_deployment,
        "spec.candidate.deployment",
        "name revision Deployments",
        "cel",
        "name revision Deployments",
    ),
    Malformed(
        "mirror-with-replicas-router",
        _mirror_with_replicas_router,
        "spec.steps[0].setMirror",
        "the replicas router can neither mirror nor route by header",
        "cel",
        "the replicas router can neither mirror nor route by header",
    ),
    Malformed(
        "mirror-zero-first",
        _first_step({"setMirror": 0}),
        "spec.steps",
        "the first step must be a setWeight, a setMirror above 0 or a setHeaderRoute",
        "cel",
        "the first step must be a setWeight, a setMirror above 0 or a setHeaderRoute",
    ),
    Malformed(
        "mirror-over-100",
        _first_step({"setMirror": 150}),
        "spec.steps[0].setMirror",
        "less than or equal to 100",
        "schema",
        "should be less than or equal to 100",
    ),
    Malformed(
        "header-route-without-headers",
        _first_step({"setHeaderRoute": {"match": []}}),
        "spec.steps[0].setHeaderRoute.match",
        "at least 1 item",
        "schema",
        "should have at least 1 items",
    ),
    Malformed(
        "header-name-with-a-space",
        _first_step({"setHeaderRoute": {"match": [{"name": "x canary", "value": "internal"}]}}),
        "spec.steps[0].setHeaderRoute.match[0].name",
        "does not match the expected form",
        "schema",
        "should match",
    ),
)
