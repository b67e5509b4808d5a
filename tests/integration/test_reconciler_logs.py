"""The reconciler keeps the log context it was given: a failed reconcile's line names its key."""

from __future__ import annotations

import pytest
import structlog

from rollouts.api.spec import ModelRolloutSpec
from rollouts.controller.shell.resources import MODEL_ROLLOUTS
from rollouts.routers.base import Router, RouterError, RouterTarget
from rollouts.runtime.kube import Kube, NotFound
from tests.support.controller import reconciler_alone
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
    reconciler = reconciler_alone(kube, routers=broken_router)
    key = f"{namespace}/fraud"
    with structlog.contextvars.bound_contextvars(key=key):
        with pytest.raises(RouterFactoryError):
            reconciler.reconcile(key)
        assert structlog.contextvars.get_contextvars().get("key") == key


def test_a_rollout_deleted_during_its_reconcile_ends_it_quietly(kube: Kube, namespace: str) -> None:
    """The status write meets 404: no error, no retry, no effect (the reconcile waited, the object went)."""
    kube.create(MODEL_ROLLOUTS, model_rollout("fraud", steps=[{"setWeight": 50}]), namespace)

    def deleted_meanwhile(target: RouterTarget, spec: ModelRolloutSpec) -> Router:
        kube.delete(MODEL_ROLLOUTS, "fraud", namespace)  # as a person would, mid-reconcile
        raise RouterError("no router")  # a status the reconciler would write: the router is unusable

    reconciler = reconciler_alone(kube, routers=deleted_meanwhile)
    result = reconciler.reconcile(f"{namespace}/fraud")
    assert result.requeue_after is None
    with pytest.raises(NotFound):
        kube.get(MODEL_ROLLOUTS, "fraud", namespace)
