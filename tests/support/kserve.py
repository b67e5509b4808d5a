"""InferenceServices for the KServe tests, and a stand-in for KServe's serverless mode.

Raw (Standard) mode runs KServe's own controller (rollouts.testbed.kserve); serverless mode
needs Knative, which the test bed does not run, so :func:`reconcile_serverless` stands in for
KServe's serverless reconciler and Knative: it writes InferenceService status.

What the kserve router depends on is the status KServe writes, so the stand-in writes that
status to the real API server, from the InferenceService's real spec, the way KServe v0.20.0
computes it (the functions it follows are named at each step):

1. ``ksvc_reconciler.go``: with ``canaryTrafficPercent: c`` and a rolled-out revision, the latest
   revision (``latestRevision: true``) gets ``c`` and the rolled-out one (tag ``prev``) ``100 − c``
   (no ``prev`` target at 100); without the field, the latest gets 100.
2. Knative's route: ``latestRevision: true`` resolves to the latest *ready* revision, so a
   candidate that is not ready yet takes no traffic and its share goes to the one before.
3. ``InferenceServiceStatus.PropagateStatus``: the traffic is copied into
   ``status.components.predictor.traffic``; a ready latest revision at 100% becomes
   ``latestRolledoutRevision`` and the one it replaces ``previousRolledoutRevision``;
   PredictorReady and Ready follow the latest revision's readiness.

What it does not stand in for: creating revisions (the test names them), pods, activator and
autoscaler, URLs and addresses, the rollback of ``latestRolledoutRevision`` when traffic goes
back from 100% (KServe's lines 592-603), transformers and explainers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rollouts.runtime.kube import INFERENCE_SERVICES, Kube, KubeObject, PatchType
from tests.support.controller import _WatchRecorder


@dataclass(frozen=True)
class Revisions:
    """The predictor's Knative revisions as Knative would report them."""

    created: str
    """The latest created revision (the newest predictor spec)."""
    ready: str
    """The latest ready revision (``created`` once its pods are ready)."""


def _traffic(percent: int | None, revisions: Revisions, rolled_out: str) -> list[dict[str, Any]]:
    """Steps 1 and 2 of the module docstring."""
    if percent is None or not rolled_out:
        return [{"revisionName": revisions.ready, "latestRevision": True, "percent": 100}]
    traffic = [{"revisionName": revisions.ready, "latestRevision": True, "percent": percent}]
    if percent < 100:
        traffic.append(
            {"revisionName": rolled_out, "latestRevision": False, "percent": 100 - percent, "tag": "prev"}
        )
    return traffic


def reconcile_serverless(kube: Kube, namespace: str, name: str, revisions: Revisions) -> dict[str, Any]:
    """Write the status KServe would write for ``name`` now (see the module docstring)."""
    isvc = kube.get(INFERENCE_SERVICES, name, namespace)
    predictor = (isvc.get("status") or {}).get("components", {}).get("predictor") or {}
    rolled_out = str(predictor.get("latestRolledoutRevision", ""))
    previous = predictor.get("previousRolledoutRevision")
    traffic = _traffic(isvc["spec"]["predictor"].get("canaryTrafficPercent"), revisions, rolled_out)
    latest = traffic[0]
    if latest["percent"] == 100 and rolled_out != revisions.ready:
        previous, rolled_out = rolled_out or None, revisions.ready
    ready = "True" if revisions.ready == revisions.created else "Unknown"
    conditions = [
        {"type": kind, "status": ready, "lastTransitionTime": "2026-12-01T00:00:00Z"}
        for kind in ("PredictorReady", "Ready")
    ]
    component: dict[str, Any] = {
        "latestCreatedRevision": revisions.created,
        "latestReadyRevision": revisions.ready,
        "latestRolledoutRevision": rolled_out,
        "traffic": traffic,
    }
    if previous:
        component["previousRolledoutRevision"] = previous
    status = {
        "observedGeneration": isvc["metadata"]["generation"],
        "conditions": conditions,
        "components": {"predictor": component},
        "deploymentMode": "Knative",
    }
    return kube.patch(
        INFERENCE_SERVICES, name, {"status": status}, PatchType.MERGE, namespace, subresource="status"
    )


class ServerlessStandIn(_WatchRecorder):
    """:func:`reconcile_serverless` at every spec change of one InferenceService, from a watch.

    What KServe's controller does on a watch event: a generation not yet observed is reconciled
    once, with the revisions Knative would report (``revisions``, which a test may replace).
    """

    def __init__(self, kube: Kube, name: str, namespace: str, revisions: Revisions) -> None:
        super().__init__(kube, INFERENCE_SERVICES, namespace, field_selector=f"metadata.name={name}")
        self.revisions = revisions
        self._name = name

    def _record(self, isvc: KubeObject) -> None:
        if isvc.get("deleted"):
            return
        if (isvc.get("status") or {}).get("observedGeneration") != isvc["metadata"]["generation"]:
            reconcile_serverless(self._kube, self._namespace, self._name, self.revisions)
