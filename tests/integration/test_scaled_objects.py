"""The autoscaler handover to a KEDA ScaledObject, on the test bed with KEDA's real CRD.

What is exercised: KEDA's own ScaledObject CRD (rollouts.testbed.versions.KEDA, from the Go
module cache) on the real API server, its schema and defaulting included; the controller's
ScaledObject informer (started because the CRD is served and listable) and its trimmed cache;
preflight reading KEDA's HPA — made here by hand as KEDA makes it, ``keda-hpa-<name>`` owned
by the ScaledObject and on the same Deployment — as the ScaledObject's, not as a second
autoscaler; the move as a JSON patch with its ``test`` on the ScaledObject, never on the HPA;
the baseline's scale-down waiting for the move; an abort moving nothing.

What is not: the KEDA operator. Nothing here runs it, so nothing rewrites KEDA's HPA after the
move (the operator would point it at the candidate at its next reconcile of the ScaledObject),
no trigger scales anything, and KEDA's webhooks are not installed. The HPA made by hand is
sized by the real HPA controller of the test bed, with minReplicas at the baseline's size so it
changes nothing; after the move it still names the old baseline, which the controller scales to
0 (an HPA leaves a target at 0 alone).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client import ApiClient

from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import http_route, model_deployment
from rollouts.runtime.kube import (
    DEPLOYMENTS,
    HORIZONTAL_POD_AUTOSCALERS,
    HTTP_ROUTES,
    SCALED_OBJECTS,
    Kube,
    PatchType,
    Resource,
)
from rollouts.testbed import LocalCluster, versions
from rollouts.testbed.crds import keda_crd_text
from tests.e2e.test_autoscalers import GATED, _approve, _at_gate
from tests.support.cluster import crds_for_a_module
from tests.support.controller import condition, phase, rollout_reader, running_controller, wait_for
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.usefixtures("crds", "keda_crds")]

AUTOSCALER = {"kind": "ScaledObject", "name": "model"}
KEDA_HPA = "keda-hpa-model"


@pytest.fixture(scope="module")
def keda_crds(api_client: ApiClient) -> Iterator[list[str]]:
    """The CRDs, installed for this module's tests and removed after them."""
    yield from crds_for_a_module(api_client, f"the KEDA {versions.KEDA} CRDs", keda_crd_text, keda=True)


def _scaled_object(target: str) -> dict[str, Any]:
    """A ScaledObject as a person writes it: scaleTargetRef.kind left to KEDA's default."""
    trigger = {"type": "cron", "metadata": {"timezone": "UTC", "start": "0 8 * * *", "end": "0 20 * * *"}}
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "model"},
        "spec": {
            "scaleTargetRef": {"name": target},
            "minReplicaCount": 1,
            "maxReplicaCount": 6,
            "triggers": [trigger],
        },
    }


def _kedas_hpa(scaled_object: dict[str, Any], target: str) -> dict[str, Any]:
    """The HPA KEDA would make for ``scaled_object``: its name, owner reference and target."""
    owner = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "name": scaled_object["metadata"]["name"],
        "uid": scaled_object["metadata"]["uid"],
        "controller": True,
    }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": KEDA_HPA, "ownerReferences": [owner]},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 2,  # the baseline's size: the HPA controller leaves it alone
            "maxReplicas": 6,
        },
    }


def _setup(kube: Kube, namespace: str) -> None:
    """Baseline 2 pods, candidate 0, the route, the ScaledObject on the baseline and KEDA's HPA."""
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=2), namespace)
    kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)
    scaled_object = kube.create(SCALED_OBJECTS, _scaled_object("model-v1"), namespace)
    kube.create(HORIZONTAL_POD_AUTOSCALERS, _kedas_hpa(scaled_object, "model-v1"), namespace)


def _target(kube: Kube, namespace: str, resource: Resource = SCALED_OBJECTS, name: str = "model") -> str:
    return str(kube.get(resource, name, namespace)["spec"]["scaleTargetRef"]["name"])


def test_promotion_moves_the_scaled_object_not_kedas_hpa(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    _setup(kube, namespace)
    read = rollout_reader(kube, "model", namespace)
    with running_controller(testbed.kubeconfig, namespace):
        kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED, autoscaler=AUTOSCALER), namespace)
        gate = wait_for(read, _at_gate, 60, "the approve gate (preflight passed beside KEDA's HPA)")
        assert gate["status"]["weight"] == 50
        assert condition(gate, "Preflight")["reason"] == "PreflightPassed"  # KEDA's HPA: no conflict
        _approve(kube, namespace, step=1)
        done = wait_for(
            read,
            lambda o: (
                phase(o) == "Succeeded" and (o["status"].get("autoscaler") or {}).get("target") == "model-v2"
            ),
            90,
            "promotion and the ScaledObject's move recorded",
        )
        wait_for(
            lambda: {"target": _target(kube, namespace)},
            lambda seen: seen["target"] == "model-v2",
            30,
            "the ScaledObject to name the candidate",
        )
        wait_for(
            lambda: kube.get(DEPLOYMENTS, "model-v1", namespace),
            lambda deployment: deployment["spec"].get("replicas") == 0,
            60,
            "the baseline scaled down after the move",
        )
    assert done["status"]["autoscaler"]["kind"] == "ScaledObject"
    scaled_object = kube.get(SCALED_OBJECTS, "model", namespace)
    assert (
        scaled_object["spec"]["triggers"] == _scaled_object("model-v1")["spec"]["triggers"]
    )  # only the target moved
    assert _target(kube, namespace, HORIZONTAL_POD_AUTOSCALERS, KEDA_HPA) == "model-v1"  # KEDA's to rewrite


def test_an_abort_moves_nothing(testbed: LocalCluster, kube: Kube, namespace: str) -> None:
    _setup(kube, namespace)
    read = rollout_reader(kube, "model", namespace)
    with running_controller(testbed.kubeconfig, namespace):
        kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED, autoscaler=AUTOSCALER), namespace)
        wait_for(read, _at_gate, 60, "the approve gate")
        abort = {"spec": {"abort": {"reason": "p99 alarm", "version": "v2"}}}
        kube.patch(MODEL_ROLLOUTS, "model", abort, PatchType.MERGE, namespace)
        aborted = wait_for(read, lambda o: phase(o) == "Aborted", 30, "the abort")
    assert "autoscaler" not in aborted["status"]
    assert _target(kube, namespace) == "model-v1"
    assert _target(kube, namespace, HORIZONTAL_POD_AUTOSCALERS, KEDA_HPA) == "model-v1"
    assert kube.get(DEPLOYMENTS, "model-v1", namespace)["spec"]["replicas"] == 2
