"""The autoscaler handover against the real HorizontalPodAutoscaler controller (docs/autoscalers.md).

The test bed's kube-controller-manager runs every controller, the HPA's included. It has no
metrics API, so an HPA cannot compute a size from load — but it still enforces its bounds
before it looks at any metric: a target below ``minReplicas`` is scaled up to it at the next
sync (every 15 s). That is what these tests use to prove the HPA is live and whom it sizes:

- a baseline of 2 under an HPA with ``minReplicas: 3`` becomes 3; raising the minimum to 5
  makes it 5, and the candidate, at 50%, follows the baseline's current size (3 pods);
- after promotion the HPA names the candidate, the baseline is at 0, and — with the controller
  stopped, so nothing else can — the candidate scaled below the minimum by hand is brought
  back by the HPA;
- a controller that dies between the status write and the move leaves the record; the next
  one moves the HPA, and only then scales the baseline down;
- after an abort the HPA still names the baseline.

No Prometheus is needed: the plan is setWeight and approve steps (the control loop is tested,
not the analysis), weights on a real HTTPRoute, pods played by kwok.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from rollouts.api.timestamps import format_timestamp
from rollouts.controller.shell.reconciler import Reconciler
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.local.manifests import http_route, model_deployment
from rollouts.runtime.kube import DEPLOYMENTS, HORIZONTAL_POD_AUTOSCALERS, HTTP_ROUTES, Kube, PatchType
from rollouts.testbed import LocalCluster
from tests.support.controller import phase, rollout_reader, running_controller, wait_for
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("crds")]

HPA_SYNC = 60.0
"""Seconds to wait for something the HPA does: its sync period is 15 s, with room for a busy bed."""

GATED = [{"setWeight": 50}, {"approve": {}}]
AUTOSCALER = {"kind": "HorizontalPodAutoscaler", "name": "model"}


def _autoscaler(target: str, min_replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "model"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min_replicas,
            "maxReplicas": 6,
        },
    }


def _setup(kube: Kube, namespace: str) -> None:
    """Baseline 2 pods, candidate 0, the route, and the HPA: it makes the baseline 3."""
    kube.create(DEPLOYMENTS, model_deployment("model-v1", "v1", replicas=2), namespace)
    kube.create(DEPLOYMENTS, model_deployment("model-v2", "v2", replicas=0), namespace)
    kube.create(HTTP_ROUTES, http_route("model", "model-v1", "model-v2"), namespace)
    kube.create(HORIZONTAL_POD_AUTOSCALERS, _autoscaler("model-v1", min_replicas=3), namespace)
    _wait_size(kube, namespace, "model-v1", 3, "the HPA to raise the baseline to its minReplicas")


def _deployment(kube: Kube, namespace: str, name: str) -> Any:
    return lambda: kube.get(DEPLOYMENTS, name, namespace)


def _wait_size(kube: Kube, namespace: str, name: str, size: int, what: str, ready: bool = False) -> None:
    def holds(deployment: dict[str, Any]) -> bool:
        ok = deployment["spec"].get("replicas") == size
        return ok and (not ready or (deployment.get("status", {}).get("readyReplicas") or 0) == size)

    wait_for(_deployment(kube, namespace, name), holds, HPA_SYNC, what)


def _target(kube: Kube, namespace: str) -> str:
    return str(kube.get(HORIZONTAL_POD_AUTOSCALERS, "model", namespace)["spec"]["scaleTargetRef"]["name"])


def _approve(kube: Kube, namespace: str, step: int) -> None:
    approval = {"step": step, "version": "v2", "requestedAt": format_timestamp(datetime.now(UTC))}
    kube.patch(MODEL_ROLLOUTS, "model", {"spec": {"approvals": [approval]}}, PatchType.MERGE, namespace)


def _at_gate(obj: dict[str, Any]) -> bool:
    return obj.get("status", {}).get("currentStep") == 1


def test_promotion_hands_the_autoscaler_to_the_candidate(
    testbed: LocalCluster, kube: Kube, namespace: str
) -> None:
    _setup(kube, namespace)
    read = rollout_reader(kube, "model", namespace)
    with running_controller(testbed.kubeconfig, namespace):
        kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED, autoscaler=AUTOSCALER), namespace)
        gate = wait_for(read, _at_gate, 60, "the approve gate")
        assert gate["status"]["weight"] == 50
        _wait_size(kube, namespace, "model-v2", 2, "the candidate at ceil(3 x 50%)")
        # The HPA, not the rollout, sizes the baseline; the candidate follows its current size.
        patch = {"spec": {"minReplicas": 5}}
        kube.patch(HORIZONTAL_POD_AUTOSCALERS, "model", patch, PatchType.MERGE, namespace)
        _wait_size(kube, namespace, "model-v1", 5, "the HPA to raise the baseline to 5")
        _wait_size(kube, namespace, "model-v2", 3, "the candidate to follow: ceil(5 x 50%)")
        assert kube.get(DEPLOYMENTS, "model-v1", namespace)["spec"]["replicas"] == 5
        _approve(kube, namespace, step=1)
        done = wait_for(
            read,
            lambda o: (
                phase(o) == "Succeeded" and (o["status"].get("autoscaler") or {}).get("target") == "model-v2"
            ),
            90,
            "promotion and the autoscaler's move recorded",
        )
        wait_for(
            lambda: {"target": _target(kube, namespace)},
            lambda seen: seen["target"] == "model-v2",
            30,
            "the HPA to name the candidate",
        )
        _wait_size(kube, namespace, "model-v1", 0, "the baseline scaled down after the move")
        _wait_size(kube, namespace, "model-v2", 5, "the candidate at the baseline's size", ready=True)
    reasons = [entry["reason"] for entry in done["status"]["history"]]
    assert reasons.index("Promoted") < reasons.index("AutoscalerMoved")
    # The controller is stopped: only the HPA can undo a size below its minimum now.
    scale = [{"op": "replace", "path": "/spec/replicas", "value": 2}]
    kube.patch(DEPLOYMENTS, "model-v2", scale, PatchType.JSON, namespace, subresource="scale")
    _wait_size(kube, namespace, "model-v2", 5, "the HPA to bring the candidate back to minReplicas")
    assert _target(kube, namespace) == "model-v2"


def test_a_move_lost_in_a_crash_is_made_by_the_next_controller(
    testbed: LocalCluster, kube: Kube, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _setup(kube, namespace)
    read = rollout_reader(kube, "model", namespace)

    def crash(*args: object) -> None:
        raise RuntimeError("the controller died after writing status, before moving the HPA")

    with monkeypatch.context() as dying:
        dying.setattr(Reconciler, "_move_autoscaler", crash)
        with running_controller(testbed.kubeconfig, namespace):
            kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED, autoscaler=AUTOSCALER), namespace)
            wait_for(read, _at_gate, 60, "the approve gate")
            _approve(kube, namespace, step=1)
            recorded = wait_for(
                read,
                lambda o: "still sizes model-v1" in o.get("status", {}).get("message", ""),
                90,
                "the move recorded, and the baseline's scale-down due but waiting for it",
            )
    assert recorded["status"]["autoscaler"]["target"] == "model-v2"
    assert _target(kube, namespace) == "model-v1"  # recorded, never made
    assert kube.get(DEPLOYMENTS, "model-v1", namespace)["spec"]["replicas"] == 3  # still the HPA's
    with running_controller(testbed.kubeconfig, namespace):
        wait_for(
            lambda: {"target": _target(kube, namespace)},
            lambda seen: seen["target"] == "model-v2",
            30,
            "the next controller to move the HPA",
        )
        _wait_size(kube, namespace, "model-v1", 0, "the baseline scaled down after the move")
    assert read()["status"]["autoscaler"] == recorded["status"]["autoscaler"]  # decided once


def test_an_abort_moves_nothing(testbed: LocalCluster, kube: Kube, namespace: str) -> None:
    _setup(kube, namespace)
    read = rollout_reader(kube, "model", namespace)
    with running_controller(testbed.kubeconfig, namespace):
        kube.create(MODEL_ROLLOUTS, model_rollout("model", steps=GATED, autoscaler=AUTOSCALER), namespace)
        wait_for(read, _at_gate, 60, "the approve gate")
        abort = {"spec": {"abort": {"reason": "p99 alarm", "version": "v2"}}}
        kube.patch(MODEL_ROLLOUTS, "model", abort, PatchType.MERGE, namespace)
        aborted = wait_for(read, lambda o: phase(o) == "Aborted", 30, "the abort")
        _wait_size(kube, namespace, "model-v2", 0, "the candidate scaled down after the delay")
    assert "autoscaler" not in aborted["status"]
    assert _target(kube, namespace) == "model-v1"
    assert kube.get(DEPLOYMENTS, "model-v1", namespace)["spec"]["replicas"] == 3
