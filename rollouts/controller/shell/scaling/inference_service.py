"""Sizing a raw-mode KServe InferenceService through ``spec.predictor.minReplicas``/``maxReplicas``.

KServe owns its predictor Deployment's size: with the autoscaler class ``none`` it writes
``replicas = minReplicas`` at every reconcile (deployment_reconciler.go, v0.20.0), so a write to
the Deployment would be undone. The controller writes both counts on the InferenceService
instead and KServe resizes the Deployment.

Decision — minReplicas = maxReplicas = the count: with class ``none`` maxReplicas is unused and
the pair says "this size, pinned"; with class ``hpa`` KServe's HPA would get min = max, but
KServe raises an HPA's minReplicas below 1 to 1 (hpa_reconciler.go), so the loser's scale-down
to 0 only happens with class ``none`` (docs/kserve.md). A count of 0 is written as 0: class
``none`` sizes the Deployment to 0.

Earlier candidates still being stopped (``status.replacedCandidates``) are recorded by their
Deployment's name. Decision — such a Deployment whose controller owner is an InferenceService
of class ``none`` is scaled through that InferenceService (:func:`sizing_inference_service`):
KServe would undo a write to the Deployment; with class ``external`` the Deployment is written,
as KServe leaves its size alone; the owner, not the rollout's spec, says which, as the spec now
names another candidate.

The write is a JSON patch whose ``test`` ops require both counts to still be what was read
(``patch_as_read``, as the routers write): an edit since the read fails the test and the patch is
built again from a live read.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from rollouts.controller.shell.scaling.base import ScaleContext
from rollouts.routers.base import JsonPatch, RouterError, RouterTarget, patch_as_read
from rollouts.runtime.kube import INFERENCE_SERVICES, KubeObject

log = structlog.get_logger(__name__)

PREDICTOR = "/spec/predictor"
COUNTS = ("minReplicas", "maxReplicas")
AUTOSCALER_CLASS = "serving.kserve.io/autoscalerClass"
SIZED_BY_MIN_REPLICAS = "none"
"""The autoscaler class with which KServe sets the predictor Deployment's replicas to minReplicas."""


def controlling_inference_service(deployment: KubeObject | None) -> str | None:
    """The InferenceService that controls ``deployment`` (KServe's predictor), from its owner references.

    >>> owner = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "name": "m2",
    ...          "controller": True}
    >>> controlling_inference_service({"metadata": {"ownerReferences": [owner]}})
    'm2'
    """
    for owner in (deployment or {}).get("metadata", {}).get("ownerReferences") or []:
        group = str(owner.get("apiVersion", "")).partition("/")[0]
        if owner.get("controller") and (group, owner.get("kind")) == (
            INFERENCE_SERVICES.group,
            INFERENCE_SERVICES.kind,
        ):
            return str(owner["name"])
    return None


def sizing_inference_service(deployment: KubeObject | None, isvc: KubeObject | None) -> str | None:
    """The InferenceService through which ``deployment`` is sized, None to size the Deployment.

    ``isvc`` is the Deployment's controlling InferenceService as read (None when it has none or
    it is gone): its name when KServe sizes the Deployment from ``minReplicas`` (class ``none``).
    """
    annotations = (isvc or {}).get("metadata", {}).get("annotations") or {}
    if annotations.get(AUTOSCALER_CLASS) != SIZED_BY_MIN_REPLICAS:
        return None
    return controlling_inference_service(deployment)


def replicas_patch(isvc: KubeObject, replicas: int) -> JsonPatch:
    """The JSON patch setting both counts to ``replicas``, guarded by the counts as read.

    Empty when they already are.
    """
    predictor = isvc.get("spec", {}).get("predictor", {})
    if all(predictor.get(count) == replicas for count in COUNTS):
        return []
    patch: JsonPatch = []
    for count in COUNTS:
        path = f"{PREDICTOR}/{count}"
        if count in predictor:
            patch.append({"op": "test", "path": path, "value": predictor[count]})
            patch.append({"op": "replace", "path": path, "value": replicas})
        else:  # absent (KServe's default applies): JSON patch cannot test an absence
            patch.append({"op": "add", "path": path, "value": replicas})
    return patch


@dataclass(frozen=True)
class InferenceServiceScaler:
    """Scaler of raw-mode InferenceServices (reads through the controller's cache, then live)."""

    context: ScaleContext

    def scale(self, name: str, replicas: int) -> None:
        """Patch the predictor's min/max replicas to ``replicas``."""
        c = self.context
        target = RouterTarget(kube=c.kube, namespace=c.namespace, baseline="", candidate="", read=c.read)
        try:
            patch_as_read(target, INFERENCE_SERVICES, name, lambda isvc: replicas_patch(isvc, replicas))
        except RouterError as missing:  # patch_as_read's "not found"
            log.warning("could not scale", inference_service=name, error=str(missing))
            return
        log.info("scaled", inference_service=name, replicas=replicas)


__all__ = [
    "InferenceServiceScaler",
    "controlling_inference_service",
    "replicas_patch",
    "sizing_inference_service",
]
