"""Manifests the controller tests and the e2e tests create: Deployments, Services, routes, rollouts.

Realistic on purpose: a model-server Deployment has a readiness probe on /readyz, a startup
probe, cpu/memory requests and (optionally) an accelerator request, as preflight expects.
"""

from __future__ import annotations

from typing import Any

from rollouts.api.resource import API_VERSION, KIND


def model_deployment(
    name: str,
    version: str,
    replicas: int = 2,
    *,
    gpus: int = 0,
    node_selector: dict[str, str] | None = None,
    readiness: bool = True,
    app: str = "model",
) -> dict[str, Any]:
    """A model-server Deployment labelled ``app`` and ``version``."""
    resources: dict[str, Any] = {"requests": {"cpu": "500m", "memory": "512Mi"}}
    if gpus:
        resources["requests"]["nvidia.com/gpu"] = str(gpus)
        resources["limits"] = {"nvidia.com/gpu": str(gpus)}
    container: dict[str, Any] = {
        "name": "server",
        "image": "model-server:latest",
        "ports": [{"containerPort": 8080, "name": "http"}],
        "resources": resources,
        "startupProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "failureThreshold": 60},
    }
    if readiness:
        container["readinessProbe"] = {"httpGet": {"path": "/readyz", "port": "http"}}
    pod_spec: dict[str, Any] = {"containers": [container], "terminationGracePeriodSeconds": 60}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    if gpus:
        pod_spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    labels = {"app": app, "version": version}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "progressDeadlineSeconds": 1800,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def http_route(name: str, baseline: str, candidate: str) -> dict[str, Any]:
    """An HTTPRoute whose only rule sends everything to ``baseline``."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {
            "parentRefs": [{"name": "gateway"}],
            "rules": [
                {
                    "backendRefs": [
                        {"name": baseline, "port": 80, "weight": 100},
                        {"name": candidate, "port": 80, "weight": 0},
                    ]
                }
            ],
        },
    }


def model_rollout(
    name: str,
    *,
    steps: list[dict[str, Any]],
    baseline: tuple[str, str] = ("model-v1", "v1"),
    candidate: tuple[str, str] = ("model-v2", "v2"),
    route: str | None = "model",
    analysis: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A ModelRollout; with ``route`` None it uses the replicas router."""
    traffic: dict[str, Any] = (
        {"gatewayAPI": {"httpRoute": route, "baselineBackend": baseline[0], "candidateBackend": candidate[0]}}
        if route
        else {"replicas": {}}
    )
    body: dict[str, Any] = {
        "baseline": {"deployment": baseline[0], "version": baseline[1]},
        "candidate": {"deployment": candidate[0], "version": candidate[1]},
        "traffic": traffic,
        "steps": steps,
        "scaleDown": {"delay": "2s", "drain": "1s"},
        "progressDeadline": "2m",
    }
    if analysis is not None:
        body["analysis"] = analysis
    body.update(spec)
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}, "spec": body}
