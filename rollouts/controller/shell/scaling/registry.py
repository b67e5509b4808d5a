"""The scaler of each workload kind a baseline or candidate may name."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rollouts.api.spec import WorkloadKind
from rollouts.controller.shell.scaling.base import ScaleContext, Scaler
from rollouts.controller.shell.scaling.deployment import DeploymentScaler
from rollouts.controller.shell.scaling.inference_service import (
    InferenceServiceScaler,
    controlling_inference_service,
    sizing_inference_service,
)
from rollouts.runtime.kube import INFERENCE_SERVICES

SCALERS: Mapping[WorkloadKind, Callable[[ScaleContext], Scaler]] = {
    WorkloadKind.DEPLOYMENT: DeploymentScaler,
    WorkloadKind.INFERENCE_SERVICE: InferenceServiceScaler,
}


def scaler_for(kind: WorkloadKind, context: ScaleContext) -> Scaler:
    """The scaler of ``kind`` in ``context``'s namespace."""
    return SCALERS[kind](context)


def scale_replaced(context: ScaleContext, deployment: str, replicas: int) -> None:
    """Size an earlier candidate, known by its Deployment (``status.replacedCandidates``).

    Through its InferenceService when KServe sizes that Deployment from minReplicas
    (``sizing_inference_service``), else the Deployment itself.
    """
    obj = context.deployments.get(deployment, context.namespace)
    owner = controlling_inference_service(obj)
    isvc = None if owner is None else context.read(INFERENCE_SERVICES, owner)
    through = sizing_inference_service(obj, isvc)
    if through is None:
        scaler_for(WorkloadKind.DEPLOYMENT, context).scale(deployment, replicas)
    else:
        scaler_for(WorkloadKind.INFERENCE_SERVICE, context).scale(through, replicas)


__all__ = ["SCALERS", "scale_replaced", "scaler_for"]
