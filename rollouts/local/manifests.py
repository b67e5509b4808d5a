"""Kubernetes manifests of a model-serving setup: Deployments, Services, routes, InferenceServices.

Realistic on purpose, so preflight has something true to check: a model-server Deployment has a
readiness and a startup probe on /readyz, cpu/memory requests, and optionally an accelerator
request with the toleration GPU nodes usually carry. The demo, the e2e tests and the controller
tests all build their objects here.
"""

from __future__ import annotations

from typing import Any

KubeManifest = dict[str, Any]


def model_deployment(
    name: str,
    version: str,
    replicas: int = 1,
    *,
    gpus: int = 0,
    app: str = "model",
    node_selector: dict[str, str] | None = None,
    readiness: bool = True,
) -> KubeManifest:
    """A model-server Deployment whose pods are labelled ``app`` and ``version``."""
    resources: dict[str, Any] = {"requests": {"cpu": "500m", "memory": "1Gi"}}
    if gpus:
        resources["requests"]["nvidia.com/gpu"] = str(gpus)
        resources["limits"] = {"nvidia.com/gpu": str(gpus)}
    container: dict[str, Any] = {
        "name": "server",
        "image": "model-rollouts/model-server:0.1.0",
        "args": [f"--version={version}", "--port=8080"],
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": resources,
        "startupProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "failureThreshold": 90},
    }
    if readiness:
        container["readinessProbe"] = {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 2}
    pod_spec: dict[str, Any] = {"containers": [container], "terminationGracePeriodSeconds": 60}
    if gpus:
        pod_spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
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


def service(name: str, version: str, app: str = "model") -> KubeManifest:
    """A Service in front of one version's pods (an HTTPRoute backendRef)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": app, "version": version}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def http_route(name: str, baseline: str, candidate: str) -> KubeManifest:
    """An HTTPRoute whose only rule sends everything to ``baseline`` and nothing to ``candidate``."""
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


ISTIO_ROUTE = "primary"
"""The name of the VirtualService's weighted http route."""


def virtual_service(name: str, host: str, baseline: str, candidate: str) -> KubeManifest:
    """An Istio VirtualService whose route ``primary`` sends everything to subset ``baseline``."""
    destinations = [
        {"destination": {"host": host, "subset": subset}, "weight": weight}
        for subset, weight in ((baseline, 100), (candidate, 0))
    ]
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name},
        "spec": {"hosts": [host], "http": [{"name": ISTIO_ROUTE, "route": destinations}]},
    }


def destination_rule(name: str, host: str, *versions: str) -> KubeManifest:
    """An Istio DestinationRule with one subset per version, each selecting that version's pods."""
    subsets = [{"name": version, "labels": {"version": version}} for version in versions]
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": {"name": name},
        "spec": {"host": host, "subsets": subsets},
    }


def inference_service(name: str, storage_uri: str) -> KubeManifest:
    """A serverless InferenceService as a person writes it (sklearn predictor, one model).

    ``minReplicas = maxReplicas``: Knative holds each revision at 2 pods, the size the rollouts
    pin their candidate to (docs/kserve.md).
    """
    predictor: dict[str, Any] = {
        "minReplicas": 2,
        "maxReplicas": 2,
        "model": {
            "modelFormat": {"name": "sklearn"},
            "storageUri": storage_uri,
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
        },
    }
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name, "annotations": {"serving.kserve.io/deploymentMode": "Knative"}},
        "spec": {"predictor": predictor},
    }


def raw_inference_service(name: str, version: str, autoscaler_class: str = "external") -> KubeManifest:
    """A raw-mode InferenceService serving the example model server, its pods labelled ``version``.

    A custom predictor container, so no ServingRuntime is needed; KServe makes the Deployment
    and Service ``<name>-predictor`` (docs/kserve.md). With ``autoscaler_class`` "external"
    KServe makes no HPA and ignores the Deployment's replicas when it reconciles (the rollout
    sizes it); with "hpa", KServe's default, it makes an HPA of that name too.
    """
    container = {
        "name": "kserve-container",
        "image": "model-rollouts/model-server:0.1.0",
        "args": [f"--version={version}", "--port=8080"],
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}, "periodSeconds": 2},
    }
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "annotations": {
                "serving.kserve.io/deploymentMode": "Standard",
                "serving.kserve.io/autoscalerClass": autoscaler_class,
            },
        },
        "spec": {"predictor": {"labels": {"app": "model", "version": version}, "containers": [container]}},
    }
