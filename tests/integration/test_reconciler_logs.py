"""The reconciler keeps the log context it was given: a failed reconcile's line names its key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import structlog

from rollouts.api.spec import ModelRolloutSpec
from rollouts.controller.shell.prometheus_source import PrometheusProviders
from rollouts.controller.shell.reconciler import DEPLOYMENT_INDEX, ROUTE_INDEX, Caches, Reconciler
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.routers.base import Router, RouterTarget
from rollouts.runtime.informer import Store
from rollouts.runtime.kube import Kube
from tests.support.workloads import model_rollout

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("crds")]


class RouterFactoryError(Exception):
    """An unexpected failure inside a reconcile (not one the reconciler turns into status)."""


def broken_router(target: RouterTarget, spec: ModelRolloutSpec) -> Router:
    raise RouterFactoryError("the router factory failed")


def test_a_failed_reconcile_leaves_the_key_bound_for_the_managers_log_line(
    kube: Kube, namespace: str
) -> None:
    kube.create(MODEL_ROLLOUTS, model_rollout("fraud", steps=[{"setWeight": 50}]), namespace)
    rollouts = Store()
    for index in (DEPLOYMENT_INDEX, ROUTE_INDEX):
        rollouts.add_index(index, lambda rollout: [])  # nothing else names these objects
    caches = Caches(rollouts=rollouts, deployments=Store(), pods=Store(), nodes=Store())
    reconciler = Reconciler(
        kube, caches, PrometheusProviders(kube), clock=lambda: datetime.now(UTC), routers=broken_router
    )
    key = f"{namespace}/fraud"
    with structlog.contextvars.bound_contextvars(key=key):
        with pytest.raises(RouterFactoryError):
            reconciler.reconcile(key)
        assert structlog.contextvars.get_contextvars().get("key") == key
